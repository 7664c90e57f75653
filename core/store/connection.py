"""Opening the workspace's DuckDB file: one DuckDB instance per process, a cursor per unit of work.

DuckDB lets one process hold the file. Another process's attempt fails at once, so we wait
ourselves (backoff with jitter) and never keep the file open while idle: a unit of work attaches it
to the process's in-memory instance (or joins the units already using it), and the last unit to
finish detaches it and releases it for other processes. Committed changes are in the write-ahead
log (``loopline.duckdb.wal``) until it outgrows ``CHECKPOINT_WAL_BYTES``: then the detach
checkpoints them into the file (a snapshot or a migration's backup checkpoints first).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.errors import CoreError
from core.store import clock
from core.store.engine import (
    INHERITED,
    Attachment,
    attach_with_retry,
    attachment_for,
    detach,
    engine_cursor,
    engine_execute,
    leave,
    quoted,
)
from core.store.migrations import ensure_schema, latest_version

DB_FILE = "loopline.duckdb"
# database files this process has brought to the latest schema, with their state on disk then
_CHECKED: dict[str, tuple[int, ...]] = {}


def utcnow() -> datetime:
    """Naive UTC: every timestamp in the store is UTC. The wall clock, or the demo's simulated
    clock while it plays a story (core/store/clock.py)."""
    return clock.now()


@contextmanager
def process_cursor() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on this process's own in-memory database, apart from every workspace file: for
    copies of immutable data (a dataset version's rows) that outlive a unit of work. Its tables
    vanish when the instance is closed (before a fork): a reader of them must expect that."""
    cur = engine_cursor()
    try:
        yield cur
    finally:
        cur.close()


