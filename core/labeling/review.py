"""The review queue: items where annotators disagree or flagged themselves unsure; a reviewer's
decision settles the item and is recorded (the latest decision counts, earlier ones are kept)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.accounts.access import check_task_visible, readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.service import get_artifact
from core.errors import InvalidInput, NotFound, expected_one_of
from core.labeling.agreement import AgreementReport, agreement
from core.labeling.answers import current_answers
from core.labeling.models import Annotation, Review, ReviewCase, SpanVote
from core.labeling.queue import (
    ANNOTATION_COLUMNS,
    annotation_of,
    check_answer,
    current_annotations,
    item_of,
    suggest,
)
from core.labeling.tasks import OpenTask, get_task, item_fields, open_task
from core.projects.service import get_project
from core.spans.detect import Span, from_dicts
from core.store import Tx, Workspace, utcnow


def _spans_key(spans: Sequence[Span]) -> tuple[tuple[str, int, int], ...]:
    return tuple(sorted((s.type, s.start, s.end) for s in spans))


def review_reason(answers: Sequence[Annotation]) -> str | None:
    """Why an item needs a reviewer, or None."""
    if len({a.label for a in answers}) > 1:
        return "disagreement"
    if len(answers) > 1 and len({_spans_key(a.spans) for a in answers}) > 1:
        return "span disagreement"
    if any(a.unsure for a in answers):
        return "unsure"
    return None


def latest_reviews(ws: Workspace, task_ids: Sequence[int]) -> dict[tuple[int, str], Review]:
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {REVIEW_COLUMNS} FROM reviews "
            "WHERE task_id IN (SELECT unnest(?::BIGINT[])) "
            "QUALIFY row_number() OVER (PARTITION BY task_id, item_id ORDER BY review_id DESC) = 1",
            [list(task_ids)],
        )
    reviews = [_review(row) for row in rows]
    return {(r.task_id, r.item_id): r for r in reviews}


REVIEW_COLUMNS = "review_id, task_id, item_id, reviewer, label, spans, note, created_at"


def _review(row: Sequence[Any]) -> Review:
    fields = dict(zip(REVIEW_COLUMNS.split(", "), row, strict=True))
    return Review(**{**fields, "spans": tuple(from_dicts(json.loads(fields["spans"])))})


def span_votes(answers: Sequence[Annotation]) -> tuple[SpanVote, ...]:
    """Each distinct span (type, start, end) the answers marked, with who marked it, in text order."""
    who: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    first: dict[tuple[int, int, str], Span] = {}
    for answer in answers:
        for span in answer.spans:
            key = (span.start, span.end, span.type)
            first.setdefault(key, span)
            if answer.annotator not in who[key]:
                who[key].append(answer.annotator)
    return tuple(SpanVote(first[k], tuple(sorted(who[k]))) for k in sorted(first))


_REASONS = ("disagreement", "span disagreement", "unsure")  # in review order
# one row per item with current labeled answers: its rank in _REASONS, or NULL when nothing
# to review; an answer's spans compare as the sorted (type, start, end) of review_reason
_WAITING = f"""
    WITH labeled AS (
        SELECT a.item_id, a.label, a.unsure,
               CASE WHEN n.spans = '[]' THEN [] ELSE  -- parsed only when there are spans
                   list_sort([[s.type, s.start::VARCHAR, s."end"::VARCHAR] for s in from_json(
                       n.spans, '[{{"type": "VARCHAR", "start": "BIGINT", "end": "BIGINT"}}]')])
               END AS spans
        FROM ({current_answers()}) a JOIN annotations n USING (annotation_id)
        WHERE a.status = 'labeled'
    ),
    waiting AS (
        SELECT item_id,
               CASE WHEN count(DISTINCT label) > 1 THEN 0
                    WHEN count(*) > 1 AND count(DISTINCT spans) > 1 THEN 1
                    WHEN bool_or(unsure) THEN 2 END AS reason
        FROM labeled GROUP BY item_id
    )
    SELECT item_id, reason FROM waiting
    WHERE reason IS NOT NULL
      AND item_id NOT IN (SELECT item_id FROM reviews WHERE task_id = ?)
