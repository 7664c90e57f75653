"""The process's one DuckDB instance, the workspace files attached to it, and the side lock.

Creating a DuckDB instance costs ~10 ms (its catalog of built-in functions), attaching a file to a
live one ~1.5 ms and detaching it ~0.3 ms. So each process keeps one in-memory instance for its
whole life and attaches a workspace file for a unit of work (``core.store.connection.Store``):
DuckDB's own lock on the file is held only while attached, and other processes open it between
our units.
"""

from __future__ import annotations

import atexit
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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.errors import SchemaError, WorkspaceBusy

LOCK_FILE = "loopline.lock"
# Detaching leaves committed changes in the write-ahead log until it holds this much; the next
# attach (of any process) replays it. A checkpoint at every detach rewrote the file's changed
# blocks for each small write (~10 ms, most of a labeling call); replaying a few KB costs ~1 ms.
CHECKPOINT_WAL_BYTES = 8 * 1024
# A process waiting for the side lock polls it, backing off from 0.5 ms to this: it notices a
# release up to one poll (x 1.5 jitter) late. With 20 ms a labeling call that waited behind a
# writer's batch started 10-13 ms after the batch ended (p95 25-28 ms); with 2 ms, 2.5-3.5 ms
# (p95 7-8 ms, load 3-5). Polling costs no CPU worth measuring next to the wait.
LOCK_POLL_MAX_SECONDS = 0.002
_LOCK_HELD = re.compile(r"PID (\d+)")


class Attachment:
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
_ATTACHMENTS: dict[str, Attachment] = {}
INHERITED: set[str] = set()  # in a forked child: files the parent had open when it forked


def _engine_connection() -> duckdb.DuckDBPyConnection:
    """The in-memory instance (caller holds ``_ENGINE_LOCK``)."""
    global _engine
    if _engine is None:
        spill = Path(tempfile.gettempdir()) / f"loopline-duckdb-{os.getpid()}"
        _engine = duckdb.connect(
            ":memory:",
            config={
                "threads": min(4, os.cpu_count() or 2),
                "temp_directory": str(spill),
                "checkpoint_on_detach": "DISABLED",  # detach() checkpoints when it is worth it
            },
        )
        # a Parquet file's footer is parsed once per process (DuckDB re-reads it when the
        # file's modification time changes; dataset files never change)
        with contextlib.suppress(duckdb.Error):  # an optimisation only (seen once failing to
            _engine.execute("SET GLOBAL parquet_metadata_cache = true")  # autoload parquet)
    return _engine


def engine_cursor(alias: str | None = None) -> duckdb.DuckDBPyConnection:
    """A new connection to the instance, its default database the attached file ``alias``."""
    with _ENGINE_LOCK:
        cur = _engine_connection().cursor()
    if alias is not None:
        try:
            cur.execute("USE " + quoted(alias))
        except BaseException:
            cur.close()
            raise
    return cur


def engine_execute(sql: str, params: Sequence[Any] | None = None) -> None:
    cur = engine_cursor()
    try:
        cur.execute(sql, params)
    finally:
        cur.close()


def quoted(alias: str) -> str:
    return '"' + alias.replace('"', '""') + '"'


def attachment_for(db_path: Path) -> Attachment:
    key = str(db_path)
    with _ENGINE_LOCK:
        found = _ATTACHMENTS.get(key)
        if found is None:
            found = _ATTACHMENTS[key] = Attachment(db_path)
        return found


def leave(attachment: Attachment) -> None:
    """One unit of work less; the last one detaches the file and releases the side lock."""
    with attachment.lock:
        attachment.users -= 1
        if attachment.users == 0:
            detach(attachment)


def detach(attachment: Attachment) -> None:
    """Detach the file (checkpointing it first once its WAL has grown) and release the lock."""
    try:
        with contextlib.suppress(duckdb.BinderException):  # it was not attached
            if wal_bytes(attachment.path) > CHECKPOINT_WAL_BYTES:
                engine_execute("CHECKPOINT " + quoted(attachment.alias))
            engine_execute("DETACH " + quoted(attachment.alias))
    finally:
        attachment.file_lock.release()


def wal_bytes(path: str) -> int:
    """The size of the file's write-ahead log (0 when there is none)."""
    try:
        return os.stat(path + ".wal").st_size
    except OSError:
        return 0


def _close_when_idle() -> None:
    """Close the instance if no unit of work uses it: before a fork, so that the child starts
    clean, and at exit, so that DuckDB stops its threads while the interpreter is whole.

    DuckDB keeps a process-wide list of attached files: a child that inherits an instance with a
    file attached can never attach that file itself. And an instance left to the interpreter's
    teardown can abort the process as it goes ("terminate called without an active exception",
    exit -6 after a command had done its work, once in a test run; duckdb/duckdb#13904)."""
    global _engine
    if not _ENGINE_LOCK.acquire(blocking=False):
        return
    held: list[Attachment] = []
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

    An instance inherited mid-unit (see ``_close_when_idle``) is never destroyed in the child:
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
            INHERITED.add(attachment.path)
    _ATTACHMENTS.clear()


os.register_at_fork(before=_close_when_idle, after_in_child=_forget_after_fork)
atexit.register(_close_when_idle)


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
                delay = min(delay * 2, LOCK_POLL_MAX_SECONDS)
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


def attach_with_retry(attachment: Attachment, timeout: float) -> None:
    """Attach the file, waiting with jittered backoff while another process holds it."""
    path = attachment.path
    deadline = time.monotonic() + timeout
    delay = 0.002
    holder = "another process"
    while True:
        try:
            engine_execute("ATTACH ? AS " + quoted(attachment.alias), [path])
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
