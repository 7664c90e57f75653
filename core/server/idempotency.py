"""Retried writes are answered, not redone: a write's response is kept under (user,
``X-Request-Id``) in the workspace (``api_requests``); the same id again returns the kept
response, and a retry arriving while the first attempt runs waits for it.

What is kept: every answer but a conflict (409: the workspace was busy, worth a real retry) and a
server failure (5xx). A claim whose write did not finish (the server stopped) is dropped when the
server starts, so a retry then runs the write again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.api.server_support import KeptResponse, RequestRunning, ServerSupport

_POLL_SECONDS = 0.5  # a first attempt in another thread is watched this often


class Requests:
    """The writes this server runs, by (user, request id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], threading.Event] = {}

    def run(
        self,
        support: ServerSupport,
        user: str,
        request_id: str,
        method: str,
        work: Callable[[], KeptResponse],
    ) -> KeptResponse:
        """``work``'s response, run once for this request id (a kept one when it ran before)."""
        key = (user, request_id)
        while True:
            try:
                kept = support.claim_request(user, request_id, method)
            except RequestRunning:
                self._wait(key)
                continue
            if kept is not None:
                return kept
            return self._first(support, key, method, work)

    def _first(
        self,
        support: ServerSupport,
        key: tuple[str, str],
        method: str,
        work: Callable[[], KeptResponse],
    ) -> KeptResponse:
        done = threading.Event()
        with self._lock:
            self._running[key] = done
        try:
            response = work()
        except BaseException:
            support.forget_request(*key)
            raise
        else:
            if response.status == 409 or response.status >= 500:
                support.forget_request(*key)
            else:
                support.keep_response(*key, response)
            return response
        finally:
            with self._lock:
                self._running.pop(key, None)
            done.set()

    def _wait(self, key: tuple[str, str]) -> None:
        with self._lock:
            running = self._running.get(key)
        if running is None:
            threading.Event().wait(_POLL_SECONDS)
        else:
            running.wait(_POLL_SECONDS * 20)
