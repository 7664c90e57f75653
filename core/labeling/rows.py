"""A dataset version's rows kept in this process's memory, for the labeling queue's item reads.

The queue shows one item per call, read from the dataset's Parquet file by id: ~9 ms of CPU at
100,000 rows (the id column is read and compared in full), on every ``next_item``. Dataset files
never change, so a process that reads items of the same version a second time copies its rows
once into a table of its own in-memory database (~0.25 s at 100,000 rows) and reads them there
(~2 ms). A one-off reader (a CLI command) never pays for the copy. DuckDB does the reading both
ways, so the values and their Python types are the ones the Parquet read gives.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.store.connection import process_cursor

MAX_ROWS = 500_000  # a larger version is read from its file every time (its copy would be large)
MAX_TABLES = 2  # versions kept at once; the one read least recently goes first

_LOCK = threading.Lock()
_TABLES: dict[str, str] = {}  # Parquet file -> its table, least recently used first
_SEEN: set[str] = set()  # files read once (the next read copies them), or too large to copy


def rows_by_id(
    path: str, id_column: str, item_ids: Sequence[str]
) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """The column names and the rows of ``item_ids`` from the in-memory copy of the Parquet
    file ``path``, or None when there is no copy (the caller reads the file)."""
    table = _table_for(path)
    if table is None:
        return None
    one = len(item_ids) == 1
    sql = f'SELECT * FROM {table} WHERE "{id_column}" ' + (
        "= ?" if one else "IN (SELECT unnest(?::VARCHAR[]))"
    )
    with process_cursor() as cur:
        try:
            cursor = cur.execute(sql, [item_ids[0] if one else list(item_ids)])
        except duckdb.CatalogException:  # the instance was closed (before a fork): copy anew
            with _LOCK:
                _TABLES.pop(path, None)
            return None
        columns = [d[0] for d in cursor.description or ()]
        return columns, cursor.fetchall()


def _table_for(path: str) -> str | None:
    with _LOCK:
        table = _TABLES.pop(path, None)
        if table is not None:
            _TABLES[path] = table  # the most recently used now
            return table
        if path not in _SEEN:
            if len(_SEEN) >= 4096:
                _SEEN.clear()
            _SEEN.add(path)
            return None
        return _copy(path)


def _copy(path: str) -> str | None:
    """Copy the file's rows into a table of the process (caller holds ``_LOCK``)."""
    table = 'memory.main."loopline_rows_' + hashlib.sha1(path.encode()).hexdigest()[:20] + '"'
    with process_cursor() as cur:
        counted = cur.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()
        if counted is None or int(counted[0]) > MAX_ROWS:
            return None  # stays in _SEEN: read from the file from now on
        while len(_TABLES) >= MAX_TABLES:
            oldest = next(iter(_TABLES))
            cur.execute(f"DROP TABLE IF EXISTS {_TABLES.pop(oldest)}")
        cur.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)", [path])
    _TABLES[path] = table
    return table


def forget() -> None:
    """Drop every copy (tests)."""
    with _LOCK:
        with process_cursor() as cur:
            for table in _TABLES.values():
                cur.execute(f"DROP TABLE IF EXISTS {table}")
        _TABLES.clear()
        _SEEN.clear()
