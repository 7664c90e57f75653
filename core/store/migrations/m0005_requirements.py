"""Requirements traceability: system and ML requirements (versioned), statuses and their history."""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    pass
