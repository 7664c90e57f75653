"""Reading the prediction log: finished Parquet segments queried in place by an in-memory DuckDB.

The service writes ``<workspace>/logs/<project>/predictions/*.parquet`` and ``…/feedback/*.parquet``
(``core.serving.log``: a segment is written under a temporary name and renamed when finished, so
only finished segments match ``*.parquet``). Monitoring never holds the workspace's store while it scans the log: the
scan runs in its own in-memory DuckDB, and only the figures are written to the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.errors import InvalidInput, expected_one_of
from core.serving.log import FEEDBACK, PREDICTIONS, SEGMENT_GLOB, log_folder

GRAINS: dict[str, str] = {"hour": "1 hour", "day": "1 day", "week": "1 week"}
FEEDBACK_COLUMNS = (
    "ts TIMESTAMP, received_at TIMESTAMP, request_id VARCHAR, label VARCHAR, actor VARCHAR"
)
FEATURE_PREFIX = "f_"
PROBABILITY_PREFIX = "p_"


def segment_folders(root: Path, project: str) -> tuple[Path, Path]:
    """The folders of the project's prediction and feedback segments."""
    return log_folder(root, project, PREDICTIONS), log_folder(root, project, FEEDBACK)


def segments(folder: Path) -> list[str]:
    """Finished segments, oldest name first (temporary files do not end in .parquet)."""
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.glob(SEGMENT_GLOB) if p.is_file())


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise InvalidInput(expected_one_of("window", grain, GRAINS))
    return GRAINS[grain]


def quote(name: str) -> str:
    """A SQL identifier (column names come from the project file and the log's schema)."""
    return '"' + name.replace('"', '""') + '"'


class LogReader:
    """The project's prediction log as the views ``predictions`` and ``feedback`` (the latest
    label per request id), in a private in-memory DuckDB. A snapshot: segments finished later
    are not seen."""

    def __init__(self, root: Path, project: str, *, threads: int | None = None) -> None:
        self.project = project
        prediction_dir, feedback_dir = segment_folders(root, project)
        self.prediction_files = segments(prediction_dir)
        self.feedback_files = segments(feedback_dir)
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads or min(4, os.cpu_count() or 2))}")
        self.columns: dict[str, str] = {}
        if self.prediction_files:
            relation = self.con.read_parquet(self.prediction_files, union_by_name=True)
            relation.create_view("predictions")
            self.columns = {
                str(row[0]): str(row[1])
                for row in self.con.execute("DESCRIBE predictions").fetchall()
            }
        if self.feedback_files:
            raw = self.con.read_parquet(self.feedback_files, union_by_name=True)
            raw.create_view("feedback_segments")
            self.con.execute(
                "CREATE TEMP VIEW feedback AS SELECT request_id, CAST(label AS VARCHAR) AS label, "
                "received_at FROM feedback_segments WHERE request_id IS NOT NULL "
                "QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY received_at DESC) = 1"
            )
        else:
            self.con.execute(f"CREATE TEMP TABLE feedback ({FEEDBACK_COLUMNS})")

    @property
    def empty(self) -> bool:
        return not self.prediction_files

    def has(self, column: str) -> bool:
        return column in self.columns

    def features(self) -> dict[str, str]:
        """Logged input fields (without the ``f_`` prefix) and their SQL types."""
        return {
            name[len(FEATURE_PREFIX) :]: kind
            for name, kind in self.columns.items()
            if name.startswith(FEATURE_PREFIX)
        }

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params or [])).fetchall()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
