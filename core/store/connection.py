"""Opening the workspace's DuckDB file: one connection per process, a cursor per unit of work.

DuckDB lets one process hold the file. Another process's ``connect`` fails at once, so we wait
ourselves (backoff with jitter) and never keep the file open while idle: a unit of work opens it
(or joins the process's open connection), and the last unit to finish closes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core.errors import CoreError, SchemaError, WorkspaceBusy

DB_FILE = "loopline.duckdb"
LOCK_FILE = "loopline.lock"
_LOCK_HELD = re.compile(r"PID (\d+)")
_CHECKED: set[str] = set()  # database files this process has already brought to the latest schema


def utcnow() -> datetime:
    """Naive UTC: every timestamp in the store is UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


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
    """The workspace's database file, opened per unit of work and shared by this process's threads."""

    def __init__(self, root: Path, *, busy_timeout: float = 10.0) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_FILE
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._local = threading.local()
        self._schema_checked = False
        self._file_lock = FileLock(self.root / LOCK_FILE)
        self.opens = 0  # how many times the file was opened (benchmarks and tests read it)

    # -- units of work -------------------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one unit of work; nested calls on the same thread share it."""
        current = getattr(self._local, "cursor", None)
        if current is not None:
            yield current
            return
        with self._lock:
            if self._con is None:
                self._con = self._open()
            self._users += 1
            con = self._con
        cur = con.cursor()
        self._local.cursor = cur
        try:
            yield cur
        finally:
            self._local.cursor = None
            self._local.tx = None
            try:
                cur.close()
            finally:
                with self._lock:
                    self._users -= 1
                    if self._users == 0 and self._con is not None:
                        self._close()

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

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.root.is_dir():
            raise CoreError(
                f"No workspace at {self.root}.",
                hint="run `loopline init` (or `loopline demo`), or pass --workspace PATH",
            )
        self._file_lock = FileLock(self.root / LOCK_FILE)
        self._file_lock.acquire(self.busy_timeout)
        try:
            con = connect_with_retry(self.db_path, self.busy_timeout)
            self.opens += 1
            if not self._schema_checked and not _still_current(con, str(self.db_path)):
                from core.store.migrations import ensure_schema

                try:
                    con = ensure_schema(con, self.db_path, self.busy_timeout)
                except BaseException:
                    con.close()
                    raise
                self._schema_checked = True
                _CHECKED.add(str(self.db_path))
        except BaseException:
            self._file_lock.release()
            raise
        return con

    def _close(self) -> None:
        assert self._con is not None
        try:
            self._con.close()
        finally:
            self._con = None
            self._file_lock.release()


class FileLock:
    """Our own exclusive lock around every open of the database file.

    DuckDB's lock alone is not enough: while one process closes (and checkpoints) the file,
    another could open it and read a file being rewritten. An ``flock`` on a side file is held
    from before ``connect`` until after ``close``, and its holder's PID is written into it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    raise WorkspaceBusy(
                        f"The workspace is busy (held by {holder}); try again.",
                        hint=f"waited {timeout:.0f} s for {self.path.parent}",
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        text = ""
    return f"PID {text}" if text.isdigit() else "another process"


def _still_current(con: duckdb.DuckDBPyConnection, path: str) -> bool:
    """For a file this process already migrated: one cheap query instead of the full check."""
    if path not in _CHECKED:
        return False
    from core.store.migrations import latest_version

    try:
        row = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    except duckdb.Error:
        return False
    return row is not None and int(row[0]) == latest_version()


def connect_with_retry(path: Path, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting with jittered backoff while another process holds it."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    holder = "another process"
    while True:
        try:
            return duckdb.connect(str(path), config={"threads": min(4, os.cpu_count() or 2)})
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise SchemaError(
                    f"Cannot open the workspace file {path}: {text.splitlines()[0]}",
                    hint="check the path and permissions; `loopline verify` checks a workspace",
                ) from exc
            match = _LOCK_HELD.search(text)
            holder = f"PID {match.group(1)}" if match else holder
        except duckdb.Error as exc:
            raise SchemaError(
                f"{path} is not a Loopline workspace file: {str(exc).splitlines()[0]}",
                hint="point --workspace at a folder made by `loopline init`",
            ) from exc
        if time.monotonic() >= deadline:
            raise WorkspaceBusy(
                f"The workspace is busy (held by {holder}); try again.",
                hint=f"waited {timeout:.0f} s for {path}",
            )
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.02)


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # nothing was open: the driver already ended it
        cur.execute("ROLLBACK")
