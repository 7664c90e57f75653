"""Comparing runs honestly: runs evaluated on different test sets are re-scored on one common
test set (the project's current one), and a difference within its paired-bootstrap uncertainty is
'no clear difference', not better or worse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.api import Actor, Client, InvalidInput
from core.cli import main
from core.ml.evaluate import classification_metrics
from core.registry.compare import delta_verdict, paired_differences
from core.stats import Interval
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")


@pytest.fixture(scope="module")
def two_test_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, int, int]:
    """Run A trained while 100 tickets were labeled, run B after 160: their test sets differ;
    A is in production."""
    folder = tmp_path_factory.mktemp("compare")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    (folder / "first").mkdir()
    label_tickets(client, folder / "first", count=100)
    first = client.runs.train(PROJECT, name="first")
    (folder / "second").mkdir()
    label_tickets(client, folder / "second", count=160)
    second = client.runs.train(PROJECT, name="second", seed=1)
    client.models.promote(
        PROJECT, client.models.register_run(first.run_id).artifact_id, reason="first model"
    )
    return client, first.run_id, second.run_id


def test_runs_on_different_test_sets_are_compared_on_the_common_set(
    two_test_sets: tuple[Client, int, int],
) -> None:
    client, first, second = two_test_sets
    recorded = [client.runs.get(r).metrics["n"] for r in (first, second)]
    assert recorded[0] < recorded[1], "the fixture should give the runs different test sets"
    comparison = client.runs.compare([first, second])
    assert comparison.common_items == recorded[1]
    assert comparison.test_set == (
        f"the project's current test set ({int(recorded[1]):,} items), re-scored with each model"
    )
    columns = [f"#{first} first", f"#{second} second", "production"]
    assert comparison.metrics.loc["n", columns].tolist() == [recorded[1]] * 3
    # the newer run was evaluated on this very set: its figures are its recorded ones
    newer = client.runs.get(second)
    assert comparison.metrics.loc["accuracy", f"#{second} second"] == pytest.approx(
        newer.metrics["accuracy"]
    )
    assert sum(map(sum, comparison.confusion[f"#{first} first"][1])) == recorded[1]
    assert set(comparison.deltas["run"]) == {f"#{second} second"}
    assert set(comparison.deltas["verdict"]) <= {"better", "worse", "no clear difference"}
    for slice_name, size in comparison.slice_sizes.items():
        assert comparison.too_small(slice_name) == (size < 10)
    assert set(comparison.slices.index) == set(comparison.slice_sizes)


def test_a_delta_within_its_uncertainty_is_no_clear_difference() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 200)
    a = np.where(rng.random(200) < 0.8, truth, 1 - truth)
    b = a.copy()
    b[np.flatnonzero(a == truth)[:2]] ^= 1  # two more mistakes: 1% of the items
    found = {m: (i, d) for m, i, d in paired_differences(truth, a, b, ["no", "yes"])}
    interval, delta = found["accuracy"]
    assert delta == pytest.approx(0.01)
    assert interval.lower is not None and interval.lower <= 0 <= (interval.upper or 0)
    assert delta_verdict("accuracy", interval) == "no clear difference"
    c = np.where(rng.random(200) < 0.5, truth, 1 - truth)  # a coin: clearly worse
    found = {m: (i, d) for m, i, d in paired_differences(truth, c, a, ["no", "yes"])}
    assert delta_verdict("accuracy", found["accuracy"][0]) == "worse"
    assert delta_verdict("log_loss", Interval(200, 0.01, 0.05, "bootstrap")) == "worse"
    assert delta_verdict("log_loss", Interval(200, -0.05, -0.01, "bootstrap")) == "better"
    reference = classification_metrics(
        ["no" if t == 0 else "yes" for t in truth], np.eye(2)[a], ["no", "yes"], "yes"
    )
    assert reference["accuracy"] - (a == truth).mean() == pytest.approx(0)


def test_comparing_eleven_runs_is_refused(two_test_sets: tuple[Client, int, int]) -> None:
    client, first, _ = two_test_sets
    with pytest.raises(InvalidInput) as raised:
        client.runs.compare([first] * 11)
    assert str(raised.value).startswith("Compare 1 to 10 runs, got 11.")


def test_loopline_compare_names_the_common_set_and_each_verdict(
    two_test_sets: tuple[Client, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    client, first, second = two_test_sets
    workspace = str(client.workspace.root)
    assert main(["--workspace", workspace, "compare", str(first), str(second), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["common_items"] == client.runs.get(second).metrics["n"]
    assert {d["metric"] for d in shown["differences"]} >= {"accuracy", "f1_macro"}
    assert set(shown["too_small"]) == {s for s, n in shown["slice_sizes"].items() if n < 10}
    assert main(["--workspace", workspace, "compare", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Measured on the project's current test set (")
    assert "items in the common test set" in text


def test_a_run_without_a_model_keeps_its_recorded_figures_and_nothing_is_judged(
    two_test_sets: tuple[Client, int, int],
) -> None:
    from core.experiments.tracking import Tracker

    client, first, _ = two_test_sets
    with Tracker(client.workspace, ADMIN) as tracker, tracker.start_run(PROJECT) as run:
        run.log_params({"test_items": 12})
        run.log_metric("accuracy", 0.5)
    comparison = client.runs.compare([first, run.run_id])
    assert comparison.common_items is None
    assert comparison.test_set.startswith("each run's own test set as recorded (")
    assert comparison.test_set.endswith(
        "items): not comparable item for item, so no difference is judged"
    )
    assert (
        comparison.deltas.empty
        and comparison.verdict(f"#{run.run_id} run-{run.run_id}", "accuracy") == ""
    )
    assert comparison.metrics.loc["accuracy", f"#{run.run_id} run-{run.run_id}"] == 0.5
