"""Opening the workspace's DuckDB file: one DuckDB instance per process, a cursor per unit of work.

DuckDB lets one process hold the file. Another process's attempt fails at once, so we wait
ourselves (backoff with jitter) and never keep the file open while idle: a unit of work attaches it
to the process's in-memory instance (or joins the units already using it), and the last unit to
finish detaches it, which checkpoints the file and releases it for other processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import random
import re
import tempfile
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
        return _attachment(self.db_path).write_lock

    # -- units of work -------------------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one unit of work; nested calls on the same thread share it."""
        current = getattr(self._local, "cursor", None)
        if current is not None:
            yield current
            return
        attachment = _attachment(self.db_path)
        with attachment.lock:
            if attachment.users == 0:
                self._attach(attachment)
            attachment.users += 1
        try:
            cur = _engine_cursor(attachment.alias)
        except BaseException:
            _leave(attachment)
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
                _leave(attachment)

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

    # -- attaching -----------------------------------------------------------------------------
    def _attach(self, attachment: _Attachment) -> None:
        """Take the side lock, attach the file and bring it to the latest schema (caller holds
        ``attachment.lock``)."""
        if not self.root.is_dir():
            raise CoreError(
                f"No workspace at {self.root}.",
                hint="run `loopline init` (or `loopline demo`), or pass --workspace PATH",
            )
        if attachment.path in _INHERITED:
            raise CoreError(
                "This process was forked while the workspace was open, so it cannot open it.",
                hint="start worker processes with the 'spawn' method, or fork outside a unit of "
                "work",
            )
        attachment.file_lock.acquire(self.busy_timeout)
        try:
            attach_with_retry(attachment, self.busy_timeout)
            self.opens += 1
            if not self._schema_checked:
                self._check_schema(attachment)
        except BaseException:
            _detach(attachment)
            raise

    def _check_schema(self, attachment: _Attachment) -> None:
        cur = _engine_cursor(attachment.alias)
        try:
            if not _still_current(cur, str(self.db_path)):
                from core.store.migrations import ensure_schema

                def reattach(copy: Callable[[], None]) -> duckdb.DuckDBPyConnection:
                    """Detach (checkpointing the file), run ``copy``, attach again."""
                    nonlocal cur
                    cur.close()
                    _engine_execute("DETACH " + _quoted(attachment.alias))
                    copy()
                    attach_with_retry(attachment, self.busy_timeout)
                    cur = _engine_cursor(attachment.alias)
                    return cur

                cur = ensure_schema(cur, self.db_path, reattach)
            self._schema_checked = True
            _CHECKED.add(str(self.db_path))
        finally:
            cur.close()


# -- the process's DuckDB instance -------------------------------------------------------------
# Creating a DuckDB instance costs ~10 ms (its catalog of built-in functions), attaching a file to
# a live one ~1.5 ms and detaching it ~0.3 ms. So each process keeps one in-memory instance for
# its whole life and attaches the workspace file for a unit of work: DuckDB's own lock on the file
# is held only while attached, as before, and other processes open it between our units.


class _Attachment:
    """One workspace file in this process: how many units use it, and its locks."""

    def __init__(self, db_path: Path) -> None:
        self.path = str(db_path)
        self.alias = "ws_" + hashlib.sha1(self.path.encode()).hexdigest()[:16]
        self.lock = threading.Lock()  # attaching and detaching
        self.write_lock = threading.RLock()  # one writer at a time in this process
        self.file_lock = FileLock(db_path.with_name(LOCK_FILE))
        self.users = 0


_ENGINE_LOCK = threading.Lock()
_engine: duckdb.DuckDBPyConnection | None = None
_ATTACHMENTS: dict[str, _Attachment] = {}
_INHERITED: set[str] = set()  # in a forked child: files the parent had open when it forked


