"""The tracking API and run search, including hostile filter strings."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.experiments.search import parse_filter, search_runs
from core.experiments.tracking import Tracker
from core.store import Workspace


@pytest.fixture
def runs(ws: Workspace, actor: Actor) -> Workspace:
    with Tracker(ws, actor) as tracker:
        for index in range(30):
            with tracker.start_run("p", tags={"team": "a" if index % 2 else "b"}) as run:
                run.log_params({"model": "xgb" if index % 3 == 0 else "lr", "depth": index % 5})
                run.log_metrics({"f1": index / 30, "accuracy": 1 - index / 60})
                run.log_metrics({"f1": index / 40}, slice="language = de")
                for step in range(5):
                    run.log_metric("loss", 1 / (step + 1), step=step)
        with pytest.raises(RuntimeError), tracker.start_run("p", name="crashing") as run:
            run.log_param("model", "xgb")
            run.log_metric("f1", 0.5)
            raise RuntimeError("out of memory")
    return ws


def test_runs_are_written_with_everything_logged(runs: Workspace) -> None:
    table = search_runs(runs, "p", order_by=["run_id ASC"])
    assert table.total == 31
    first = table.frame.iloc[0]
    assert (first["status"], first["params.model"], float(first["metrics.f1"])) == (
        "finished",
        "xgb",
        0.0,
    )
    crashed = table.frame[table.frame["name"] == "crashing"].iloc[0]
    assert crashed["status"] == "failed" and crashed["params.model"] == "xgb"
    with runs.store.read() as tx:
        assert (
            tx.scalar("SELECT error FROM runs WHERE name = 'crashing'")
            == "RuntimeError: out of memory"
        )
        assert tx.scalar("SELECT count(*) FROM metric_history") == 150
        assert tx.scalar("SELECT count(*) FROM run_metrics WHERE slice = 'language = de'") == 30
        assert tx.scalar("SELECT environment->>'python' FROM runs LIMIT 1")


def test_filtered_and_ordered_search(runs: Workspace) -> None:
    found = search_runs(runs, "p", "metrics.f1 > 0.5 and params.model = 'xgb'", ["metrics.f1 DESC"])
    assert list(found.frame["params.model"]) == ["xgb"] * found.total
    assert list(found.frame["metrics.f1"]) == sorted(found.frame["metrics.f1"], reverse=True)
    assert found.total == 4  # f1 = i / 30 > 0.5 and i % 3 == 0: runs 18, 21, 24, 27
    assert search_runs(runs, "p", "params.depth >= 3 and status = 'finished'").total == 12
    assert search_runs(runs, "p", "tags.team IN ('a') and name LIKE 'run-%'").total == 15
    assert search_runs(runs, "p", "metrics.`accuracy` <= 0.6").total == 6


@pytest.fixture
def awkward(ws: Workspace, actor: Actor) -> Workspace:
    """Runs whose order is easy to get wrong: ties, missing keys, NaN, NULL-like and non-ASCII
    texts, numbers as texts."""
    texts = ["b", "B", "é", "e", "Z", "ä", "10", "9", "🚀", "", "a b", "a"]
    with Tracker(ws, actor) as tracker:
        for index in range(36):
            with tracker.start_run("p", name=texts[index % len(texts)] + str(index % 4)) as run:
                if index % 5:
                    run.log_param("model", texts[(index * 7) % len(texts)])
                if index % 7:
                    run.log_metric("f1", round((index % 6) / 6, 3))
                run.log_metric("acc", float("nan") if index % 9 == 0 else index % 4 / 4)
    return ws


ORDERS = [
    [],
    ["metrics.f1 DESC"],
    ["metrics.f1"],
    ["params.model", "metrics.f1 DESC"],
    ["params.model DESC"],
    ["name", "run_id"],
    ["name DESC", "params.model ASC"],
    ["status", "duration DESC"],
    ["started_at DESC"],
    ["metrics.acc DESC", "name"],
    ["metrics.nobody", "params.nobody DESC"],
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: " ".join(o) or "default")
def test_hits_ordered_here_come_in_the_order_sql_gives(
    awkward: Workspace, order: list[str]
) -> None:
    """All hits within the limit are ordered from the fetched table; past it SQL orders them.
    Both must agree, NULLS LAST and ties by run_id DESC included."""
    here = search_runs(awkward, "p", "", order).frame
    by_sql = search_runs(awkward, "p", "", order, limit=len(here) - 1).frame
    assert len(here) == 36 and len(by_sql) == 35
    assert list(here["run_id"][:35]) == list(by_sql["run_id"])
    assert list(here.columns) == list(by_sql.columns)
    filtered = search_runs(awkward, "p", "metrics.f1 >= 0.5", order).frame
    assert list(filtered["run_id"]) == [i for i in here["run_id"] if i in set(filtered["run_id"])]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.f1 >", "The filter ends too early: expected a value"),
        ("metrics.f1 > 0.9 or params.model = 'x'", "Only AND joins conditions; found 'or'"),
        ("colour = 'red'", "Unknown run attribute 'colour'."),
        ("metrics.f1 > 0.9; DROP TABLE runs", "Cannot read the filter at position 16"),
        ("params.model = 'x' -- comment", "Cannot read the filter at position 19"),
        ("metrics.f1 = ? ", "Cannot read the filter at position 13"),
        (
            "metrics.f1_macro > 'abc'",
            "metrics.f1_macro is a number; 'abc' at position 19 is a text.",
        ),
    ],
)
def test_hostile_filters_are_refused(runs: Workspace, text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        search_runs(runs, "p", text)
    assert str(caught.value).startswith(message)


def test_a_metric_name_without_its_prefix_gets_a_hint(runs: Workspace) -> None:
    with pytest.raises(InvalidInput) as caught:
        search_runs(runs, "p", "f1_macro > 0.8")
    assert caught.value.hint == (
        "metrics, params and tags take a prefix: metrics.f1_macro, params.f1_macro, tags.f1_macro"
    )


def test_quotes_and_unicode_are_values_not_sql(runs: Workspace) -> None:
    for value in ["x' OR '1'='1", "Ünïcödé; DELETE FROM runs", 'a"b', "\\'"]:
        quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        assert parse_filter(f"params.model = {quoted}")[0].value == value
        assert search_runs(runs, "p", f"params.model = {quoted}").total == 0
    assert search_runs(runs, "p").total == 31


def test_unknown_inputs_are_refused(ws: Workspace, actor: Actor) -> None:
    with Tracker(ws, actor) as tracker, pytest.raises(NotFound, match=r"Run inputs \[999\]"):
        tracker.start_run("p", inputs={"dataset": 999})


def test_log_model_then_register() -> None:
    """A script's own training loop: log a Loopline model with the run, then register it."""
    import shutil
    import tempfile
    from pathlib import Path

    from core.data.service import ingest
    from core.labeling.freeze import freeze
    from core.labeling.interchange import import_annotations, read_annotation_table
    from core.ml.data import training_data
    from core.ml.model import train_model
    from core.projects.service import create_project
    from core.registry.service import load_model, register_run_model
    from tests.conftest import FIXTURES

    folder = Path(tempfile.mkdtemp())
    try:
        ws = Workspace.init(folder / "ws")
        who = Actor("mia", "test")
        project = create_project(ws, FIXTURES / "tickets.yaml", who)
        ingest(ws, "tickets", FIXTURES / "tickets.csv", who)
        table = read_annotation_table(
            b"item_id,annotator,label\nT-1,a,billing\nT-2,a,bug\nT-3,a,sales\nT-4,a,billing\n",
            "l.csv",
        )
        labels = freeze(
            ws, "tickets", who, [import_annotations(ws, "tickets", table, who).task_id]
        ).artifact
        data = training_data(ws, project.spec, labels)
        model = train_model(project.spec, data.frame, data.labels, data.spans, seed=1)
        with (
            Tracker(ws, who) as tracker,
            tracker.start_run(
                "tickets",
                inputs={"label_set": labels.artifact_id, "dataset": data.dataset.artifact_id},
            ) as run,
        ):
            run.log_model(model)
            run.log_metric("accuracy", 1.0)
        registered = register_run_model(ws, run.run_id, who)
        assert registered.ref == "model:tickets@1"
        assert load_model(ws, registered).predict(data.frame, project.spec) == model.predict(
            data.frame, project.spec
        )
    finally:
        shutil.rmtree(folder)