class Tx:
    """A cursor inside a transaction. Remembers the first error, so a caught error still aborts."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor
        self.first_error: BaseException | None = None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Tx:
        try:
            if params is None:
                self.cursor.execute(sql)
            else:
                self.cursor.execute(sql, params)
        except duckdb.Error as exc:
            if self.first_error is None:
                self.first_error = exc
            raise translate(exc) from exc
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            try:
                self.cursor.executemany(sql, rows)
            except duckdb.Error as exc:
                if self.first_error is None:
                    self.first_error = exc
                raise translate(exc) from exc

    def insert_table(self, table: str, columns: Sequence[str], data: Any) -> None:
        """``INSERT INTO table (columns)`` every row of ``data`` (a pyarrow Table or a pandas
        frame with those columns): one statement, no per-value conversion of Python objects
        (lists of floats go in as Arrow arrays)."""
        names = ", ".join(columns)
        view = "_insert_rows"
        self.cursor.register(view, data)
        try:
            self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {view}")
        finally:
            self.cursor.unregister(view)

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """The rows of a query as a pyarrow Table (list columns stay arrays: reading back
        thousands of floats per row costs no Python objects)."""
        try:
            self.cursor.complete()  # an earlier execute() left unread (a fetchone) is finished
            return self.cursor.sql(sql, params=list(params or [])).to_arrow_table()
        except duckdb.Error as exc:
            if self.first_error is None:
                self.first_error = exc
            raise translate(exc) from exc

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cursor.fetchone()

    def rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    def one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        return self.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]


def translate(exc: duckdb.Error) -> CoreError:
    """Driver errors become CoreErrors that say what happened."""
    text = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.ConstraintException):
        return CoreError(f"The store refused the change: {text}")
    if isinstance(exc, duckdb.TransactionException):
        return ConflictError(f"Another user changed the same rows at the same time: {text}")
    return CoreError(f"Store error: {text}")


class ConflictError(CoreError):
    """Two transactions in this process wrote the same rows; the loser may retry."""


class Store:
    """The workspace's database file, attached per unit of work and shared by this process's threads."""

    def __init__(self, root: Path, *, busy_timeout: float = 10.0) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_FILE
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._schema_checked = False
        self.opens = 0  # how many times this store attached the file (benchmarks and tests read it)

    @property
    def _write_lock(self) -> threading.RLock:
        return attachment_for(self.db_path).write_lock

    # -- units of work -------------------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one unit of work; nested calls on the same thread share it."""
        current = getattr(self._local, "cursor", None)
        if current is not None:
            yield current
            return
        attachment = attachment_for(self.db_path)
        with attachment.lock:
            if attachment.users == 0:
                self._attach(attachment)
            attachment.users += 1
        try:
            cur = engine_cursor(attachment.alias)
        except BaseException:
            leave(attachment)
            raise
        self._local.cursor = cur
        try:
            yield cur
        finally:
            self._local.cursor = None
            self._local.tx = None
            try:
                cur.close()
            finally:
                leave(attachment)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Run queries without a transaction of ours (each statement sees committed data)."""
        with self.cursor() as cur:
            existing = getattr(self._local, "tx", None)
            yield existing if existing is not None else Tx(cur)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Commit when the block ends, roll back on any error; nested blocks join the outer one."""
        existing = getattr(self._local, "tx", None)
        if existing is not None:
            yield existing
            return
        with self._write_lock, self.cursor() as cur:  # one writer at a time in this process
            tx = Tx(cur)
            cur.execute("BEGIN TRANSACTION")
            self._local.tx = tx
            try:
                yield tx
            except BaseException:
                self._local.tx = None
                _rollback(cur)
                raise
            self._local.tx = None
            if tx.first_error is not None:  # DuckDB would roll back silently on COMMIT
                _rollback(cur)
                raise translate(tx.first_error)  # type: ignore[arg-type]
            try:
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                _rollback(cur)
                raise translate(exc) from exc

    def write(self, work: Callable[[Tx], Any], *, attempts: int = 5) -> Any:
        """Run ``work`` in a transaction, retrying when a concurrent thread wrote the same rows."""
        for attempt in range(attempts):
            try:
                with self.transaction() as tx:
                    return work(tx)
            except ConflictError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.005 * (2**attempt) * (1 + random.random()))
        raise AssertionError("unreachable")

    def snapshot(self, target: Path) -> None:
        """Copy the database file as it is between two units of work: no writer of this process
        runs (the write lock), no other process can attach the file (we hold it), and a
        checkpoint first puts every committed change in the file itself."""
        with self._write_lock, self.cursor() as cur:
            cur.execute("CHECKPOINT")
            with self.db_path.open("rb") as source, target.open("xb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
                copy.flush()
                os.fsync(copy.fileno())

    # -- attaching -----------------------------------------------------------------------------
    def _attach(self, attachment: Attachment) -> None:
        """Take the side lock, attach the file and bring it to the latest schema (caller holds
        ``attachment.lock``)."""
        if not self.root.is_dir():
            raise CoreError(
                f"No workspace at {self.root}.",
                hint="run `loopline init` (or `loopline demo`), or pass --workspace PATH",
            )
        if attachment.path in INHERITED:
            raise CoreError(
                "This process was forked while the workspace was open, so it cannot open it.",
                hint="start worker processes with the 'spawn' method, or fork outside a unit of "
                "work",
            )
        attachment.file_lock.acquire(self.busy_timeout)
        try:
            state = file_state(attachment.path)  # under the side lock: no process writes now
            attach_with_retry(attachment, self.busy_timeout)
            self.opens += 1
            if not self._schema_checked and _CHECKED.get(attachment.path) == state:
                self._schema_checked = True  # checked by this process, unchanged since
            if not self._schema_checked:
                self._check_schema(attachment, state)
        except BaseException:
            detach(attachment)
            raise

    def _check_schema(self, attachment: Attachment, state: tuple[int, ...]) -> None:
        cur = engine_cursor(attachment.alias)
        try:
            if not _still_current(cur, str(self.db_path)):

                def reattach(copy: Callable[[], None]) -> duckdb.DuckDBPyConnection:
                    """Checkpoint and detach the file, run ``copy``, attach again."""
                    nonlocal cur
                    cur.close()
                    engine_execute("CHECKPOINT " + quoted(attachment.alias))  # all in the file
                    engine_execute("DETACH " + quoted(attachment.alias))
                    copy()
                    attach_with_retry(attachment, self.busy_timeout)
                    cur = engine_cursor(attachment.alias)
                    return cur

                cur = ensure_schema(cur, self.db_path, reattach)
            self._schema_checked = True
            _CHECKED[attachment.path] = state
        finally:
            cur.close()


def file_state(path: str) -> tuple[int, ...]:
    """The database file and its write-ahead log as they are on disk (inode, size, modification
    time): the same state twice means no process wrote the file in between, so a schema this
    process checked is still the file's (a stat costs microseconds, the query ~1 ms cold)."""
    state: list[int] = []
    for name in (path, path + ".wal"):
        try:
            found = os.stat(name)
        except FileNotFoundError:
            state += [0, 0, 0]
            continue
        state += [found.st_ino, found.st_size, found.st_mtime_ns]
    return tuple(state)


def _still_current(con: duckdb.DuckDBPyConnection, path: str) -> bool:
    """For a file this process already migrated: one cheap query instead of the full check."""
    if path not in _CHECKED:
        return False  # never checked here: the full check
    try:
        row = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    except duckdb.Error:
        return False
    return row is not None and int(row[0]) == latest_version()


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # nothing was open: the driver already ended it
        cur.execute("ROLLBACK")
