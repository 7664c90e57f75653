"""The labeling queue: lease the next item, save an answer, skip, undo; all append-only.

An item is offered to an annotator while fewer annotators than it needs have labeled it or hold a
live lease on it. A lease expires after the task's lease time, so an abandoned item returns to the
queue. Taking an item and leasing it happen in one transaction, one writer at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.accounts.access import authorize, own_answers_only
from core.actor import Actor
from core.artifacts.service import get_artifact
from core.errors import InvalidInput, NotFound, expected_one_of
from core.labeling.models import Annotation, QueueItem, Suggestion, Task
from core.labeling.tasks import get_task, item_fields
from core.projects.service import Project, get_project
from core.spans.detect import Span, detect, from_dicts
from core.store import Tx, Workspace, one_unit_of_work, utcnow
from core.store.audit import record

ANNOTATION_COLUMNS = "annotation_id, task_id, item_id, annotator, status, label, spans, unsure, note, seconds, source, created_at"

# The current answer of each annotator on each item: their latest row.
CURRENT = """
    SELECT item_id, annotator, arg_max(status, annotation_id) AS status,
           arg_max(label, annotation_id) AS label, arg_max(unsure, annotation_id) AS unsure
    FROM annotations WHERE task_id = ? GROUP BY item_id, annotator
