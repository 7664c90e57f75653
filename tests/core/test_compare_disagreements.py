"""The items compared runs disagree on, as a data scientist reads them: each item's text, slices and
true label with every run's prediction and score, production's mistakes first, capped with the
total said; `loopline compare --disagreements N` and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.api import Actor, Client, InvalidInput
from core.cli import main
from core.ml.model import Model
from core.registry.compare import _Common, _disagreements
from tests.core.small_project import PROJECT, WORDS, label_tickets, tickets_csv

ADMIN = Actor("admin", "test")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, int, int]:
    """A sound model in production and a weak one (a single stump per class), both on the 160
    tickets: they disagree on many test items."""
    folder = tmp_path_factory.mktemp("disagree")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder, count=160)
    sound = client.runs.train(PROJECT, name="sound")
    weak = client.runs.train(
        PROJECT, name="weak", trainer="tfidf_xgb", params={"n_estimators": 1, "max_depth": 1}
    )
    client.models.promote(
        PROJECT, client.models.register_run(sound.run_id).artifact_id, reason="the sound one"
    )
    return client, sound.run_id, weak.run_id


def _tickets(folder: Path) -> pd.DataFrame:
    """The tickets as the fixture wrote them, with the team each was labeled with."""
    frame = pd.read_csv(tickets_csv(folder / "again.csv", 160), dtype={"ticket_id": str})
    frame["team"] = [list(WORDS)[i % 3] for i in range(len(frame))]
    return frame.set_index("ticket_id", drop=False)


def _model(client: Client, run_id: int) -> Model:
    files = client.runs.get(run_id).files
    return Model.from_files(
        {
            r: client.workspace.blobs.read_bytes(h)
            for r, h in files.items()
            if r != "evaluation.json"
        }
    )


def test_each_disagreement_shows_the_item_its_truth_and_every_run_s_prediction(
    runs: tuple[Client, int, int], tmp_path: Path
) -> None:
    client, sound, weak = runs
    comparison = client.runs.compare([weak, sound])
    rows = comparison.disagreement_rows
    a, b = f"#{weak} weak", f"#{sound} sound"
    assert comparison.prediction_columns() == [a, b]  # production is picked: no column twice
    assert list(rows.columns) == [
        "item", "text", "channel", "month", "true label", a, f"{a} score", b, f"{b} score"
    ]  # fmt: skip
    assert 0 < len(rows) == comparison.disagreement_total <= comparison.common_items
    assert comparison.disagreements == rows["item"].tolist()
    tickets = _tickets(tmp_path)
    spec = client.projects.get(PROJECT).spec
    items = tickets.loc[rows["item"]]
    # the truth and the text are the tickets' own; the slices are their channel and month
    assert rows["true label"].tolist() == items["team"].tolist()
    assert rows["text"].tolist() == items["text"].tolist()  # short: not cut
    assert rows["channel"].tolist() == items["channel"].tolist()
    assert rows["month"].tolist() == [f"2026-{t[5:7]}" for t in items["opened_at"]]
    # each run's prediction and score are its model's on that item
    for column, run_id in ((a, weak), (b, sound)):
        probabilities = _model(client, run_id).predict_proba(items.reset_index(drop=True), spec)
        classes = list(spec.labels.classes)
        assert rows[column].tolist() == [classes[i] for i in probabilities.argmax(axis=1)]
        assert rows[f"{column} score"].tolist() == pytest.approx(
            probabilities.max(axis=1), abs=0.0005
        )
    # every row: one run right, another wrong
    wrong = pd.DataFrame({c: comparison.wrong_in(c) for c in (a, b)})
    assert (wrong.any(axis=1) & ~wrong.all(axis=1)).all()
    # production's mistakes first, then the weak run's
    production_wrong = wrong[b].tolist()
    assert production_wrong == sorted(production_wrong, reverse=True)
    assert comparison.disagreement_order.startswith(
        f"first where production ({b}) is wrong and another run right ("
    )


def test_comparing_one_run_with_production_lists_their_disagreements(
    runs: tuple[Client, int, int],
) -> None:
    client, sound, weak = runs
    alone = client.runs.compare([weak])
    both = client.runs.compare([weak, sound])
    assert alone.prediction_columns() == [f"#{weak} weak", "production"]
    assert alone.disagreement_total == both.disagreement_total
    assert alone.disagreement_rows["item"].tolist() == both.disagreement_rows["item"].tolist()
    assert alone.disagreement_rows["production"].tolist() == (
        both.disagreement_rows[f"#{sound} sound"].tolist()
    )


def test_a_run_not_in_the_comparison_is_named_with_the_ones_that_are(
    runs: tuple[Client, int, int],
) -> None:
    client, sound, weak = runs
    comparison = client.runs.compare([weak, sound])
    with pytest.raises(InvalidInput) as raised:
        comparison.wrong_in("#999 nobody")
    assert str(raised.value) == (
        f"No run '#999 nobody' in the comparison. Expected one of: #{weak} weak, #{sound} sound."
    )


def test_many_disagreements_keep_200_half_from_either_side_the_widest_spread_first(
    runs: tuple[Client, int, int],
) -> None:
    """1,000 made-up items scored by two made-up models: production wrong on 600 of those they
    disagree on, the other run wrong on the rest."""
    client, sound, weak = runs
    spec = client.projects.get(PROJECT).spec
    rng = np.random.default_rng(5)
    count = 1000
    truth = rng.integers(0, 3, count)
    frame = pd.DataFrame(
        {
            "ticket_id": [f"X-{i:04d}" for i in range(count)],
            "opened_at": pd.Timestamp("2026-03-01", tz="UTC"),
            "channel": "mail",
            "text": "please help",
        }
    )

    def scored(right: np.ndarray) -> np.ndarray:
        """Probabilities whose top class is the truth where ``right``, the next class elsewhere;
        the truth's probability differs from item to item."""
        top = np.where(right, truth, (truth + 1) % 3)
        p = np.full((count, 3), 0.0)
        confidence = rng.uniform(0.55, 0.95, count)
        p[np.arange(count), top] = confidence
        p[np.arange(count), (top + 2) % 3] = 1 - confidence
        return p

    production_right = np.arange(count) >= 600
    other_right = ~production_right
    other_right[900:] = True  # both right on the last 100: no disagreement
    common = _Common(
        spec, frame, truth, {sound: scored(production_right), weak: scored(other_right)}
    )
    production, other = client.runs.get(sound), client.runs.get(weak)
    split = _disagreements([other], production, common)
    assert split.total == 900
    rows = split.rows
    assert len(rows) == 200
    wrong_first = rows["production"] != rows["true label"]
    assert wrong_first.tolist() == [True] * 100 + [False] * 100
    assert split.order == (
        "first where production is wrong and another run right (600), then where production "
        "is right and another run wrong (300); within each, the widest spread of the runs' "
        "probabilities of the true label first; 200 of 900 kept: up to 100 from each side, "
        "the rest from the side with more"
    )
    index = {item: i for i, item in enumerate(frame["ticket_id"])}
    picked = np.asarray([index[i] for i in rows["item"]])
    truth_p = np.vstack([common.probabilities[r][picked, truth[picked]] for r in (sound, weak)])
    spread = truth_p.max(axis=0) - truth_p.min(axis=0)
    for half in (spread[:100], spread[100:]):
        assert (np.diff(half) <= 1e-12).all()
    # and none kept has a smaller spread than one left out of its half
    left_out = np.setdiff1d(np.arange(600), picked)
    all_p = np.vstack([common.probabilities[r][np.arange(count), truth] for r in (sound, weak)])
    all_spread = all_p.max(axis=0) - all_p.min(axis=0)
    assert spread[:100].min() >= all_spread[left_out].max()


