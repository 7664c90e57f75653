"""Signing in to the app: password check, failed-login limits, sessions that expire.

Failed logins are limited per user name and per client: after ``user_failures`` failures in a
row (within ``window_minutes``) the name is locked for ``first_lockout_seconds``, doubling with
every further failure up to ``max_lockout_minutes``; a client (address) is locked the same way
after ``client_failures``. While locked, no password is checked. Every attempt is in the audit
log (``login``, ``login.failed``). A session ends after ``idle_minutes`` without use, after
``absolute_hours`` in any case, on sign-out, and when the user is disabled or their password reset.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from core.accounts.audit import record
from core.accounts.models import LoginPolicy, Session
from core.accounts.passwords import hash_password, needs_rehash, verify_password
from core.actor import Actor
from core.errors import Forbidden
from core.store import Tx, Workspace, utcnow

POLICY = LoginPolicy()
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
MAX_NAME = 200
_ATTEMPT = (
    'INSERT INTO login_attempts (attempt_id, "at", user_name, client, ok) '
    "VALUES (nextval('login_attempt_ids'), ?, ?, ?, {ok})"
)


class LoginRefused(Forbidden):
    """Wrong name or password, a disabled account, or too many failures: one message for all but
    the lockout, so that a refusal does not tell which names exist."""


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def _failures(tx: Tx, column: str, value: str, since: datetime) -> tuple[int, datetime | None]:
    """Failed attempts in a row (since the last success and ``since``) and the latest one."""
    row = tx.one(
        f"""
        SELECT count(*), max("at") FROM login_attempts
        WHERE {column} = ? AND NOT ok AND "at" >= ?
          AND "at" > coalesce((SELECT max("at") FROM login_attempts WHERE {column} = ? AND ok),
                              TIMESTAMP '1970-01-01')
        """,
        [value, since, value],
    )
    assert row is not None
    return int(row[0]), row[1]


def _locked_until(
    failures: int, last: datetime | None, threshold: int, policy: LoginPolicy
) -> datetime | None:
    if failures < threshold or last is None:
        return None
    seconds = policy.first_lockout_seconds * 2 ** (failures - threshold)
    return last + timedelta(seconds=min(seconds, policy.max_lockout_minutes * 60))


def lockout(
    ws: Workspace,
    user_name: str,
    client: str,
    *,
    now: datetime | None = None,
    policy: LoginPolicy = POLICY,
) -> datetime | None:
    """Until when sign-in is refused for this user name or client (None: it is not)."""
    moment = now or utcnow()
    with ws.store.read() as tx:
        return _lockout(tx, user_name[:MAX_NAME], client[:MAX_NAME], moment, policy)


def _lockout(
    tx: Tx, user_name: str, client: str, moment: datetime, policy: LoginPolicy
) -> datetime | None:
    since = moment - timedelta(minutes=policy.window_minutes)
    until = [
        _locked_until(*_failures(tx, "user_name", user_name, since), policy.user_failures, policy),
        _locked_until(*_failures(tx, "client", client, since), policy.client_failures, policy),
    ]
    latest = max((u for u in until if u is not None), default=None)
    return latest if latest is not None and latest > moment else None


def login(
    ws: Workspace,
    user_name: str,
    password: str,
    *,
    client: str,
    via: str = "app",
    now: datetime | None = None,
    policy: LoginPolicy = POLICY,
) -> Session:
    """Check the password and open a session; LoginRefused (recorded) when it fails."""
    moment = now or utcnow()
    name = (user_name or "").strip().lower()[:MAX_NAME]
    client = (client or "unknown")[:MAX_NAME]
    with ws.store.read() as tx:
        locked = _lockout(tx, name, client, moment, policy)
        row = tx.one("SELECT password_hash, active FROM users WHERE user_name = ?", [name])
    if locked is not None:
        wait = max(1, int((locked - moment).total_seconds() + 0.999))
        _failed(ws, name, client, via, moment, "locked", count=False)
        raise LoginRefused(
            f"Too many failed sign-ins; try again in {_duration(wait)}.",
            hint="ask an admin to reset your password if you forgot it",
        )
    stored = row[0] if row else None
    good = verify_password(stored, password)  # costs one hash even for unknown names
    if not good or row is None or not row[1]:
        reason = "unknown user" if row is None else "disabled" if not row[1] else "wrong password"
        _failed(ws, name, client, via, moment, reason)
        raise LoginRefused(
            "Wrong user name or password.",
            hint="names are lowercase; after several failures sign-in pauses for a while",
        )
    secret = secrets.token_urlsafe(32)
    expires = moment + timedelta(hours=policy.absolute_hours)
    with ws.store.transaction() as tx:
        tx.execute(
            _ATTEMPT.format(ok="true"),
            [moment, name, client],
        )
        tx.execute(
            "INSERT INTO sessions (session_hash, user_name, via, client, created_at, last_seen_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_key(secret), name, via, client, moment, moment, expires],
        )
        if stored is not None and needs_rehash(stored):  # stronger parameters since it was set
            tx.execute(
                "UPDATE users SET password_hash = ? WHERE user_name = ?",
                [hash_password(password), name],
            )
        record(tx, Actor(name, via), "login", target=name, details={"client": client})
    return Session(secret, name, moment, expires)


def record_sign_in(
    ws: Workspace, user_name: str, *, client: str, method: str, via: str = "app"
) -> None:
    """A sign-in made elsewhere (the identity provider, for OpenID Connect), for the audit log."""
    with ws.store.transaction() as tx:
        tx.execute(
            _ATTEMPT.format(ok="true"),
            [utcnow(), user_name, client[:MAX_NAME]],
        )
        record(
            tx,
            Actor(user_name, via),
            "login",
            target=user_name,
            details={"client": client[:MAX_NAME], "method": method},
        )


def _failed(
    ws: Workspace,
    name: str,
    client: str,
    via: str,
    moment: datetime,
    reason: str,
    *,
    count: bool = True,
) -> None:
    with ws.store.transaction() as tx:
        if count:  # attempts during a lockout do not lengthen it
            tx.execute(
                _ATTEMPT.format(ok="false"),
                [moment, name, client],
            )
        record(
            tx,
            Actor(name or "(empty)", via),
            "login.failed",
            target=name,
            details={"client": client, "reason": reason},
        )


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def resume_session(
    ws: Workspace, secret: str, *, now: datetime | None = None, policy: LoginPolicy = POLICY
) -> Actor:
    """The signed-in user of a session, or Forbidden when it ended or expired (recorded)."""
    moment = now or utcnow()
    key = _key(secret or "")
    with ws.store.read() as tx:
        row = tx.one(
            """
            SELECT s.user_name, s.via, s.last_seen_at, s.expires_at, s.ended_at, s.end_reason,
                   coalesce(u.active, false)
            FROM sessions s LEFT JOIN users u USING (user_name) WHERE s.session_hash = ?
            """,
            [key],
        )
    if row is None:
        raise Forbidden("You are not signed in.", hint="sign in again")
    name, via, last_seen, expires, ended, end_reason, active = row
    if ended is not None:
        raise Forbidden(f"Your session ended ({end_reason}).", hint="sign in again")
    reason = None
    if not active:
        reason = "account disabled"
    elif moment >= expires:
        reason = f"signed in more than {policy.absolute_hours:g} hours ago"
    elif moment - last_seen > timedelta(minutes=policy.idle_minutes):
        reason = f"idle for more than {policy.idle_minutes:g} minutes"
    if reason is not None:
        with ws.store.transaction() as tx:
            _end(tx, key, moment, reason)
            record(
                tx,
                Actor(str(name), str(via)),
                "session.expired",
                target=str(name),
                details={"reason": reason},
            )
        raise Forbidden(f"Your session ended ({reason}).", hint="sign in again")
    if moment - last_seen >= TOUCH_EVERY:
        with ws.store.transaction() as tx:
            tx.execute("UPDATE sessions SET last_seen_at = ? WHERE session_hash = ?", [moment, key])
    return Actor(str(name), str(via))


def _end(tx: Tx, key: str, moment: datetime, reason: str) -> None:
    tx.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_hash = ? AND ended_at IS NULL",
        [moment, reason, key],
    )


def logout(ws: Workspace, secret: str, *, now: datetime | None = None) -> None:
    """End the session (recorded as ``logout``); an unknown or ended session is a no-op."""
    moment = now or utcnow()
    key = _key(secret or "")
    with ws.store.transaction() as tx:
        row = tx.one(
            "SELECT user_name, via FROM sessions WHERE session_hash = ? AND ended_at IS NULL", [key]
        )
        if row is None:
            return
        _end(tx, key, moment, "signed out")
        record(tx, Actor(str(row[0]), str(row[1])), "logout", target=str(row[0]))


def open_sessions(ws: Workspace, user_name: str) -> int:
    with ws.store.read() as tx:
        return int(
            tx.scalar(
                "SELECT count(*) FROM sessions WHERE user_name = ? AND ended_at IS NULL",
                [user_name],
            )
        )
