"""Who owns a running build: the process holding ``locks/build-<id>.lock``.

A build takes an exclusive ``flock`` on its lock file before its row says ``running`` and keeps it
until the row is closed. The kernel releases a flock when its process ends, however it ends
(SIGKILL included), so anyone who can take the lock knows the build's process is gone; a reused
pid cannot fool the check. The file also says which pid on which host took it, for people.

A lock is held by an open file description: a process forked (not exec'd) during the build shares
it and keeps the build alive until it exits too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

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
    """False when no process holds the build's lock: its file is gone (an older Loopline, or the
    owner cleaned up) or the lock can be taken."""
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
    """Remove a dead build's lock file."""
    with contextlib.suppress(OSError):
        lock_path(root, build_id).unlink()