def test_loopline_compare_prints_the_first_disagreements(
    runs: tuple[Client, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    client, sound, weak = runs
    workspace = str(client.workspace.root)
    comparison = client.runs.compare([weak, sound])
    rows = comparison.disagreement_rows
    assert (
        main(["--workspace", workspace, "compare", str(weak), str(sound), "--disagreements", "3"])
        == 0
    )
    text = capsys.readouterr().out
    shown = text.split("\nThe first 3 of ", 1)[1].splitlines()
    assert shown[0].startswith(f"{comparison.disagreement_total} test items on which the runs")
    assert shown[0].endswith("; ✗ marks a wrong prediction:")
    header, lines = shown[1], shown[2:]
    assert header.split()[:5] == ["item", "channel", "month", "true", "label"]
    assert header.rstrip().endswith("text")
    assert len(lines) == 3
    for line, (_, row) in zip(lines, rows.head(3).iterrows(), strict=True):
        assert line.startswith(row["item"]) and line.endswith(row["text"])
        mark = "✗ " if row[f"#{sound} sound"] != row["true label"] else ""
        assert f"{mark}{row[f'#{sound} sound']} {row[f'#{sound} sound score']:.3f}" in line
    assert (
        main(["--workspace", workspace, "compare", str(weak), "--json", "--disagreements", "2"])
        == 0
    )
    found = json.loads(capsys.readouterr().out)["disagreements"]
    assert found["total"] == comparison.disagreement_total
    assert found["runs"] == [f"#{weak} weak", "production"]
    assert [r["item"] for r in found["rows"]] == rows["item"].head(2).tolist()
    assert set(found["rows"][0]) == {
        "item", "text", "channel", "month", "true label",
        f"#{weak} weak", f"#{weak} weak score", "production", "production score",
    }  # fmt: skip


def test_a_negative_count_of_disagreements_is_refused(
    runs: tuple[Client, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _, weak = runs
    workspace = str(client.workspace.root)
    assert main(["--workspace", workspace, "compare", str(weak), "--disagreements", "-1"]) == 2
    assert capsys.readouterr().err == (
        "error: --disagreements takes a number of rows, 0 or more; got -1.\n"
        "hint: e.g. --disagreements 20\n"
    )


def test_a_tabular_item_reads_as_its_weightiest_feature_values(demo_workspace: Path) -> None:
    """hw-triage on the demo: each unit as the five features the compared models weigh most
    (the slices' own columns beside it), with the unit's own values."""
    from core.experiments.service import project_test_set
    from core.ml.importance import feature_weights

    client = Client(demo_workspace, ADMIN)
    spec = client.projects.get("hw-triage").spec
    ids = client.runs.search("hw-triage", "", ["run_id DESC"], 10).frame["run_id"].tolist()
    comparison = client.runs.compare([int(ids[0]), int(ids[-1])])
    rows = comparison.disagreement_rows
    assert comparison.disagreement_total > 0 and len(rows) == min(
        200, comparison.disagreement_total
    )
    assert list(rows.columns[2:7]) == [
        "firmware_version",
        "unit_type",
        "region",
        "month",
        "true label",
    ]
    weights = [feature_weights(_model(client, int(r))) for r in {int(ids[0]), int(ids[-1])}]
    for found in weights:
        assert set(found) <= set(spec.features) and sum(found.values()) == pytest.approx(1)
    in_slices = {"firmware_version", "unit_type", "region"}
    mean = {f: sum(w.get(f, 0.0) for w in weights) for f in spec.features if f not in in_slices}
    top = sorted(mean, key=lambda f: (-mean[f], spec.features.index(f)))[:5]
    frame = project_test_set(client.workspace, spec).frame.set_index("unit_id")
    for item, text in zip(rows["item"].head(20), rows["text"].head(20), strict=True):
        parts = text.split(" · ")
        assert [p.split(" ", 1)[0] for p in parts] == top
        for part in parts:
            name, shown = part.split(" ", 1)
            value = frame.loc[item, name]
            if isinstance(value, str):
                assert shown == value
            elif shown == "—":
                assert pd.isna(value)
            else:
                assert float(shown.replace(",", "")) == pytest.approx(float(value), rel=0.01)


def test_a_one_hot_feature_s_weight_is_the_sum_of_its_columns(demo_workspace: Path) -> None:
    from core.ml.importance import feature_weights

    client = Client(demo_workspace, ADMIN)
    run = client.runs.search("hw-triage", "params.trainer = 'xgb'", ["run_id DESC"], 1).frame
    model = _model(client, int(run["run_id"].iloc[0]))
    names = list(model.preprocess.get_feature_names_out())
    raw = np.asarray(model.classifier.feature_importances_, dtype=float)
    for feature in ("unit_type", "last_error_code", "reboot_count"):
        own = [
            i
            for i, n in enumerate(names)
            if n == f"numeric__{feature}" or n.startswith(f"categorical__{feature}_")
        ]
        assert own, feature
        assert feature_weights(model)[feature] == pytest.approx(raw[own].sum() / raw.sum())
