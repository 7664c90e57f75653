"""Numbered schema migrations: ``mNNNN_name.py`` with ``up(con)``.

The schema version is the number of migrations applied. Opening a workspace applies the missing
ones, each in its own transaction together with its record; an older file is backed up first; a
file from a newer Loopline is refused.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.errors import SchemaError


@functools.cache
def migrations() -> list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]]:
    found: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), info.name, module.up))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise AssertionError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def latest_version() -> int:
    return len(migrations())


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_migrations' AND table_catalog = current_database()"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


Reattach = Callable[[Callable[[], None]], "duckdb.DuckDBPyConnection"]


def ensure_schema(
    con: duckdb.DuckDBPyConnection, db_path: Path, reattach: Reattach
) -> duckdb.DuckDBPyConnection:
    """Bring the file to the latest schema; returns the (possibly new) connection.

    ``reattach(copy)`` closes the file (checkpointing it), runs ``copy`` and opens it again: the
    backup is copied while nothing holds the file."""
    steps = migrations()
    version = current_version(con)
    if version > len(steps):
        raise SchemaError(
            f"This workspace was written by a newer Loopline (schema version {version}; this "
            f"Loopline knows {len(steps)}).",
            hint="upgrade Loopline (`pip install -U loopline`) before opening it",
        )
    if version == len(steps):
        return con
    if version > 0:
        con = _backup(db_path, version, reattach)
    for number, name, up in steps[version:]:
        con.execute("BEGIN TRANSACTION")
        try:
            up(con)
            con.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) "
                "VALUES (?, ?, now()::TIMESTAMP)",
                [number, name],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return con


def _backup(db_path: Path, version: int, reattach: Reattach) -> duckdb.DuckDBPyConnection:
    """Copy the file aside before migrating it: ``loopline.duckdb.v1.bak``."""
    target = db_path.with_name(f"{db_path.name}.v{version}.bak")

    def copy() -> None:
        if not target.exists():
            shutil.copy2(db_path, target)

    return reattach(copy)