def test_filter_on_a_name_no_run_has_says_so(ws: Workspace, actor: Actor) -> None:
    with Tracker(ws, actor) as tracker, tracker.start_run("e") as run:
        run.log_metrics({"f1": 0.9})
    assert search_runs(ws, None, "metrics.f1 > 0.5").notices == ()
    assert search_runs(ws, None, "metrics.f1 > 0.95").notices == ()  # a real miss: no notice
    miss = search_runs(ws, None, "metrics.f11 > 0.5")
    assert miss.total == 0
    assert miss.notices == ("No run has metrics.f11, in the filter. Did you mean metrics.f1?",)
    nothing_close = search_runs(ws, None, "params.zzz = 'a'")
    assert nothing_close.notices == (
        "No run has params.zzz, in the filter. Check the name (the runs table lists every column).",
    )
    unordered = search_runs(ws, None, "", ["metrics.f1s DESC"])
    assert unordered.total == 1 and unordered.notices == (
        "No run has metrics.f1s, so it does not order the runs. Did you mean metrics.f1?",
    )


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(runs: Workspace, limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit must be at least 1"):
        search_runs(runs, "p", limit=limit)


def test_a_filter_ending_in_and_is_refused(runs: Workspace) -> None:
    with pytest.raises(InvalidInput, match="ends after AND at position 17"):
        search_runs(runs, "p", "metrics.f1 > 0.5 AND")


def test_a_busy_workspace_neither_blocks_logging_nor_ends_the_flusher(
    ws: Workspace, actor: Actor
) -> None:
    """Another process holds the workspace longer than the busy timeout: logging calls return at
    once (the flusher keeps a reserve of run ids), the background flusher survives its failed
    writes, and close() writes every run."""
    import subprocess
    import sys
    import time

    tracker = Tracker(ws, actor, flush_interval=0.05)
    for index in range(30):
        with tracker.start_run("p", name=f"before-{index}") as run:
            run.log_metric("f1", 0.5)
        tracker.flush()
    assert len(tracker._ids) >= 20  # topped up by the flushes
    ws.store.busy_timeout = 0.3
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.core.workers", "hold", str(ws.root), "2.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        slowest = 0.0
        for index in range(20):
            began = time.monotonic()
            with tracker.start_run("p", name=f"busy-{index}") as run:
                run.log_params({"index": index})
                for step in range(5):
                    run.log_metric("loss", 1 / (step + 1), step=step)
            slowest = max(slowest, time.monotonic() - began)
            time.sleep(0.05)
        assert slowest < 0.25, f"a logging call waited {slowest:.2f} s for the busy workspace"
        assert tracker._flusher is not None and tracker._flusher.is_alive()
        assert tracker.last_error is not None and "busy" in str(tracker.last_error)
    finally:
        holder.wait(timeout=30)
    ws.store.busy_timeout = 10
    tracker.close()
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM runs WHERE name LIKE 'busy-%'") == 20
        assert tx.scalar("SELECT count(*) FROM metric_history") == 100
        assert tx.scalar("SELECT count(*) FROM runs WHERE status = 'finished'") == 50
