"""The labeling cold path (issue 18) and the review queue in SQL (issue 15), on real workspaces:
the queue's top-N reaches past a front of answered items, save and next read what they need
once, the review queue agrees with ``review_reason`` item by item."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.actor import Actor
from core.data.service import ingest
from core.errors import InvalidInput, NotFound
from core.labeling.models import Annotation, TaskFilter
from core.labeling.queue import current_annotations, next_item, save_annotation, undo_last
from core.labeling.review import decide, review_queue, review_reason
from core.labeling.tasks import create_task, open_task
from core.projects.service import Project, create_project
from core.spans.detect import Span
from core.store import Workspace
from core.store.connection import Tx
from tests.conftest import FIXTURES

ANN = Actor("ann", "test")
BEN = Actor("ben", "test")
CAT = Actor("cat", "test")
SPANS = "labels:\n  classes: [billing, bug, sales]\n  spans: {field: text, types: [AMOUNT, DATE]}"


def _tickets_csv(path: Path, count: int) -> Path:
    rows = "".join(
        f"T-{i:02d},2026-03-{i % 28 + 1:02d}T10:00:00Z,mail,Refund 20 EUR by 12.03.2026 #{i}\n"
        for i in range(count)
    )
    path.write_text("ticket_id,opened_at,channel,text\n" + rows)
    return path


@pytest.fixture
def spans_project(ws: Workspace, actor: Actor, tmp_path: Path) -> Workspace:
    spec = (
        (FIXTURES / "tickets.yaml")
        .read_text()
        .replace("labels:\n  classes: [billing, bug, sales]", SPANS)
    )
    (tmp_path / "t.yaml").write_text(spec)
    create_project(ws, tmp_path / "t.yaml", actor)
    ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", 12), actor)
    return ws


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement run through the store's Tx while the test runs (the real store
    runs them; this only writes them down)."""
    seen: list[str] = []
    execute = Tx.execute

    def counting(self: Tx, sql: str, params: Any = None) -> Tx:
        seen.append(" ".join(sql.split()))
        return execute(self, sql, params)

    monkeypatch.setattr(Tx, "execute", counting)
    yield seen


