"""Every refusal as one JSON shape: ``{"error": {"kind", "message", "hint"}}`` with its status.

A CoreError keeps its class name as ``kind`` and its message and hint as the CLI prints them;
the status says what sort of refusal it is (400 bad input, 401 no valid token, 403 the role lacks
the right, 404 not found, 409 a conflict, 413 too large, 422 a request that does not fit the API).
Anything else is a bug: 500 with ``kind`` InternalError and no details of the server.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from core.api import CoreError, Forbidden, IngestRefused, NotFound, serialise

_CONFLICTS = ("WorkspaceBusy", "ConflictError", "Immutable", "RequestRunning")


class ApiError(Exception):
    """A refusal decided by the server itself (auth, limits, a body that does not fit)."""

    def __init__(
        self, status: int, kind: str, message: str, hint: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.hint = hint
        self.extra = extra

    def response(self) -> JSONResponse:
        return error_response(self.status, self.kind, self.message, self.hint, **self.extra)


def error_response(
    status: int, kind: str, message: str, hint: str | None = None, **extra: Any
) -> JSONResponse:
    body = {"kind": kind, "message": message, "hint": hint, **extra}
    return JSONResponse({"error": body}, status_code=status)


def status_of(error: CoreError) -> int:
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, IngestRefused):
        return 422
    if any(cls.__name__ in _CONFLICTS for cls in type(error).__mro__):
        return 409
    return 400


def core_error(error: CoreError) -> ApiError:
    """A CoreError raised by a method, as the server answers it."""
    extra: dict[str, Any] = {}
    if isinstance(error, IngestRefused):
        extra = {"problems": serialise(list(error.problems)), "count": error.count}
    return ApiError(status_of(error), type(error).__name__, error.message, error.hint, **extra)


def internal_error() -> ApiError:
    return ApiError(
        500,
        "InternalError",
        "The server failed on this request: a bug in Loopline.",
        hint="the server's log has the traceback; please report it",
    )
