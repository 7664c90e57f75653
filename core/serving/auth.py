"""Who sends feedback: bearer tokens, checked against the workspace and remembered briefly.

``/predict`` is open; ``/feedback`` needs ``Authorization: Bearer <token>``. The check itself
(:func:`token_authenticator`, one short read of the workspace) runs in the thread pool, and a
token that passed is remembered for ``TOKEN_CACHE_SECONDS``, so a busy feedback client does not
open the workspace on every request; the audit row of each feedback request checks the actor's
role again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from core.accounts.access import authorize
from core.accounts.tokens import verify_token
from core.actor import Actor
from core.errors import CoreError
from core.serving.http import Refused, refusal
from core.store import Workspace

Authenticate = Callable[[str], Actor]
TOKEN_CACHE_SECONDS = 10.0  # a revoked token stops working within this time


class BearerAuth:
    """The actor behind a request's bearer token, or a refusal (401, 403, or 503 without a way
    to check tokens or while the workspace is busy)."""

    def __init__(self, authenticate: Authenticate | None) -> None:
        self.authenticate = authenticate
        self._tokens: dict[str, tuple[Actor, float]] = {}  # sha256 of the token → actor, until
        self._lock = threading.Lock()

    async def __call__(self, request: Request) -> Actor:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(
                401,
                {
                    "error": "Feedback needs a token: send the header 'Authorization: Bearer <token>'.",
                    "hint": "create a token with `loopline tokens create` (an account with the right role)",
                },
                {"WWW-Authenticate": "Bearer"},
            )
        if self.authenticate is None:
            raise Refused(
                503,
                {
                    "error": "This service was started without a way to check tokens; feedback is off.",
                    "hint": "start it with `loopline serve`, which checks the workspace's tokens",
                },
            )
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            actor = await run_in_threadpool(self.authenticate, token.strip())
        except CoreError as error:
            raise refusal(error) from None
        with self._lock:
            self._tokens[key] = (actor, now + TOKEN_CACHE_SECONDS)
        return actor


def token_authenticator(ws: Workspace, project: str) -> Authenticate:
    """Checks a bearer token against the workspace's API tokens and the ``feedback`` permission,
    in one short read of the workspace."""

    def check(token: str) -> Actor:

        with ws.store.read():
            actor = verify_token(ws, token, via="service")
            authorize(ws, actor, "feedback", project)
        return actor

    return check
