"""Who owns a running build: the process holding ``locks/build-<id>.lock``.

A build takes an exclusive ``flock`` on its lock file before its row says ``running`` and keeps it
until the row is closed. The kernel releases a flock when its process ends, however it ends
(SIGKILL included), so anyone who can take the lock knows the build's process is gone; a reused
pid cannot fool the check. The file also says which pid on which host took it, for people.

A lock is held by an open file description: a process forked (not exec'd) during the build shares
it and keeps the build alive until it exits too.

A remote build (one trained on a CI runner, core/builds/remote.py) has no process here to hold a
lock: it holds a **lease** instead, ``locks/build-<id>.lease``, a small JSON file with the moment
it lapses (and what the build was started with). The runner renews it while it trains; when it
stops renewing (killed, cut off, or the server itself was down too long) the lease lapses and the
build counts as dead, exactly like a build whose lock is free.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

LOCKS = "locks"


def lock_path(root: Path, build_id: int) -> Path:
    return root / LOCKS / f"build-{int(build_id)}.lock"


class BuildOwner:
    """The running build's hold on its lock file; ``release`` (or the process's end) lets go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, root: Path, build_id: int) -> BuildOwner:
        """Take the lock of a new build (it is free: build ids are never reused)."""
        path = lock_path(root, build_id)
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Remove the file, then let go of the lock (a reader that still opened it finds the
        build's row already closed)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> BuildOwner:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def owner_is_alive(root: Path, build_id: int) -> bool:
    """False when no process holds the build's lock (its file is gone: an older Loopline, or the
    owner cleaned up; or the lock can be taken) and no runner holds a lease that has not lapsed."""
    lease = read_lease(root, build_id)
    if lease is not None:
        return float(lease["expires"]) > time.time()
    try:
        fd = os.open(lock_path(root, build_id), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the lock if we took it
    return False


def forget(root: Path, build_id: int) -> None:
    """Remove a dead build's lock (or lease) file."""
    with contextlib.suppress(OSError):
        lock_path(root, build_id).unlink()
    with contextlib.suppress(OSError):
        lease_path(root, build_id).unlink()


def lease_path(root: Path, build_id: int) -> Path:
    return root / LOCKS / f"build-{int(build_id)}.lease"


def write_lease(root: Path, build_id: int, seconds: float, state: dict[str, Any]) -> float:
    """Hold (or renew) a remote build's lease for ``seconds`` from now, with ``state`` (what the
    build was started with); the moment it lapses, in seconds since the epoch. Written to a
    temporary file and renamed, so a reader sees the old lease or the new one."""
    expires = time.time() + seconds
    path = lease_path(root, build_id)
    path.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({**state, "expires": expires, "lease_s": seconds}, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return expires


def read_lease(root: Path, build_id: int) -> dict[str, Any] | None:
    """A remote build's lease (None: it has none, or it was released)."""
    try:
        found: dict[str, Any] = json.loads(lease_path(root, build_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:  # torn by a crash mid-write: it cannot say the build is alive
        return {"expires": 0.0}
    return found
