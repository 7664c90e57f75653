"""The HTTP server's routes: health, one route per public API method, uploads, object downloads.

Every route but ``/health`` and the OpenAPI pages authenticates the request's API token and acts
as its user, with reads checked against that user (``in_session``) and writes checked by core as
for the CLI. Core's calls run in the thread pool, so the event loop stays free.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from core.api import SYSTEM, Actor, Client, CoreError, InvalidInput, in_session, serialise
from core.api.server_support import VERSION, KeptResponse, ServerSupport
from core.server import uploads
from core.server.auth import authenticate, bearer_token, client_address
from core.server.convert import ArgumentError
from core.server.dispatch import NOT_CALLABLE, WRITE, Method, callable_methods
from core.server.errors import ApiError, core_error, error_response, internal_error
from core.server.idempotency import Requests

API_VERSION = 1
MiB = 1 << 20
DEFAULT_MAX_BODY = 16 * MiB
DEFAULT_MAX_UPLOAD = 2 * 1024 * MiB
CLEAN_EVERY_SECONDS = 3600.0
SMALL_BODY = 1 * MiB  # read before the token is checked (then one unit of work for both)
JSON_TYPE = "application/json"
BYTES_TYPE = "application/octet-stream"

log = logging.getLogger("loopline.server")


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
        self.cleaned = time.monotonic()

    def start(self) -> None:
        """Remove the uploads a stopped server left (``.part``, older than a day) and drop the
        claims of writes it did not finish."""
        self.support.clean_uploads(parts=True)
        self.support.forget_unfinished()
        self.cleaned = time.monotonic()

    def clean_now_and_then(self) -> None:
        """Remove the uploads unused for a day, at most once an hour (called on uploads)."""
        if time.monotonic() - self.cleaned > CLEAN_EVERY_SECONDS:
            self.cleaned = time.monotonic()
            self.support.clean_uploads()

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


def create_app(
    workspace: Path,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    trust_proxy: bool = False,
) -> FastAPI:
    """The server over the workspace at ``workspace`` (CoreError when there is none)."""
    server = Server(
        Path(workspace),
        max_body_bytes=max_body_bytes,
        max_upload_bytes=max_upload_bytes,
        trust_proxy=trust_proxy,
    )
    server.start()
    app = FastAPI(
        title="Loopline",
        version=VERSION,
        description="Loopline's public API over HTTP: `POST /api/v1/call/{area}/{method}` with "
        "the method's keyword arguments as a JSON object, `Authorization: Bearer <API token>`. "
        "See docs/team.md.",
    )
    app.state.server = server
    _errors(app)
    _health(app)
    for method in server.methods.values():
        _call_route(app, server, method)
    _unknown_call_route(app, server)
    _upload_route(app, server)
    _object_route(app, server)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error.response()

    @app.exception_handler(CoreError)
    async def refused(request: Request, error: CoreError) -> Response:
        return core_error(error).response()  # e.g. the workspace busy while a token is checked

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "InvalidInput", f"{where}: {first.get('msg', 'invalid')}.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return error_response(
                404,
                "NotFound",
                f"No route {request.method} {request.url.path[:200]}.",
                hint="GET /docs lists the routes",
            )
        return error_response(error.status_code, "InvalidInput", str(error.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return internal_error().response()


def _health(app: FastAPI) -> None:
    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        """The server is up (no token needed)."""
        return {"status": "ok", "version": VERSION, "api": API_VERSION}


def _call_route(app: FastAPI, server: Server, method: Method) -> None:
    async def call(request: Request) -> Response:
        return await _call(server, method, request)

    doc = (
        getattr(getattr(type(getattr(server.base, method.area)), method.name), "__doc__", "") or ""
    )
    app.add_api_route(
        f"/api/v1/call/{method.area}/{method.name}",
        call,
        methods=["POST"],
        name=method.key,
        summary=f"{method.key} ({method.kind})",
        description=doc,
        tags=[method.area],
        openapi_extra={"requestBody": _request_schema(method)},
    )


def _request_schema(method: Method) -> dict[str, Any]:
    properties = {
        name: {"description": str(method.hints.get(name, "any")).replace("collections.abc.", "")}
        for name in method.parameters
    }
    required = [n for n, p in method.parameters.items() if p.default is p.empty]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"content": {JSON_TYPE: {"schema": schema}}, "required": bool(required)}


def _unknown_call_route(app: FastAPI, server: Server) -> None:
    @app.post("/api/v1/call/{area}/{method}", include_in_schema=False)
    async def unknown(request: Request, area: str, method: str) -> Response:
        await server.actor(request)
        key = f"{area}.{method}"[:200]
        if key in NOT_CALLABLE:
            raise ApiError(404, "NotFound", f"{key} is not callable over HTTP.")
        area_object = getattr(server.base, area, None) if not area.startswith("_") else None
        if area_object is not None and hasattr(type(area_object), method):
            raise ApiError(
                404,
                "NotFound",
                f"{key} is not callable over HTTP (a helper the client runs locally, or private).",
            )
        raise ApiError(
            404,
            "NotFound",
            f"No API method {key}.",
            hint="GET /docs lists them: client.<area>.<method> of core.api.Client",
        )


async def _call(server: Server, method: Method, request: Request) -> Response:
    """Check the token, read the body, run the method (a write once per request id), answer.

    A small body is read first, and the token check and the call share one unit of work (the
    workspace file is attached once); a large or unannounced one only after the token is checked.
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
        with server.support.unit_of_work():
            actor = checked or authenticate(server.support, token, address)
            if method.kind != WRITE or not request_id:
                return _run(server, method, actor, body)
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


def _kept(error: ApiError) -> KeptResponse:
    body = {
        "error": {"kind": error.kind, "message": error.message, "hint": error.hint, **error.extra}
    }
    return KeptResponse(error.status, JSON_TYPE, ServerSupport.json_body(body))


def _upload_route(app: FastAPI, server: Server) -> None:
    @app.post("/api/v1/uploads", status_code=201, tags=["files"])
    async def upload(request: Request) -> JSONResponse:
        """Upload a file as the raw body (headers X-Content-SHA256, X-File-Name,
        Content-Length); its id, passed to a method as ``{"$upload": id}``."""
        await server.actor(request)
        await run_in_threadpool(server.clean_now_and_then)
        answer = await uploads.receive(request, server.support.uploads, server.max_upload_bytes)
        return JSONResponse(answer, status_code=201)


def _object_route(app: FastAPI, server: Server) -> None:
    @app.get("/api/v1/objects/{sha256}", tags=["files"])
    async def download(request: Request, sha256: str) -> FileResponse:
        """A content-addressed object of the workspace (a dataset's, label set's or model's
        file), streamed; header X-Content-SHA256."""
        actor = await server.actor(request)
        try:
            path = await run_in_threadpool(_object_path, server, actor, sha256)
        except CoreError as error:
            raise core_error(error) from None
        return FileResponse(
            path,
            media_type=BYTES_TYPE,
            headers={"X-Content-SHA256": sha256.lower()},
        )


def _object_path(server: Server, actor: Actor, sha256: str) -> Path:
    with in_session(actor):
        return server.support_for(actor).object_path(sha256)
