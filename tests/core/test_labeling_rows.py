"""Labeling's per-process copies (issue 18): a dataset version's rows read from memory give the
same values and types as its Parquet file; a task read once still shows a status or project
change at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from core.data.service import dataset_rows_path, ingest
from core.errors import InvalidInput
from core.labeling import rows
from core.labeling.queue import next_item, save_annotation
from core.labeling.tasks import create_task, item_fields, open_task, set_task_status
from core.projects.service import Project, create_project
from core.store import Workspace
from tests.conftest import FIXTURES

ANN = Actor("ann", "test")


def _csv(path: Path, count: int) -> Path:
    lines = "".join(
        f"T-{i:02d},2026-03-{i % 28 + 1:02d}T10:00:00Z,{'mail' if i % 3 else 'chat'},Refund {i} EUR\n"
        for i in range(count)
    )
    path.write_text("ticket_id,opened_at,channel,text\n" + lines)
    return path


@pytest.fixture(autouse=True)
def no_copies() -> None:
    rows.forget()


def test_rows_from_memory_equal_the_file_s_value_for_value_and_type(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = ingest(ws, "tickets", _csv(tmp_path / "t.csv", 30), actor).dataset
    ids = ["T-00", "T-01", "T-17", "T-29"]
    monkeypatch.setattr(rows, "MAX_ROWS", 0)  # never copied: every read from the file
    from_file = [item_fields(ws, dataset, [i], "ticket_id") for i in ids]
    assert rows._COPIES == {}
    monkeypatch.undo()
    rows.forget()
    assert item_fields(ws, dataset, ["T-05"], "ticket_id")  # a first read: from the file
    assert rows._COPIES == {}
    from_memory = [item_fields(ws, dataset, [i], "ticket_id") for i in ids]  # then the copy
    assert list(rows._COPIES) == [(str(dataset_rows_path(ws, dataset)), "ticket_id")]
    assert from_memory == from_file
    for a, b in zip(from_file, from_memory, strict=True):
        (fa,), (fb,) = a.values(), b.values()
        assert [type(v) for v in fa.values()] == [type(v) for v in fb.values()]
        assert list(fa) == list(fb)  # the same columns in the same order
    assert from_file[0]["T-00"]["channel"] == "chat"
    with ws.store.read() as tx:  # nothing of the copy in DuckDB's catalog
        assert not [r for r in tx.rows("SELECT table_name FROM duckdb_tables()") if "rows" in r[0]]
    many = item_fields(ws, dataset, ids, "ticket_id")
    assert many == {k: v for d in from_file for k, v in d.items()}
    assert item_fields(ws, dataset, ["T-99"], "ticket_id") == {}


def test_a_version_above_the_limit_is_not_copied(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "MAX_ROWS", 4)
    dataset = ingest(ws, "tickets", _csv(tmp_path / "t.csv", 5), actor).dataset
    for _ in range(3):
        assert set(item_fields(ws, dataset, ["T-01", "T-02"], "ticket_id")) == {"T-01", "T-02"}
    assert rows._COPIES == {}


def test_a_task_read_once_shows_its_status_and_project_changes_at_once(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ingest(ws, "tickets", _csv(tmp_path / "t.csv", 4), actor)
    task = create_task(ws, "tickets", actor, name="t")
    item = next_item(Workspace.open(ws.root), task.task_id, ANN)
    assert item is not None
    set_task_status(ws, task.task_id, "closed", actor)
    with pytest.raises(InvalidInput) as closed:
        next_item(Workspace.open(ws.root), task.task_id, ANN)
    assert str(closed.value) == f"Task #{task.task_id} is closed; it takes no more labels."
    set_task_status(ws, task.task_id, "open", actor)
    spec = (FIXTURES / "tickets.yaml").read_text()
    changed = spec.replace("[billing, bug, sales]", "[billing, bug, refund, sales]")
    assert changed != spec
    (tmp_path / "t.yaml").write_text(changed)
    create_project(ws, tmp_path / "t.yaml", actor, update=True)
    opened = open_task(Workspace.open(ws.root), task.task_id, item.item_id)
    assert opened.task.status == "open" and opened.has_item
    assert "refund" in opened.project.spec.labels.classes
    saved = save_annotation(Workspace.open(ws.root), task.task_id, item.item_id, ANN, "refund")
    assert saved.label == "refund"
