"""Operations: reference statistics per model version, monitoring windows, alerts and retraining requests."""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    pass