def _engine_connection() -> duckdb.DuckDBPyConnection:
    """The in-memory instance (caller holds ``_ENGINE_LOCK``)."""
    global _engine
    if _engine is None:
        spill = Path(tempfile.gettempdir()) / f"loopline-duckdb-{os.getpid()}"
        _engine = duckdb.connect(
            ":memory:",
            config={"threads": min(4, os.cpu_count() or 2), "temp_directory": str(spill)},
        )
    return _engine


def _engine_cursor(alias: str | None = None) -> duckdb.DuckDBPyConnection:
    """A new connection to the instance, its default database the attached file ``alias``."""
    with _ENGINE_LOCK:
        cur = _engine_connection().cursor()
    if alias is not None:
        try:
            cur.execute("USE " + _quoted(alias))
        except BaseException:
            cur.close()
            raise
    return cur


def _engine_execute(sql: str, params: Sequence[Any] | None = None) -> None:
    cur = _engine_cursor()
    try:
        cur.execute(sql, params)
    finally:
        cur.close()


def _quoted(alias: str) -> str:
    return '"' + alias.replace('"', '""') + '"'


def _attachment(db_path: Path) -> _Attachment:
    key = str(db_path)
    with _ENGINE_LOCK:
        found = _ATTACHMENTS.get(key)
        if found is None:
            found = _ATTACHMENTS[key] = _Attachment(db_path)
        return found


def _leave(attachment: _Attachment) -> None:
    """One unit of work less; the last one detaches the file and releases the side lock."""
    with attachment.lock:
        attachment.users -= 1
        if attachment.users == 0:
            _detach(attachment)


def _detach(attachment: _Attachment) -> None:
    try:
        with contextlib.suppress(duckdb.BinderException):  # it was not attached
            _engine_execute("DETACH " + _quoted(attachment.alias))
    finally:
        attachment.file_lock.release()


def _close_before_fork() -> None:
    """Close the instance if no unit of work uses it, so that a forked child starts clean.

    DuckDB keeps a process-wide list of attached files: a child that inherits an instance with a
    file attached can never attach that file itself."""
    global _engine
    if not _ENGINE_LOCK.acquire(blocking=False):
        return
    held: list[_Attachment] = []
    try:
        for attachment in _ATTACHMENTS.values():
            if not attachment.lock.acquire(blocking=False):
                return
            held.append(attachment)
            if attachment.users:
                return
        if _engine is not None:
            _engine.close()
            _engine = None
    finally:
        for attachment in held:
            attachment.lock.release()
        _ENGINE_LOCK.release()


def _forget_after_fork() -> None:
    """A forked child starts with no instance of its own: the parent's threads do not exist here.

    An instance inherited mid-unit (see ``_close_before_fork``) is never destroyed in the child:
    its destructor would wait on the parent's threads. The files it had attached stay out of
    reach for this child, which says so when asked to open one."""
    global _engine, _ENGINE_LOCK
    if _engine is not None:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_engine))
        _engine = None
    _ENGINE_LOCK = threading.Lock()
    for attachment in _ATTACHMENTS.values():
        attachment.file_lock.forget()
        if attachment.users:
            _INHERITED.add(attachment.path)
    _ATTACHMENTS.clear()


os.register_at_fork(before=_close_before_fork, after_in_child=_forget_after_fork)


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

    def forget(self) -> None:
        """In a forked child: close the inherited descriptor without unlocking the parent's lock."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
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


def attach_with_retry(attachment: _Attachment, timeout: float) -> None:
    """Attach the file, waiting with jittered backoff while another process holds it."""
    path = attachment.path
    deadline = time.monotonic() + timeout
    delay = 0.002
    holder = "another process"
    while True:
        try:
            _engine_execute("ATTACH ? AS " + _quoted(attachment.alias), [path])
            return
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                reason = text.splitlines()[0]
                if "not a valid DuckDB database file" in text:
                    raise SchemaError(
                        f"{path} is not a Loopline workspace file: {reason}",
                        hint="point --workspace at a folder made by `loopline init`",
                    ) from exc
                raise SchemaError(
                    f"Cannot open the workspace file {path}: {reason}",
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
