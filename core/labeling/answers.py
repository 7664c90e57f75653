"""Each annotator's current answer: the one definition every labeling query builds on.

Annotations are append-only: a change of mind, a skip or an undo is a new row. An annotator's
current answer on an item is their latest row there (the highest ``annotation_id``); its status is
``labeled``, ``skipped`` or ``retracted`` (an undo). The queue, progress, review, agreement and
freezing all read answers through :func:`current_answers`, never through their own spelling.
"""

from __future__ import annotations

_SELECT = """
    SELECT task_id, item_id, annotator,
           max(annotation_id) AS annotation_id,
           arg_max(status, annotation_id) AS status,
           arg_max(label, annotation_id) AS label,
           arg_max(unsure, annotation_id) AS unsure,
           arg_max(created_at, annotation_id) AS answered_at
    FROM annotations WHERE {tasks}
    GROUP BY task_id, item_id, annotator
"""
ONE_TASK = "task_id = ?"  # one BIGINT parameter: DuckDB prunes to the task's rows
MANY_TASKS = "task_id IN (SELECT unnest(?::BIGINT[]))"  # one BIGINT[] parameter


def current_answers(*, many: bool = False) -> str:
    """A subquery with one row per (task_id, item_id, annotator): the annotator's current answer
    (``annotation_id``, ``status``, ``label``, ``unsure``, ``answered_at``).

    It takes one parameter: the task id, or (``many=True``) a list of task ids."""
    return _SELECT.format(tasks=MANY_TASKS if many else ONE_TASK)


_WITH_LEASES = """
    SELECT item_id, annotator, arg_max(status, annotation_id) AS status,
           max(leased_at) AS leased_at
    FROM (
        SELECT item_id, annotator, annotation_id, status, NULL::TIMESTAMP AS leased_at
        FROM annotations WHERE task_id = ?
        UNION ALL
        SELECT item_id, annotator, NULL, NULL, leased_at
        FROM leases WHERE task_id = ? AND expires_at > ?
    )
    GROUP BY item_id, annotator
"""


def current_answers_and_leases() -> str:
    """A subquery with one row per (item_id, annotator) of one task that has an answer or a live
    lease: the current ``status`` (NULL with no answer; arg_max skips the leases' NULL ids) and
    when the live lease was taken (``leased_at``, NULL without one): the queue's one pass over
    both tables.

    It takes three parameters: the task id, the task id, the moment leases must outlive."""
    return _WITH_LEASES
