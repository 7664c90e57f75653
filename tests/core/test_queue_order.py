"""A task's positions are its queue order (m0017, issue 18): the queue reads its head by a range
of positions, so a task in uncertainty order stores the least sure item at position 0, and an
older workspace's tasks are ranked anew in the order they had."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from core.actor import Actor
from core.data.service import ingest
from core.labeling.queue import next_item, save_annotation
from core.labeling.tasks import create_task
from core.projects.service import Project
from core.store import Workspace
from core.store.connection import DB_FILE
from core.store.migrations import latest_version, migrations

ANN = Actor("ann", "test")


def test_a_new_task_in_uncertainty_order_stores_its_queue_order(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ids = [f"T-{i:02d}" for i in range(12)]
    (tmp_path / "t.csv").write_text(
        "ticket_id,opened_at,channel,text\n"
        + "".join(f"{i},2026-03-01T10:00:00Z,mail,Refund {i}\n" for i in ids)
    )
    ingest(ws, "tickets", tmp_path / "t.csv", actor)
    sure = [0.9, 0.5, 0.5, 0.1, 0.7, 0.5, 0.3, 0.8, 0.2, 0.6, 0.4, 0.5]  # ties at 0.5
    probs = pd.DataFrame({"billing": sure, "bug": [1 - s for s in sure], "sales": 0.0}, index=ids)
    task = create_task(ws, "tickets", actor, name="u", ordering="uncertainty", probabilities=probs)
    with ws.store.read() as tx:
        rows = tx.rows(
            "SELECT position, item_id, score FROM task_items WHERE task_id = ? ORDER BY position",
            [task.task_id],
        )
    assert [r[0] for r in rows] == list(range(12))
    scores = [r[2] for r in rows]
    assert scores == sorted(scores, reverse=True)  # the least sure first
    assert {r[1] for r in rows[:4]} == {"T-01", "T-02", "T-05", "T-11"}  # the four ties at 0.5
    order = []
    for _ in range(5):
        item = next_item(ws, task.task_id, ANN)
        assert item is not None
        order.append(item.item_id)
        save_annotation(ws, task.task_id, item.item_id, ANN, "bug")
    assert order == [r[1] for r in rows[:5]]


def _version_16_workspace(root: Path) -> None:
    """A workspace as schema 16 wrote it, with an uncertainty task and a random one."""
    root.mkdir(parents=True)
    (root / "objects").mkdir()
    con = duckdb.connect(str(root / DB_FILE))
    for number, name, up in migrations()[:16]:
        up(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    for task_id, ordering in ((1, "uncertainty"), (2, "random")):
        con.execute(
            "INSERT INTO tasks VALUES (?, 'p', 't', 1, '{}', 1, ?, NULL, NULL, 900, '', 'open', "
            "NULL, ?, 'someone')",
            [task_id, ordering, datetime(2026, 1, 1)],
        )
    # (item, random rank, score): the queue ran c, a, d (ties at 0.8 by rank), b, then e (NULL)
    items = [("a", 3, 0.8), ("b", 0, 0.2), ("c", 4, 0.9), ("d", 1, 0.8), ("e", 2, None)]
    for task_id in (1, 2):
        con.executemany(
            "INSERT INTO task_items VALUES (?, ?, ?, 1, ?, NULL, NULL, NULL)",
            [(task_id, item, rank, score) for item, rank, score in items],
        )
    con.close()


def test_an_older_workspace_s_uncertainty_tasks_are_ranked_in_their_order(tmp_path: Path) -> None:
    root = tmp_path / "old"
    _version_16_workspace(root)
    ws = Workspace.open(root)
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM schema_migrations") == latest_version()
        queue = {
            task_id: tx.rows(
                "SELECT item_id, position FROM task_items WHERE task_id = ? ORDER BY position",
                [task_id],
            )
            for task_id in (1, 2)
        }
    assert queue[1] == [("c", 0), ("d", 1), ("a", 2), ("b", 3), ("e", 4)]
    assert queue[2] == [("b", 0), ("d", 1), ("e", 2), ("a", 3), ("c", 4)]  # as it was
