"""API tokens for the CLI in CI (``LOOPLINE_TOKEN``) and the service (``Authorization: Bearer``).

A token reads ``llt.<user>.<secret>``; it is shown once when created and only its SHA-256 is
stored (a token has 256 random bits, so a fast hash is enough; passwords use Argon2id). The user
name in it only says whose token it claims to be: the hash decides.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from core.accounts.access import authorize, load_user, resolve
from core.accounts.audit import record
from core.accounts.models import Token, check_user_name
from core.actor import TOKEN_PREFIX, Actor, token_user
from core.errors import Forbidden, InvalidInput, NotFound
from core.store import Tx, Workspace, utcnow

_TOKEN_SELECT = {  # Token field -> column of api_tokens
    "token_id": "token_id",
    "user": "user_name",
    "label": "label",
    "created_at": "created_at",
    "created_by": "created_by",
    "expires_at": "expires_at",
    "revoked_at": "revoked_at",
}
TOKEN_COLUMNS = ", ".join(_TOKEN_SELECT.values())
MAX_TOKEN_LENGTH = 200
EXPIRES_DAYS = (1, 3650)  # a token lives at least a day and at most ten years (or for ever)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _token(row: tuple[Any, ...]) -> Token:
    """A row of ``TOKEN_COLUMNS``."""
    return Token(**dict(zip(_TOKEN_SELECT, row, strict=True)))


def create_token(
    ws: Workspace,
    actor: Actor,
    user: str,
    label: str,
    *,
    expires_days: float | None = None,
) -> str:
    """A new API token for ``user``; the text is returned once and never stored.

    Users create tokens for themselves; admins for anyone (a CI or service account)."""
    check_user_name(user)
    label = (label or "").strip()
    if not label or len(label) > 100 or any(ord(c) < 32 for c in label):
        raise InvalidInput(
            "A token needs a label of one line and at most 100 characters.",
            hint="say where it is used, e.g. --label 'GitHub Actions'",
        )
    check_expiry(expires_days)
    secret = f"{TOKEN_PREFIX}{user}.{secrets.token_urlsafe(32)}"
    now = utcnow()
    with ws.store.transaction() as tx:
        _for_self_or_admin(tx, actor, user)
        owner = load_user(tx, user)
        if owner is None:
            raise NotFound(
                f"No user {user!r} in this workspace.", hint="`loopline users add` first"
            )
        if not owner.active:
            raise InvalidInput(f"The account {user!r} is disabled; it cannot get a token.")
        token_id = int(tx.scalar("SELECT nextval('token_ids')"))
        record(
            tx,
            actor,
            "tokens.create",
            target=user,
            details={"token_id": token_id, "label": label, "expires_days": expires_days},
        )
        tx.execute(
            "INSERT INTO api_tokens (token_id, user_name, label, token_hash, created_at, "
            "created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                token_id,
                user,
                label,
                token_hash(secret),
                now,
                actor.name,
                now + timedelta(days=expires_days) if expires_days else None,
            ],
        )
    return secret


def check_expiry(days: float | None) -> None:
    """A token's lifetime in days: a finite number in ``EXPIRES_DAYS``, or None (never expires)."""
    if days is None:
        return
    low, high = EXPIRES_DAYS
    if not isinstance(days, int | float) or not math.isfinite(days) or not low <= days <= high:
        raise InvalidInput(
            f"A token's lifetime must be {low} to {high} days; got {days!r}.",
            hint="pass e.g. --expires-days 90, or leave it out for a token that never expires",
        )


def _for_self_or_admin(tx: Tx, actor: Actor, user: str) -> None:
    me = resolve(tx, actor).user
    if me is not None and me.name != user:
        authorize(tx, actor, "users.manage")


def check_token(tx: Tx, token: str, *, now: datetime | None = None) -> Token:
    """The stored token for ``token``; Forbidden when it is unknown, revoked, expired or its user
    is disabled."""
    claimed = token_user(token) if len(token) <= MAX_TOKEN_LENGTH else None
    if claimed is None:
        raise Forbidden(
            "The API token is malformed (expected llt.<user>.<secret>).",
            hint="copy the whole token `loopline tokens create` printed",
        )
    row = tx.one(
        f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?", [token_hash(token)]
    )
    found = _token(row) if row is not None else None
    if found is None or found.user != claimed:
        raise Forbidden(
            "The API token is not valid for this workspace.",
            hint="an admin creates one with `loopline tokens create USER --label …`",
        )
    moment = now or utcnow()
    if found.revoked_at is not None:
        raise Forbidden(
            f"The API token {found.label!r} of {found.user} was revoked on {found.revoked_at:%Y-%m-%d}.",
            hint="create a new one: `loopline tokens create USER --label …`",
        )
    if found.expires_at is not None and found.expires_at <= moment:
        raise Forbidden(
            f"The API token {found.label!r} of {found.user} expired on {found.expires_at:%Y-%m-%d}.",
            hint="create a new one: `loopline tokens create USER --label …`",
        )
    owner = load_user(tx, found.user)
    if owner is None or not owner.active:
        raise Forbidden(f"The account {found.user!r} of this API token is disabled.")
    return found


def verify_token(
    ws: Workspace,
    token: str,
    *,
    via: str = "service",
    now: datetime | None = None,
    address: str | None = None,
) -> Actor:
    """The actor an API token stands for; Forbidden when it is not a live token.

    The returned actor carries the token, so the audit rows of its changes name the token's label
    (and ``address``, the client's address, when a server gives it).
    """
    if not isinstance(token, str) or not token.strip():
        raise Forbidden("An API token is needed.", hint="send `Authorization: Bearer <token>`")
    token = token.strip()
    with ws.store.read() as tx:
        found = check_token(tx, token, now=now)
    return Actor(found.user, via, token=token, address=address)


def list_tokens(ws: Workspace, actor: Actor | None = None, user: str | None = None) -> list[Token]:
    """Tokens (never their text): an admin sees everyone's, a user their own."""
    with ws.store.read() as tx:
        me = authorize(tx, actor, "self").user
        if me is not None and not me.is_admin:
            user = me.name
        rows = tx.rows(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ? IS NULL OR user_name = ? "
            "ORDER BY token_id",
            [user, user],
        )
    return [_token(r) for r in rows]


def revoke_token(ws: Workspace, actor: Actor, token_id: int) -> Token:
    with ws.store.transaction() as tx:
        row = tx.one(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id])
        if row is None:
            raise NotFound(f"No API token #{token_id}.", hint="`loopline tokens list` shows them")
        found = _token(row)
        _for_self_or_admin(tx, actor, found.user)
        record(
            tx,
            actor,
            "tokens.revoke",
            target=found.user,
            details={"token_id": token_id, "label": found.label},
        )
        if found.revoked_at is not None:
            raise InvalidInput(f"API token #{token_id} is already revoked.")
        tx.execute(
            "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE token_id = ?",
            [utcnow(), actor.name, token_id],
        )
        changed = tx.one(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id])
    assert changed is not None
    return _token(changed)
