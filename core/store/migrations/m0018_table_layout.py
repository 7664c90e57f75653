"""How much of a table is kept in its search order (issue 18).

``table_layout`` names a table and how many of its rows were in the table's search order when
it was last rewritten in that order (``core.experiments.layout``): rows appended since then are
the unordered tail, and a rewrite is due when the tail grows. Only ``run_params`` and
``run_metrics`` are kept this way (ordered by key, so that a filter on one key skips the row
groups of the others). A table is added, nothing is changed or dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE table_layout (
            table_name VARCHAR PRIMARY KEY,
            ordered_rows BIGINT NOT NULL,
            ordered_at TIMESTAMP NOT NULL
        )
        """
    )