"""


def _annotation(row: Sequence[Any]) -> Annotation:
    return Annotation(*[*row[:6], tuple(from_dicts(json.loads(row[6]))), *row[7:]])


@one_unit_of_work
def next_item(
    ws: Workspace, task_id: int, annotator: Actor, *, now: datetime | None = None
) -> QueueItem | None:
    """The item this annotator should label next (leased to them), or None when they are done."""
    task = get_task(ws, task_id)
    authorize(ws, annotator, "label", task.project, task=task_id)
    if task.status != "open":
        raise InvalidInput(f"Task #{task_id} is {task.status}; it takes no more labels.")
    project = get_project(ws, task.project)
    moment = now or utcnow()
    with ws.store.transaction() as tx:
        row = tx.one(
            """
            SELECT item_id, 1 AS resumed, 0 AS done FROM leases
            WHERE task_id = ? AND annotator = ? AND expires_at > ?
              AND item_id NOT IN (SELECT item_id FROM ("""
            + CURRENT
            + """) WHERE annotator = ? AND status <> 'retracted')
            ORDER BY leased_at DESC LIMIT 1
            """,
            [task_id, annotator.name, moment, task_id, annotator.name],
        )
        if row is None:
            order = (
                "ti.score DESC NULLS LAST, ti.position"
                if task.ordering == "uncertainty"
                else "ti.position"
            )
            row = tx.one(
                f"""
                WITH cur AS ({CURRENT}),
                done AS (
                    SELECT item_id, count(*) FILTER (WHERE status = 'labeled') AS labeled,
                           bool_or(annotator = ? AND status <> 'retracted') AS mine
                    FROM cur GROUP BY item_id
                ),
                held AS (
                    SELECT item_id, count(*) AS leased FROM leases
                    WHERE task_id = ? AND expires_at > ? AND annotator <> ? GROUP BY item_id
                )
                SELECT ti.item_id, 0 AS resumed, coalesce(d.labeled, 0) AS done
                FROM task_items ti
                LEFT JOIN done d USING (item_id) LEFT JOIN held h USING (item_id)
                WHERE ti.task_id = ? AND NOT coalesce(d.mine, false)
                  AND coalesce(d.labeled, 0) + coalesce(h.leased, 0) < ti.required
                ORDER BY {order} LIMIT 1
                """,
                [task_id, annotator.name, task_id, moment, annotator.name, task_id],
            )
        if row is None:
            return None
        item_id = str(row[0])
        tx.execute(
            "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
            [
                task_id,
                item_id,
                annotator.name,
                moment,
                moment + timedelta(seconds=task.lease_seconds),
            ],
        )
    return load_item(ws, task, project, item_id, resumed=bool(row[1]))


def load_item(
    ws: Workspace, task: Task, project: Project, item_id: str, *, resumed: bool = False
) -> QueueItem:
    dataset = get_artifact(ws, task.dataset_id)
    fields = item_fields(ws, dataset, [item_id], project.spec.id_column).get(item_id)
    if fields is None:
        raise NotFound(f"Item {item_id!r} is not in {dataset.ref}.")
    with ws.store.read() as tx:
        meta = tx.one(
            "SELECT required, suggestion, suggestion_probability, "
            "(SELECT count(*) FROM ("
            + CURRENT
            + ") c WHERE c.item_id = ti.item_id AND c.status = 'labeled') "
            "FROM task_items ti WHERE task_id = ? AND item_id = ?",
            [task.task_id, task.task_id, item_id],
        )
    if meta is None:
        raise NotFound(f"Item {item_id!r} is not part of task #{task.task_id}.")
    return QueueItem(
        task.task_id,
        item_id,
        fields,
        suggest(project, fields, meta[1], meta[2]),
        meta[0],
        meta[3],
        resumed,
    )


def suggest(
    project: Project, fields: Mapping[str, Any], label: str | None, probability: float | None
) -> Suggestion:
    """The model's class (when the task has predictions) and the detectors' span candidates."""
    spans: tuple[Span, ...] = ()
    span_spec = project.spec.labels.spans
    if span_spec is not None and span_spec.detect:
        text = fields.get(span_spec.field)
        if isinstance(text, str):
            spans = tuple(detect(text, span_spec.detect))
    return Suggestion(label, probability, spans)


def check_answer(
    project: Project, fields: Mapping[str, Any], label: str, spans: Sequence[Span]
) -> tuple[Span, ...]:
    """The label must be a class; each span must lie in the span field with the text it claims."""
    spec = project.spec
    if label not in spec.labels.classes:
        raise InvalidInput(expected_one_of("class", label, spec.labels.classes))
    if spans and spec.labels.spans is None:
        raise InvalidInput(f"Project {spec.name!r} has no span types; spans cannot be saved.")
    checked: list[Span] = []
    for span in spans:
        assert spec.labels.spans is not None
        if span.type not in spec.labels.spans.types:
            raise InvalidInput(expected_one_of("span type", span.type, spec.labels.spans.types))
        text = str(fields.get(spec.labels.spans.field) or "")
        if not 0 <= span.start < span.end <= len(text):
            raise InvalidInput(
                f"Span {span.start}-{span.end} lies outside the {spec.labels.spans.field} ({len(text)} characters)."
            )
        if span.text and text[span.start : span.end] != span.text:
            raise InvalidInput(
                f"Span {span.start}-{span.end} reads {text[span.start : span.end]!r}, not {span.text!r}."
            )
        checked.append(Span(span.start, span.end, span.type, text[span.start : span.end]))
    return tuple(sorted(set(checked)))


def _insert(
    tx: Tx,
    task_id: int,
    item_id: str,
    annotator: str,
    status: str,
    label: str | None,
    spans: Sequence[Span],
    unsure: bool,
    note: str,
    seconds: float | None,
    source: str,
) -> int:
    annotation_id = int(tx.scalar("SELECT nextval('annotation_ids')"))
    tx.execute(
        "INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            annotation_id,
            task_id,
            item_id,
            annotator,
            status,
            label,
            json.dumps([s.as_dict() for s in spans], ensure_ascii=False),
            unsure,
            note,
            seconds,
            source,
            utcnow(),
        ],
    )
    tx.execute(
        "DELETE FROM leases WHERE task_id = ? AND item_id = ? AND annotator = ?",
        [task_id, item_id, annotator],
    )
    return annotation_id


@one_unit_of_work
def save_annotation(
    ws: Workspace,
    task_id: int,
    item_id: str,
    annotator: Actor,
    label: str,
    *,
    spans: Sequence[Span] = (),
    unsure: bool = False,
    note: str = "",
    seconds: float | None = None,
) -> Annotation:
    """Record an answer (a change is a new row; the latest row is the annotator's answer)."""
    task = get_task(ws, task_id)
    project = get_project(ws, task.project)
    with ws.store.read() as tx:
        if (
            tx.one("SELECT 1 FROM task_items WHERE task_id = ? AND item_id = ?", [task_id, item_id])
            is None
        ):
            raise NotFound(f"Item {item_id!r} is not part of task #{task_id}.")
    fields = load_item(ws, task, project, item_id).fields if spans else {}
    checked = check_answer(project, fields, label, spans)
    if len(note) > 2000:
        raise InvalidInput(f"The note is {len(note)} characters; at most 2,000.")
    with ws.store.transaction() as tx:
        annotation_id = _insert(
            tx,
            task_id,
            item_id,
            annotator.name,
            "labeled",
            label,
            checked,
            unsure,
            note,
            seconds,
            annotator.via,
        )
        record(
            tx,
            annotator,
            "annotate",
            project=task.project,
            target=f"task #{task_id} item {item_id}",
            details={"label": label, "spans": len(checked), "unsure": unsure},
        )
    return get_annotation(ws, annotation_id)


@one_unit_of_work
def skip_item(
    ws: Workspace, task_id: int, item_id: str, annotator: Actor, note: str = ""
) -> Annotation:
    task = get_task(ws, task_id)
    with ws.store.transaction() as tx:
        annotation_id = _insert(
            tx,
            task_id,
            item_id,
            annotator.name,
            "skipped",
            None,
            (),
            False,
            note,
            None,
            annotator.via,
        )
        record(
            tx,
            annotator,
            "annotate.skip",
            project=task.project,
            target=f"task #{task_id} item {item_id}",
        )
    return get_annotation(ws, annotation_id)


@one_unit_of_work
def undo_last(ws: Workspace, task_id: int, annotator: Actor) -> QueueItem | None:
    """Take back this annotator's last answer in the task and hand that item back to them."""
    task = get_task(ws, task_id)
    with ws.store.transaction() as tx:
        row = tx.one(
            "SELECT item_id FROM ("
            + CURRENT
            + ") c JOIN (SELECT item_id, max(annotation_id) AS last_id "
            "FROM annotations WHERE task_id = ? AND annotator = ? GROUP BY item_id) USING (item_id) "
            "WHERE c.annotator = ? AND c.status <> 'retracted' ORDER BY last_id DESC LIMIT 1",
            [task_id, task_id, annotator.name, annotator.name],
        )
        if row is None:
            return None
        item_id = str(row[0])
        _insert(
            tx,
            task_id,
            item_id,
            annotator.name,
            "retracted",
            None,
            (),
            False,
            "undo",
            None,
            annotator.via,
        )
        now = utcnow()
        tx.execute(
            "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
            [task_id, item_id, annotator.name, now, now + timedelta(seconds=task.lease_seconds)],
        )
        record(
            tx,
            annotator,
            "annotate.undo",
            project=task.project,
            target=f"task #{task_id} item {item_id}",
        )
    return load_item(ws, task, get_project(ws, task.project), item_id, resumed=True)


def release(ws: Workspace, task_id: int, annotator: Actor) -> None:
    """Give back every item this annotator holds (e.g. when they leave the page)."""
    with ws.store.transaction() as tx:
        tx.execute(
            "DELETE FROM leases WHERE task_id = ? AND annotator = ?", [task_id, annotator.name]
        )


def get_annotation(ws: Workspace, annotation_id: int) -> Annotation:
    with ws.store.read() as tx:
        row = tx.one(
            f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE annotation_id = ?", [annotation_id]
        )
    if row is None:
        raise NotFound(f"No annotation #{annotation_id}.")
    return _annotation(row)


def item_history(ws: Workspace, task_id: int, item_id: str) -> list[Annotation]:
    """Every row ever written for the item, oldest first: the append-only history (an annotator
    sees only their own rows: they label blind)."""
    with ws.store.read() as tx:
        only = own_answers_only(tx, None, get_task(ws, task_id))
        rows = tx.rows(
            f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE task_id = ? AND item_id = ? "
            "AND (?::VARCHAR IS NULL OR annotator = ?) ORDER BY annotation_id",
            [task_id, item_id, only, only],
        )
    return [_annotation(r) for r in rows]


def current_annotations(ws: Workspace, task_ids: Sequence[int]) -> list[Annotation]:
    """Each annotator's current labeled answer per item, over one or more tasks."""
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE task_id IN (SELECT unnest(?::BIGINT[])) "
            "QUALIFY row_number() OVER (PARTITION BY task_id, item_id, annotator ORDER BY annotation_id DESC) = 1",
            [list(task_ids)],
        )
    return [_annotation(r) for r in rows if r[4] == "labeled"]
