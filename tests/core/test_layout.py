"""Run value tables kept in search order: rewritten when their unordered tail grows, same rows."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.experiments import layout
from core.experiments.layout import LOCAL_SHARE, reorder_if_due
from core.experiments.search import search_runs
from core.experiments.tracking import Tracker
from core.store import Workspace


def log(ws: Workspace, actor: Actor, runs: int, first: int = 0) -> None:
    with Tracker(ws, actor) as tracker:
        for index in range(first, first + runs):
            with tracker.start_run("p") as run:
                run.log_params({"model": "xgb" if index % 3 == 0 else "lr", "depth": index % 5})
                run.log_params({f"hp_{k}": index * k for k in range(8)})
                run.log_metrics({"f1": index % 7 / 7, "accuracy": index % 11 / 11})


def rows(ws: Workspace, table: str) -> list[tuple[object, ...]]:
    with ws.store.read() as tx:
        return tx.rows(f"SELECT * FROM {table}")  # physical order


def test_a_closing_tracker_leaves_the_value_tables_in_key_order(
    ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "MIN_TAIL", 100)
    log(ws, actor, 60)  # 600 params, 120 metrics
    params = rows(ws, "run_params")
    assert [(r[1], r[0]) for r in params] == sorted((r[1], r[0]) for r in params)
    metrics = rows(ws, "run_metrics")
    assert [(r[1], r[2], r[0]) for r in metrics] == sorted((r[1], r[2], r[0]) for r in metrics)
    with ws.store.read() as tx:
        assert dict(tx.rows("SELECT table_name, ordered_rows FROM table_layout")) == {
            "run_params": 600,
            "run_metrics": 120,
        }
    found = search_runs(ws, "p", "params.model = 'xgb' and metrics.f1 > 0.5", ["run_id"])
    expected = [i for i in range(60) if i % 3 == 0 and i % 7 / 7 > 0.5]
    assert found.frame["run_id"].tolist() == [i + 1 for i in expected]
    assert found.frame["params.hp_3"].tolist() == [str(i * 3) for i in expected]


def test_a_small_tail_waits_and_a_rewrite_keeps_every_row(
    ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "MIN_TAIL", 100)
    log(ws, actor, 60)
    before = sorted(rows(ws, "run_params"))
    log(ws, actor, 2, first=60)  # 20 rows: under 5 % of 620 and under MIN_TAIL
    assert rows(ws, "run_params")[-20:] != sorted(rows(ws, "run_params"))[-20:]  # a tail
    assert reorder_if_due(ws, LOCAL_SHARE) == []
    assert reorder_if_due(ws, share=0.0) == []  # still under MIN_TAIL
    monkeypatch.setattr(layout, "MIN_TAIL", 10)
    assert reorder_if_due(ws, share=0.0) == ["run_params"]  # 4 metric rows: under 10
    after = rows(ws, "run_params")
    assert sorted(after) == sorted([*before, *[r for r in after if int(str(r[0])) > 60]])
    assert len(after) == 620 and [(r[1], r[0]) for r in after] == sorted(
        (r[1], r[0]) for r in after
    )


def test_a_rewrite_that_fails_leaves_the_table_as_it_was(
    ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "MIN_TAIL", 100_000)
    log(ws, actor, 30)
    before = rows(ws, "run_params")
    monkeypatch.setattr(layout, "ORDERS", {**layout.ORDERS, "run_params": "no_such_column"})
    monkeypatch.setattr(layout, "MIN_TAIL", 1)
    with pytest.raises(Exception, match="no_such_column"):
        reorder_if_due(ws, share=0.0)
    assert rows(ws, "run_params") == before
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM table_layout") == 0


def test_the_server_orders_the_tables_as_remote_batches_arrive(
    ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.api import Client
    from tests.core.test_tracking_remote import ApiSink

    monkeypatch.setattr(layout, "MIN_TAIL", 50)
    with Tracker(ApiSink(Client(ws.root, actor))) as tracker:  # its tidy() does nothing
        for index in range(12):
            with tracker.start_run("p") as run:
                run.log_params({f"hp_{k}": index * k for k in range(10)})
    params = rows(ws, "run_params")
    assert len(params) == 120
    assert [(r[1], r[0]) for r in params] == sorted((r[1], r[0]) for r in params)


def test_a_rewrite_keeps_a_column_added_later(
    ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "MIN_TAIL", 1)
    log(ws, actor, 3)
    with ws.store.transaction() as tx:
        tx.execute("ALTER TABLE run_params ADD COLUMN note VARCHAR")
        tx.execute("UPDATE run_params SET note = key || '@' || CAST(run_id AS VARCHAR)")
    log(ws, actor, 3, first=3)  # its close rewrites both tables (a tail of half of them)
    params = rows(ws, "run_params")
    assert [(r[1], r[0]) for r in params] == sorted((r[1], r[0]) for r in params)
    noted = [r for r in params if r[3] is not None]
    assert len(noted) == 30 and all(r[3] == f"{r[1]}@{r[0]}" for r in noted)
