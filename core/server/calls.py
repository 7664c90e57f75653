"""``POST /api/v1/call/{area}/{method}``: check the token, read the JSON body, bind it to the
method's parameters, run it as the token's user (a write once per ``X-Request-Id``), answer JSON
(``{"result": …}``) or raw bytes, or the refusal as ``{"error": …}``."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from core.api import Actor, CoreError, InvalidInput, in_session, serialise
from core.api.server_support import KeptResponse, ServerSupport
from core.server import uploads
from core.server.auth import authenticate, bearer_token, client_address
from core.server.context import Server
from core.server.convert import ArgumentError
from core.server.dispatch import WRITE, Method
from core.server.errors import ApiError, core_error, internal_error

MiB = 1 << 20
SMALL_BODY = 1 * MiB  # read before the token is checked (then one unit of work for both)
JSON_TYPE = "application/json"
BYTES_TYPE = "application/octet-stream"

log = logging.getLogger("loopline.server")


async def call(server: Server, method: Method, request: Request) -> Response:
    """Check the token, read the body, run the method (a write once per request id), answer.

    A small body is read before the token is checked (in the same thread as the call); a large or
    unannounced one only after. The workspace file stays attached through a burst of requests
    (``Linger``).
    """
    _check_length(request, server.max_body_bytes)
    token = bearer_token(request)
    address = client_address(request, trust_proxy=server.trust_proxy)
    request_id = request.headers.get("x-request-id")
    if method.kind == WRITE and request_id:
        request_id = _request_id(server, request_id)
    checked: Actor | None = None
    if _announced_length(request) > SMALL_BODY:
        checked = await run_in_threadpool(authenticate, server.support, token, address)
    body = await _json_body(request, server.max_body_bytes)

    def serve() -> KeptResponse:
        with server.linger.held():
            actor = checked or authenticate(server.support, token, address)
            if method.kind != WRITE or not request_id:
                return _run(server, method, actor, body)
            server.clean_now_and_then()
            return server.requests.run(
                server.support,
                actor.name,
                request_id,
                method.key,
                lambda: _run(server, method, actor, body),
            )

    try:
        kept = await run_in_threadpool(serve)
    except InvalidInput as error:  # the request id was used for another method
        raise ApiError(422, "InvalidInput", error.message, error.hint) from None
    headers = {}
    if kept.media_type == BYTES_TYPE:
        headers["X-Content-SHA256"] = hashlib.sha256(kept.body).hexdigest()
    return Response(kept.body, status_code=kept.status, media_type=kept.media_type, headers=headers)


def _request_id(server: Server, request_id: str) -> str:
    try:
        return server.support.check_request_id(request_id)
    except InvalidInput as error:
        raise ApiError(422, "InvalidInput", error.message, error.hint) from None


def _announced_length(request: Request) -> int:
    """The Content-Length, or more than any small body when it is not announced."""
    length = request.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else SMALL_BODY + 1


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _body_too_large(limit)


def _body_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "InvalidInput",
        f"The request body is larger than this server takes ({limit:,} bytes).",
        hint="send files with POST /api/v1/uploads; the admin raises the limit with "
        "`loopline server --max-body-bytes N`",
    )


async def _json_body(request: Request, limit: int) -> Any:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _body_too_large(limit)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(
            422,
            "InvalidInput",
            f"The body is not valid JSON: {str(error)[:200]}.",
            hint="send a JSON object of the method's keyword arguments",
        ) from None


def _run(server: Server, method: Method, actor: Actor, body: Any) -> KeptResponse:
    """Bind, call as ``actor`` and answer: the response as it is sent (and kept for a write)."""
    used: list[str] = []
    try:
        kwargs = method.bind(body, server.upload_path(used))
        with in_session(actor):
            result = method.call(server.base.acting_as(actor), kwargs)
    except ArgumentError as error:
        return _kept(ApiError(422, "InvalidInput", error.message, error.hint))
    except RecursionError:
        return _kept(_too_deep())
    except CoreError as error:
        return _kept(core_error(error))
    except Exception:
        log.exception("unexpected error in %s", method.key)
        return _kept(internal_error())
    uploads.remove(server.support.uploads, used)
    if isinstance(result, bytes | bytearray):
        return KeptResponse(200, BYTES_TYPE, bytes(result))
    try:
        payload = ServerSupport.json_body({"result": serialise(result)})
    except (TypeError, ValueError):
        log.exception("no JSON form for the result of %s", method.key)
        return _kept(internal_error())
    return KeptResponse(200, JSON_TYPE, payload)


def _too_deep() -> ApiError:
    return ApiError(
        422,
        "InvalidInput",
        "The body is nested too deeply.",
        hint="send the method's keyword arguments as a plain JSON object",
    )


def _kept(error: ApiError) -> KeptResponse:
    body = {
        "error": {"kind": error.kind, "message": error.message, "hint": error.hint, **error.extra}
    }
    return KeptResponse(error.status, JSON_TYPE, ServerSupport.json_body(body))
