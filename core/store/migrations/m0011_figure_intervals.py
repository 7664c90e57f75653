"""Evidence with its sample size and confidence interval, and verdicts with confidence (issue 15).

- ``verification_metrics`` keep each figure's ``n`` and interval (``lower``, ``upper``);
- ``requirement_status`` (and its scratch twin) keep the interval of the figure a status rests on,
  how it was made (``interval_method``), the minimum sample the verdict asked for (``min_n``)
  and the open monitoring alert that keeps a requirement from being met (``alert_id``);
- ``requirement_status_history`` keeps ``n`` and the interval beside each value;
- ``requirements`` gain ``min_n`` (None: the default of the metric's kind) and
  ``fail_when_inconclusive`` (an inconclusive verdict fails ``verify-system``).

Columns are added, nothing is dropped: rows written before keep NULL intervals and read as
"no interval". No secondary indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_ADDED = {
    "verification_metrics": ("n DOUBLE", "lower DOUBLE", "upper DOUBLE"),
    "requirement_status": (
        "lower DOUBLE",
        "upper DOUBLE",
        "interval_method VARCHAR",
        "min_n INTEGER",
        "alert_id BIGINT",
    ),
    "requirement_status_next": (
        "lower DOUBLE",
        "upper DOUBLE",
        "interval_method VARCHAR",
        "min_n INTEGER",
        "alert_id BIGINT",
    ),
    "requirement_status_history": ("n DOUBLE", "lower DOUBLE", "upper DOUBLE", "alert_id BIGINT"),
    "requirements": ("min_n INTEGER", "fail_when_inconclusive BOOLEAN DEFAULT false"),
}


def up(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in _ADDED.items():
        for column in columns:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
