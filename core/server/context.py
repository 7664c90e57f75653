"""What the server's routes share: the workspace's client and support, the callable methods,
the limits, the kept writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from core.api import SYSTEM, Actor, Client
from core.api.server_support import ServerSupport
from core.server import uploads
from core.server.auth import authenticate, bearer_token, client_address
from core.server.dispatch import callable_methods
from core.server.idempotency import Requests
from core.server.linger import Linger

CLEAN_EVERY_SECONDS = 3600.0


class Server:
    """What the routes share: the workspace, its support, the methods, the limits."""

    def __init__(
        self, workspace: Path, *, max_body_bytes: int, max_upload_bytes: int, trust_proxy: bool
    ) -> None:
        self.base = Client(workspace, SYSTEM)
        self.base.workspace  # noqa: B018 - a missing workspace is refused now, not per request
        self.support = ServerSupport(self.base)
        self.methods = callable_methods(self.base)
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.trust_proxy = trust_proxy
        self.requests = Requests()
        self.linger = Linger(self.support)
        self.cleaned = time.monotonic()

    def start(self) -> None:
        """Remove the uploads a stopped server left (``.part``, older than a day), drop the
        claims of writes it did not finish and the responses kept for over a day."""
        self.support.clean_uploads(parts_older_than=timedelta(0))
        self.support.forget_unfinished()
        self.support.forget_old_requests()
        self.cleaned = time.monotonic()

    def clean_now_and_then(self) -> None:
        """At most once an hour (called on uploads and writes): remove the uploads unused for a
        day and the responses kept for over a day."""
        if time.monotonic() - self.cleaned > CLEAN_EVERY_SECONDS:
            self.cleaned = time.monotonic()
            self.support.clean_uploads()
            self.support.forget_old_requests()

    async def actor(self, request: Request) -> Actor:
        token = bearer_token(request)
        address = client_address(request, trust_proxy=self.trust_proxy)
        return await run_in_threadpool(authenticate, self.support, token, address)

    def support_for(self, actor: Actor) -> ServerSupport:
        return ServerSupport(self.base.acting_as(actor))

    def upload_path(self, used: list[str]) -> Callable[[str], Path]:
        def find(upload_id: str) -> Path:
            path = uploads.uploaded_file(self.support.uploads, upload_id)
            used.append(upload_id)
            return path

        return find
