"""Keeping the workspace file attached through a burst of requests.

Core attaches the DuckDB file for each unit of work and detaches it when the last one ends, so
that other processes on the machine (the app, a local command, a backup) can open it between
them. Sequential requests from one client would then attach and detach it several times each
(a token check, a claim, the call, the kept response). ``Linger`` holds one idle unit of work in
a thread of its own until ``seconds`` after the latest request: a burst attaches the file once,
a long call does not hold it past that time, and other processes wait at most that long after
the server goes quiet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.api.server_support import ServerSupport

LINGER_SECONDS = 0.5


class Linger:
    def __init__(self, support: ServerSupport, seconds: float = LINGER_SECONDS) -> None:
        self._support = support
        self._seconds = seconds
        self._until = 0.0
        self._holding: threading.Thread | None = None
        self._changed = threading.Condition()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Around a request: the file is held from its start until ``seconds`` after its end."""
        self.touch()
        try:
            yield
        finally:
            self.touch()

    def touch(self) -> None:
        """A request starts or ends: hold the file until ``seconds`` from now."""
        with self._changed:
            self._until = time.monotonic() + self._seconds
            if self._holding is not None:
                return
            self._holding = threading.Thread(target=self._hold, name="loopline-linger", daemon=True)
            self._holding.start()

    def close(self) -> None:
        """Let go of the file now (the server is stopping)."""
        with self._changed:
            self._until = 0.0
            self._changed.notify_all()
            holding = self._holding
        if holding is not None:
            holding.join(timeout=30)

    def _hold(self) -> None:
        try:
            with self._support.unit_of_work(), self._changed:
                while (left := self._until - time.monotonic()) > 0:
                    self._changed.wait(left)
                self._holding = None
        except BaseException:  # the file could not be attached: the requests attach it themselves
            with self._changed:
                self._holding = None