def test_the_queue_reaches_past_a_front_of_answered_and_held_items(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", 20), actor)
    ids = [f"T-{i:02d}" for i in range(20)]
    sure = [0.05 * i for i in range(20)]  # T-00 least sure: the queue runs T-00, T-01, ...
    probs = pd.DataFrame(
        {"billing": [0.34 + s for s in sure], "bug": 0.33, "sales": 0.33}, index=ids
    )
    probs = probs.div(probs.sum(axis=1), axis=0)
    task = create_task(ws, "tickets", actor, name="u", ordering="uncertainty", probabilities=probs)
    for expected in ids[:6]:  # each answered item leaves the front; the next is the one after
        item = next_item(ws, task.task_id, ANN)
        assert item is not None and (item.item_id, item.resumed) == (expected, False)
        save_annotation(ws, task.task_id, item.item_id, ANN, "bug")
    held = next_item(ws, task.task_id, BEN)  # T-06, leased to ben
    assert held is not None and held.item_id == "T-06"
    item = next_item(ws, task.task_id, CAT)
    assert item is not None and item.item_id == "T-07"
    again = next_item(ws, task.task_id, BEN)  # ben's live lease comes back first
    assert again is not None and (again.item_id, again.resumed) == ("T-06", True)
    undone = undo_last(ws, task.task_id, ANN)  # ann takes back T-05: it is hers again
    assert undone is not None and (undone.item_id, undone.resumed) == ("T-05", True)
    resumed = next_item(ws, task.task_id, ANN)
    assert resumed is not None and (resumed.item_id, resumed.resumed) == ("T-05", True)
    assert resumed.suggestion.label == "billing" and resumed.labels_so_far == 0


def test_the_last_items_and_then_none(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", 3), actor)
    task = create_task(ws, "tickets", actor, name="t", overlap=2)
    seen: Counter[str] = Counter()
    for who in (ANN, BEN, ANN, BEN, ANN, BEN):
        item = next_item(ws, task.task_id, who)
        assert item is not None
        seen[item.item_id] += 1
        save_annotation(ws, task.task_id, item.item_id, who, "bug")
    assert sorted(seen.values()) == [2, 2, 2]
    assert next_item(ws, task.task_id, ANN) is None and next_item(ws, task.task_id, CAT) is None


def test_save_refuses_an_item_outside_the_task_and_a_missing_task(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", 3), actor)
    task = create_task(ws, "tickets", actor, name="t", task_filter=TaskFilter(item_ids=("T-00",)))
    with pytest.raises(NotFound) as missing:
        save_annotation(ws, task.task_id, "T-01", ANN, "bug")
    assert str(missing.value).startswith(f"Item 'T-01' is not part of task #{task.task_id}.")
    with pytest.raises(NotFound) as gone:
        save_annotation(ws, 999, "T-00", ANN, "bug")
    assert str(gone.value).startswith("No labeling task #999.")
    assert current_annotations(ws, [task.task_id]) == []


def test_a_cold_call_reads_the_spec_and_dataset_once_per_process(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path, statements: list[str]
) -> None:
    ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", 10), actor)
    task = create_task(ws, "tickets", actor, name="t")
    first = next_item(Workspace.open(ws.root), task.task_id, ANN)
    assert first is not None
    statements.clear()
    cold = Workspace.open(ws.root)  # as a CLI command or a fresh page render
    item = next_item(cold, task.task_id, BEN)
    assert item is not None
    save_annotation(Workspace.open(ws.root), task.task_id, item.item_id, BEN, "sales")
    artifact_reads = [s for s in statements if "artifacts" in s]
    assert artifact_reads == []  # spec and dataset records come from this process's first read
    # one small query per call: what can change (status, project title and spec)
    assert len([s for s in statements if s.startswith("SELECT t.status, t.created_at")]) == 2
    assert not [s for s in statements if s.startswith("SELECT t.task_id")]
    assert len(statements) <= 20, statements


def test_a_task_s_items_are_counted_once_per_process_and_per_workspace(
    tickets: Project, actor: Actor, tmp_path: Path, statements: list[str]
) -> None:
    """The queue's calls read the task's item count once; a workspace made again at the same
    path, whose task has the same id and other items, gets its own count."""
    root = tmp_path / "again"
    counts = []
    for size in (4, 7):
        shutil.rmtree(root, ignore_errors=True)
        ws = Workspace.init(root)
        create_project(ws, FIXTURES / "tickets.yaml", actor)
        ingest(ws, "tickets", _tickets_csv(tmp_path / "t.csv", size), actor)
        task = create_task(ws, "tickets", actor, name="t")
        assert open_task(Workspace.open(root), task.task_id).task.items == size
        statements.clear()
        item = next_item(Workspace.open(root), task.task_id, ANN)
        assert item is not None
        save_annotation(Workspace.open(root), task.task_id, item.item_id, ANN, "bug")
        counts.append(sum("count(*) FROM task_items" in s for s in statements))
        assert open_task(Workspace.open(root), task.task_id).task.items == size
        assert open_task(Workspace.open(root), task.task_id, "T-99").has_item is False
        assert open_task(Workspace.open(root), task.task_id, item.item_id).has_item is True
    assert task.task_id == 1 and counts == [0, 0]


def test_a_new_project_version_is_read_at_once(
    spans_project: Workspace, actor: Actor, tmp_path: Path
) -> None:
    ws = spans_project
    task = create_task(ws, "tickets", actor, name="t")
    item = next_item(ws, task.task_id, ANN)
    assert item is not None
    with pytest.raises(InvalidInput) as refused:
        save_annotation(ws, task.task_id, item.item_id, ANN, "refund")
    assert str(refused.value).startswith(
        "Unknown class 'refund'. Expected one of: billing, bug, sales."
    )
    spec = (
        (tmp_path / "t.yaml")
        .read_text()
        .replace("[billing, bug, sales]", "[billing, bug, refund, sales]")
    )
    (tmp_path / "t.yaml").write_text(spec)
    create_project(ws, tmp_path / "t.yaml", actor, update=True)
    saved = save_annotation(ws, task.task_id, item.item_id, ANN, "refund")
    assert saved.label == "refund"
    assert open_task(ws, task.task_id).project.spec.labels.classes == (
        "billing",
        "bug",
        "refund",
        "sales",
    )


def _answer(ws: Workspace, task_id: int, who: Actor, item_id: str, label: str, **kw: Any) -> None:
    save_annotation(ws, task_id, item_id, who, label, **kw)


def test_the_review_queue_agrees_with_review_reason_item_by_item(
    spans_project: Workspace, actor: Actor
) -> None:
    ws = spans_project
    task = create_task(ws, "tickets", actor, name="t", overlap=2)
    t = task.task_id
    amount, date = Span(7, 9, "AMOUNT", "20"), Span(17, 27, "DATE", "12.03.2026")
    plan: dict[str, list[tuple[Actor, str, dict[str, Any]]]] = {
        "T-00": [(ANN, "bug", {}), (BEN, "bug", {})],  # agreed: not in the queue
        "T-01": [(ANN, "bug", {}), (BEN, "sales", {})],  # disagreement
        "T-02": [(ANN, "bug", {"spans": [amount]}), (BEN, "bug", {"spans": [date]})],  # spans
        "T-03": [(ANN, "bug", {"spans": [amount, date]}), (BEN, "bug", {"spans": [date, amount]})],
        "T-04": [(ANN, "bug", {"unsure": True})],  # unsure, one answer so far
        "T-05": [(ANN, "billing", {}), (BEN, "sales", {"unsure": True})],  # disagreement first
        "T-06": [(ANN, "bug", {}), (BEN, "sales", {})],  # disagreement, then decided
        "T-07": [(ANN, "bug", {}), (BEN, "sales", {}), (BEN, "bug", {})],  # ben changed his mind
        "T-08": [(ANN, "bug", {"spans": [amount]}), (BEN, "bug", {"spans": [amount]})],
        "T-09": [(ANN, "sales", {}), (BEN, "bug", {})],  # disagreement
    }
    for item_id, answers in plan.items():
        for who, label, kw in answers:
            _answer(ws, t, who, item_id, label, **kw)
    decide(ws, t, "T-06", Actor("rita", "test"), "sales")
    undo_last(ws, t, CAT)  # nothing of cat's: changes nothing
    cases, waiting = review_queue(ws, t)
    given: dict[str, list[Annotation]] = defaultdict(list)
    for answer in current_annotations(ws, [t]):
        given[answer.item_id].append(answer)
    expected = sorted(
        (["disagreement", "span disagreement", "unsure"].index(reason), item_id, reason)
        for item_id, answers in given.items()
        if (reason := review_reason(answers)) is not None and item_id != "T-06"
    )
    assert [(c.item_id, c.reason) for c in cases] == [(i, r) for _, i, r in expected]
    assert [(c.item_id, c.reason) for c in cases] == [
        ("T-01", "disagreement"),
        ("T-05", "disagreement"),
        ("T-09", "disagreement"),
        ("T-02", "span disagreement"),
        ("T-04", "unsure"),
    ]
    assert waiting == 5
    spans_case = cases[3]
    assert [a.annotator for a in spans_case.annotations] == ["ann", "ben"]
    assert [(v.span.type, v.annotators) for v in spans_case.span_votes] == [
        ("AMOUNT", ("ann",)),
        ("DATE", ("ben",)),
    ]
    assert spans_case.fields["text"] == "Refund 20 EUR by 12.03.2026 #2"
    first_two, total = review_queue(ws, t, limit=2)
    assert [c.item_id for c in first_two] == ["T-01", "T-05"] and total == 5
    assert review_queue(ws, t, limit=0) == ([], 5)


def test_an_empty_review_queue(spans_project: Workspace, actor: Actor) -> None:
    task = create_task(spans_project, "tickets", actor, name="t")
    assert review_queue(spans_project, task.task_id) == ([], 0)
    with pytest.raises(NotFound) as missing:
        review_queue(spans_project, 404)
    assert str(missing.value).startswith("No labeling task #404.")
