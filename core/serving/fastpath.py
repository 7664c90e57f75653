"""``POST /predict`` straight from the ASGI messages, ahead of FastAPI's routing.

A prediction is a fraction of a millisecond of model time; FastAPI's way to it (the route table,
the ``Request`` object, dependency solving, the exit stack, the ``Response`` object) cost about
as much again per request. :class:`PredictPath` sits in front of the app as a plain ASGI
middleware: ``POST /predict`` is read (with the same byte limit), answered by the service's
``answer`` and sent as two ASGI messages; everything else (``/health``, ``/model``,
``/feedback``, the OpenAPI pages, the lifespan) goes on to the app unchanged. The ``/predict``
route stays registered, so the OpenAPI page still describes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from core.serving.http import Disconnected, Refused, json_bytes, read_asgi_body
from core.store import utcnow

Answer = Callable[[bytes, str | None, datetime], Awaitable[tuple[int, dict[str, Any]]]]
PATH = "/predict"


class PredictPath:
    """Answers ``POST /predict`` with ``answer(body, canary key, received)``; passes the rest."""

    def __init__(self, app: ASGIApp, answer: Answer, max_body_bytes: int) -> None:
        self.app, self.answer, self.max_body_bytes = app, answer, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        received = utcnow()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            body = await read_asgi_body(headers, receive, self.max_body_bytes)
        except Disconnected:
            return
        except Refused as refused:
            extra = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in (refused.headers or {}).items()
            ]
            await _send(send, refused.status, json_bytes(refused.payload), extra)
            return
        key = None
        for name, value in headers:
            if name == b"x-canary-key":
                key = value.decode("latin-1")
                break
        status, payload = await self.answer(body, key, received)
        await _send(send, status, json_bytes(payload))


async def _send(
    send: Send, status: int, content: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(content)).encode("latin-1")),
                (b"content-type", b"application/json"),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
