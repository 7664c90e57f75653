"""The prediction service's HTTP plumbing: bodies read with a byte limit, JSON answers, refusals.

A refusal is raised as :class:`Refused` (status, ``{"error", "hint"}`` payload, headers) from
anywhere in a request's handling; the app turns it into the response. Every refusal says what is
wrong and how to fix it, like a :class:`~core.errors.CoreError` does on the other surfaces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.types import Receive

from core.errors import CoreError, Forbidden, WorkspaceBusy
from core.serving.requests import MAX_BATCH, BadRequest

MAX_BODY_BYTES = 1_000_000


class Refused(Exception):
    """A request the service answers with ``status`` and ``payload`` (and ``headers``)."""

    def __init__(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(payload.get("error"))
        self.status = status
        self.payload = payload
        self.headers = headers


def json_response(payload: Any, status: int = 200) -> Response:
    """Compact JSON, non-ASCII text kept as it is."""
    return Response(json_bytes(payload), status_code=status, media_type="application/json")


def bad_request(bad: BadRequest) -> Response:
    """A refused body: the first problems in the message, up to 100 of them listed by field."""
    return json_response(refused_body(bad), bad.status)


def refused_body(bad: BadRequest) -> dict[str, Any]:
    """What :func:`bad_request` answers."""
    count = len(bad.problems)
    return {
        "error": f"{bad.message} ({count} problem{'s' if count != 1 else ''}): "
        + "; ".join(f"{p.field}: {p.problem}" for p in bad.problems[:3])
        + (" …" if count > 3 else ""),
        "problems": [p.as_dict() for p in bad.problems[:100]],
        "hint": "GET /model lists the fields, their types and allowed values",
    }


class Unavailable(CoreError):
    """What the service needs for a request cannot be reached now (a serving host's server)."""


def refusal(error: CoreError) -> Refused:
    """A token check or feedback record refused: 403, or 503 while the workspace is busy or
    what checks it is unreachable."""
    if isinstance(error, Unavailable):
        return Refused(503, {"error": error.message, "hint": error.hint})
    if isinstance(error, WorkspaceBusy):
        return Refused(503, {"error": error.message, "hint": "try again in a moment"})
    if isinstance(error, Forbidden):
        return Refused(
            403, {"error": error.message, "hint": error.hint}, {"WWW-Authenticate": "Bearer"}
        )
    return Refused(403, {"error": error.message, "hint": error.hint})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    check_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(None, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def check_length(declared: str | None, limit: int) -> None:
    """A declared Content-Length that is not a number (400) or is over ``limit`` (413)."""
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, {"error": f"Content-Length {declared[:20]!r} is not a number."})
        if int(declared) > limit:
            raise _too_large(int(declared), limit)


class Disconnected(Exception):
    """The client went away before its body was read: there is no one to answer."""


async def read_asgi_body(
    headers: Sequence[tuple[bytes, bytes]], receive: Receive, limit: int
) -> bytes:
    """:func:`read_body` on the raw ASGI messages (the /predict fast path: no Request object)."""
    declared = None
    for name, value in headers:
        if name == b"content-length":
            declared = value.decode("latin-1")
            break
    check_length(declared, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(None, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_bytes(payload: Any) -> bytes:
    """What :func:`json_response` sends: compact JSON, non-ASCII text kept as it is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _too_large(size: int | None, limit: int) -> Refused:
    said = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return Refused(
        413,
        {
            "error": f"The body is {said}; this service takes at most {limit:,} bytes.",
            "hint": f"send smaller batches (at most {MAX_BATCH} items), or start the service "
            "with a larger --max-body-bytes",
        },
        {"Connection": "close"},
    )
