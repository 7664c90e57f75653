"""Who is asking: the request's API token (``Authorization: Bearer``) and the client's address.

A missing, malformed, unknown, revoked or expired token is 401 (kind ``Forbidden``, core's
message and hint); a role without the right is core's own refusal later (403). The address is
the TCP peer's, or with ``--trust-proxy`` the last entry of ``X-Forwarded-For`` (the one the
reverse proxy added: earlier entries are whatever the client sent).
"""

from __future__ import annotations

from starlette.requests import Request

from core.api import Actor, Forbidden
from core.api.server_support import ServerSupport
from core.server.errors import ApiError


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Forbidden",
            "An API token is needed.",
            hint="send `Authorization: Bearer <token>` (the CLI sends LOOPLINE_TOKEN); "
            "an admin creates one with `loopline tokens create USER --label …`",
        )
    return token.strip()


def client_address(request: Request, *, trust_proxy: bool) -> str | None:
    if trust_proxy:
        forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",")]
        if forwarded and forwarded[-1]:
            return forwarded[-1][:100]
    return request.client.host if request.client else None


def authenticate(support: ServerSupport, token: str, address: str | None) -> Actor:
    """The token's user as the actor of this request (runs a read: call it off the event loop)."""
    try:
        return support.verify_token(token, address=address)
    except Forbidden as refused:
        raise ApiError(401, "Forbidden", refused.message, refused.hint) from None
