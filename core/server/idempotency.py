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


class Requests:
    """The writes this server runs, by (user, request id).

    One server process serves a workspace: a claim marked running in the table that no thread
    of this process runs is a leftover (a server stopped mid-write) and is taken over."""

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
            with self._lock:
                running = self._running.get(key)
                if running is None:
                    mine = self._running[key] = threading.Event()
            if running is None:
                break
            running.wait()  # a retry while the first attempt runs: wait for its answer
        try:
            return self._once(support, key, method, work)
        finally:
            with self._lock:
                self._running.pop(key, None)
            mine.set()

    def _once(
        self,
        support: ServerSupport,
        key: tuple[str, str],
        method: str,
        work: Callable[[], KeptResponse],
    ) -> KeptResponse:
        try:
            kept = support.claim_request(*key, method)
        except RequestRunning:  # nobody here runs it: a stopped server's leftover
            support.forget_request(*key)
            kept = support.claim_request(*key, method)
        if kept is not None:
            return kept
        try:
            response = work()
        except BaseException:
            support.forget_request(*key)
            raise
        if response.status == 409 or response.status >= 500:
            support.forget_request(*key)
        else:
            support.keep_response(*key, response)
        return response