"""


def review_queue(ws: Workspace, task_id: int, limit: int = 50) -> tuple[list[ReviewCase], int]:
    """The first ``limit`` items to review (disagreements first) and how many wait in all.
    The waiting items are found and counted in SQL; only the shown cases are read in full."""
    with ws.store.read() as tx:
        opened = open_task(ws, task_id)
        readable(ws, None, "labeling.read", opened.task.project)
        waiting, page = _waiting(tx, task_id, limit)
        items = [str(item_id) for item_id, _ in page]
        answers = _answers_of(tx, task_id, items)
        suggested = _suggestions_of(tx, task_id, items)
    fields = item_fields(ws, opened.dataset, items, opened.project.spec.id_column) if items else {}
    return [
        _case(opened, item_id, _REASONS[reason], answers, fields, suggested)
        for item_id, reason in page
    ], waiting


def _waiting(tx: Tx, task_id: int, limit: int) -> tuple[int, list[tuple[str, int]]]:
    """How many items wait for a review, and the first ``limit`` (item id, reason rank): one
    query (no row means none waits), or a count alone when no case is asked for."""
    if limit <= 0:
        return int(tx.scalar(f"SELECT count(*) FROM ({_WAITING})", [task_id, task_id])), []
    rows = tx.rows(
        f"SELECT item_id, reason, count(*) OVER () FROM ({_WAITING}) "
        "ORDER BY reason, item_id LIMIT ?",
        [task_id, task_id, limit],
    )
    return (int(rows[0][2]) if rows else 0), [(str(r[0]), int(r[1])) for r in rows]


def _answers_of(tx: Tx, task_id: int, items: Sequence[str]) -> dict[str, list[Annotation]]:
    """The current labeled answers on some items of the task, per item, by annotator."""
    rows = tx.rows(
        f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE annotation_id IN ("
        f"SELECT annotation_id FROM ({current_answers()}) WHERE status = 'labeled' "
        "AND item_id IN (SELECT unnest(?::VARCHAR[]))) ORDER BY annotator",
        [task_id, list(items)],
    )
    found: dict[str, list[Annotation]] = defaultdict(list)
    for row in rows:
        answer = annotation_of(row)
        found[answer.item_id].append(answer)
    return found


def _suggestions_of(tx: Tx, task_id: int, items: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    rows = tx.rows(
        "SELECT item_id, suggestion, suggestion_probability FROM task_items "
        "WHERE task_id = ? AND item_id IN (SELECT unnest(?::VARCHAR[]))",
        [task_id, list(items)],
    )
    return {str(item_id): (label, probability) for item_id, label, probability in rows}


def _case(
    opened: OpenTask,
    item_id: str,
    reason: str,
    answers: dict[str, list[Annotation]],
    fields: dict[str, dict[str, Any]],
    suggested: dict[str, tuple[Any, Any]],
) -> ReviewCase:
    if item_id not in fields:
        raise NotFound(f"Item {item_id!r} is not in {opened.dataset.ref}.")
    ordered = tuple(answers[item_id])
    return ReviewCase(
        opened.task.task_id,
        item_id,
        reason,
        ordered,
        fields[item_id],
        suggest(opened.project, fields[item_id], *suggested[item_id]),
        span_votes(ordered),
    )


def decide(
    ws: Workspace,
    task_id: int,
    item_id: str,
    reviewer: Actor,
    label: str,
    *,
    spans: Sequence[Span] = (),
    note: str = "",
) -> Review:
    opened = open_task(ws, task_id)
    task, project = opened.task, opened.project
    item = item_of(ws, opened, item_id)
    checked = check_answer(project, item.fields, label, spans)
    with ws.store.transaction() as tx:
        now = utcnow()
        review_id = insert_review(tx, task_id, item_id, reviewer.name, label, checked, note, now)
        record(
            tx,
            reviewer,
            "review",
            project=task.project,
            target=f"task #{task_id} item {item_id}",
            details={"label": label, "spans": len(checked)},
        )
    return Review(review_id, task_id, item_id, reviewer.name, label, checked, note, now)


def insert_review(
    tx: Tx,
    task_id: int,
    item_id: str,
    reviewer: str,
    label: str,
    spans: Sequence[Span],
    note: str,
    now: datetime,
) -> int:
    """One decision row (already checked against the item); its id."""
    review_id = int(tx.scalar("SELECT nextval('review_ids')"))
    tx.execute(
        f"INSERT INTO reviews ({REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            review_id,
            task_id,
            item_id,
            reviewer,
            label,
            json.dumps([s.as_dict() for s in spans], ensure_ascii=False),
            note,
            now,
        ],
    )
    return review_id


def task_agreement(
    ws: Workspace, task_ids: Sequence[int], by: str | None = None
) -> AgreementReport:
    """Agreement over the tasks' current answers, optionally per value of a dataset column."""
    tasks = [get_task(ws, t) for t in task_ids]
    if not tasks:
        raise InvalidInput("Pick at least one task.")
    for project_name in sorted({t.project for t in tasks}):
        readable(ws, None, "labeling.read", project_name)
    project = get_project(ws, tasks[0].project)
    answers = current_annotations(ws, task_ids)
    groups: dict[str, str] | None = None
    if by is not None:
        if by not in project.spec.column_names:
            raise InvalidInput(expected_one_of("column", by, project.spec.column_names))
        shared = sorted({a.item_id for a in answers})
        groups = {}
        for task in tasks:
            fields = item_fields(
                ws, get_artifact(ws, task.dataset_id), shared, project.spec.id_column
            )
            groups.update({item: str(row.get(by)) for item, row in fields.items()})
    return agreement(answers, project.spec.labels.classes, groups)


def agreement_so_far(ws: Workspace, task_id: int, actor: Actor | None = None) -> AgreementReport:
    """The agreement an annotator sees beside their progress: over the task's current answers.
    Whoever may see the task reads it (``labeling.read``, or the task's own annotators: a single
    figure over everyone's answers shows none of them)."""
    task = get_task(ws, task_id)
    check_task_visible(ws, actor, task)
    classes = get_project(ws, task.project).spec.labels.classes
    return agreement(current_annotations(ws, [task_id]), classes)
