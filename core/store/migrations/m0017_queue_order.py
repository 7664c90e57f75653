"""A labeling task's ``task_items.position`` is the item's place in its queue (issue 18).

It was a stable random rank, and a task in uncertainty order sorted its items by score first
(``score DESC NULLS LAST, position``) on every ``next_item``: a top-N over all of the task's
items. Now the position is the place in the queue for every ordering, so the queue reads the
first items by a range of positions. Tasks in uncertainty order are ranked anew here in the
order they had; tasks in random order keep theirs. Nothing is added or dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        UPDATE task_items AS ti SET position = r.place
        FROM (
            SELECT i.task_id, i.item_id,
                   (row_number() OVER (PARTITION BY i.task_id
                                       ORDER BY i.score DESC NULLS LAST, i.position) - 1
                   )::INTEGER AS place
            FROM task_items i JOIN tasks t USING (task_id)
            WHERE t.ordering = 'uncertainty'
        ) r
        WHERE ti.task_id = r.task_id AND ti.item_id = r.item_id
        """
    )
