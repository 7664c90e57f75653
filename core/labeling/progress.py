"""Where a labeling task stands: answers given and needed, per annotator, today."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.accounts.access import check_task_visible
from core.labeling.answers import current_answers
from core.labeling.models import TaskProgress
from core.labeling.tasks import get_task
from core.store import Workspace, utcnow


def task_progress(
    ws: Workspace, task_id: int, annotator: str | None = None, *, now: datetime | None = None
) -> TaskProgress:
    check_task_visible(ws, None, get_task(ws, task_id))
    moment = now or utcnow()
    day_start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    with ws.store.read() as tx:
        items, complete, needed, done = tx.one(
            f"""
            WITH per AS (
                SELECT item_id, count(*) FILTER (WHERE status = 'labeled') AS n
                FROM ({current_answers()}) GROUP BY item_id
            )
            SELECT count(*), count(*) FILTER (WHERE coalesce(p.n, 0) >= ti.required),
                   sum(ti.required), sum(least(coalesce(p.n, 0), ti.required))
            FROM task_items ti LEFT JOIN per p USING (item_id) WHERE ti.task_id = ?
            """,
            [task_id, task_id],
        ) or (0, 0, 0, 0)
        answers = tx.rows(
            f"""
            SELECT annotator, count(*) FILTER (WHERE status = 'labeled'),
                   count(*) FILTER (WHERE status = 'labeled' AND answered_at >= ?),
                   count(*) FILTER (WHERE status = 'skipped'),
                   count(*) FILTER (WHERE status = 'labeled' AND unsure)
            FROM ({current_answers()}) GROUP BY annotator ORDER BY 2 DESC, annotator
            """,
            [day_start, task_id],
        )
    per_annotator = {name: int(labeled) for name, labeled, _, _, _ in answers if labeled}
    today = sum(int(t) for name, _, t, _, _ in answers if name == annotator)
    skipped = sum(int(s) for _, _, _, s, _ in answers)
    unsure = sum(int(u) for _, _, _, _, u in answers)
    return TaskProgress(
        int(items),
        int(complete),
        int(needed or 0),
        int(done or 0),
        int(per_annotator.get(annotator, 0)) if annotator else 0,
        today,
        per_annotator,
        skipped,
        unsure,
    )


def labels_left(ws: Workspace, task_ids: Sequence[int]) -> dict[int, int]:
    """How many answers each task still needs (items × annotators they require, minus those given)."""
    if not task_ids:
        return {}
    with ws.store.read() as tx:
        rows = tx.rows(
            f"""
            WITH per AS (
                SELECT task_id, item_id, count(*) FILTER (WHERE status = 'labeled') AS n
                FROM ({current_answers(many=True)}) GROUP BY ALL
            )
            SELECT ti.task_id, sum(greatest(ti.required - coalesce(p.n, 0), 0))
            FROM task_items ti LEFT JOIN per p USING (task_id, item_id)
            WHERE ti.task_id IN (SELECT unnest(?::BIGINT[])) GROUP BY ti.task_id
            """,
            [list(task_ids), list(task_ids)],
        )
    return {int(t): int(n or 0) for t, n in rows}


def left_for(ws: Workspace, task_ids: Sequence[int], annotator: str) -> dict[int, int]:
    """How many items of each task ``annotator`` could still answer: items that need more answers
    and that they have neither labeled nor skipped."""
    if not task_ids:
        return {}
    with ws.store.read() as tx:
        rows = tx.rows(
            f"""
            WITH per AS (
                SELECT task_id, item_id, count(*) FILTER (WHERE status = 'labeled') AS n,
                       bool_or(annotator = ? AND status IN ('labeled', 'skipped')) AS mine
                FROM ({current_answers(many=True)}) GROUP BY ALL
            )
            SELECT ti.task_id,
                   count(*) FILTER (WHERE coalesce(p.n, 0) < ti.required AND NOT coalesce(p.mine, false))
            FROM task_items ti LEFT JOIN per p USING (task_id, item_id)
            WHERE ti.task_id IN (SELECT unnest(?::BIGINT[])) GROUP BY ti.task_id
            """,
            [annotator, list(task_ids), list(task_ids)],
        )
    return {int(t): int(n or 0) for t, n in rows}
