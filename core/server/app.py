"""The HTTP server's routes: health, one route per public API method, uploads, object downloads.

Every route but ``/health`` and the OpenAPI pages authenticates the request's API token and acts
as its user, with reads checked against that user (``in_session``) and writes checked by core as
for the CLI. Core's calls run in the thread pool, so the event loop stays free.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from core.api import Actor, CoreError, in_session
from core.api.server_support import VERSION
from core.server import calls, uploads
from core.server.calls import BYTES_TYPE, JSON_TYPE, MiB
from core.server.context import Server
from core.server.dispatch import NOT_CALLABLE, Method
from core.server.errors import ApiError, core_error, error_response, internal_error

API_VERSION = 1
DEFAULT_MAX_BODY = 16 * MiB
DEFAULT_MAX_UPLOAD = 2 * 1024 * MiB

log = logging.getLogger("loopline.server")


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(server.linger.close)  # the workspace file is let go of at once

    app = FastAPI(
        lifespan=lifespan,
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
        return await calls.call(server, method, request)

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
