"""Who acts, and through which surface: recorded with every change in the audit log.

An ``Actor`` names a user and the surface (``via``: cli, app, service, …). What proves the name
depends on the surface, and is checked against the workspace's accounts when a change is
recorded (``core.accounts.access``):

- CLI: ``LOOPLINE_TOKEN`` (an API token; its user) or the OS login mapped to a user
  (``loopline users add NAME --os-user LOGIN``). The OS login is the process's real uid looked up
  in the password database, never ``LOGNAME``/``USER``, which anyone can set. ``LOOPLINE_USER``
  picks another user only with that user's token in ``LOOPLINE_TOKEN`` or when the OS login maps
  to an admin ("act as"); the audit row names the OS login and who acted as whom.
- app: the signed-in user of the session (the app puts it in ``in_session`` around each page).
- service: the user of the request's API token (``core.accounts.tokens.verify_token``).
- api: the user of the request's API token on ``loopline server``; ``address`` is the client's
  address, recorded in the audit row's details.

A workspace without accounts has no access control, and every actor is taken at its name.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import CoreError
from core.store import Workspace, resolve_path

SURFACES = ("cli", "app", "service", "api", "test", "demo")
TOKEN_PREFIX = "llt."

_SESSION: ContextVar[Actor | None] = ContextVar("loopline_session_actor", default=None)
_CLI_WORKSPACE: ContextVar[Path | None] = ContextVar("loopline_cli_workspace", default=None)


@dataclass(frozen=True)
class Actor:
    """The acting user (``name``) and where the action came from (``via``).

    ``token``, ``os_user`` and ``chosen`` are the CLI's claims, verified against the workspace's
    accounts; ``address`` is where a request came from (the server's client). None of them take
    part in equality.
    """

    name: str
    via: str = "cli"
    token: str | None = field(default=None, repr=False, compare=False)
    os_user: str | None = field(default=None, compare=False)
    chosen: bool = field(default=False, compare=False)  # the name came from LOOPLINE_USER
    address: str | None = field(default=None, compare=False)  # the client's address (server)

    @classmethod
    def from_env(cls, via: str = "cli") -> Actor:
        """The actor of this surface.

        In the app, the signed-in user. Elsewhere ``LOOPLINE_USER`` when set (proved by its
        token, or by an admin's OS login), else ``LOOPLINE_TOKEN``'s user, else the OS user (its
        mapped name when the CLI told us the workspace). The OS login always comes along, so the
        audit log names who really ran the command.
        """
        session = _SESSION.get()
        if session is not None and via == "app":
            return session
        login = os_login()
        token = (os.environ.get("LOOPLINE_TOKEN") or "").strip() or None
        chosen = (os.environ.get("LOOPLINE_USER") or "").strip()
        if chosen:
            return cls(chosen, via, token=token, os_user=login, chosen=True)
        if token:
            return cls(token_user(token) or "(token)", via, token=token, os_user=login)
        return cls(_mapped_name(login) or login, via, os_user=login)


def token_user(token: str) -> str | None:
    """The user name a token carries (``llt.<user>.<secret>``); the secret is checked later."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    user, _, secret = token[len(TOKEN_PREFIX) :].rpartition(".")
    return user if user and secret else None


def os_login() -> str:
    """The login of the process's real uid (``uid-N`` when it has no passwd entry).

    Not ``getpass.getuser()``: it trusts ``LOGNAME``/``USER``, which any process can set."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry in some containers
        return f"uid-{uid}"


def session_actor() -> Actor | None:
    """The app's signed-in user while a page runs (None elsewhere)."""
    return _SESSION.get()


@contextlib.contextmanager
def in_session(actor: Actor | None) -> Iterator[None]:
    """Run a page as the signed-in ``actor``: reads are checked against it, and a change made in
    the app in another user's name is refused."""
    reset = _SESSION.set(actor)
    try:
        yield
    finally:
        _SESSION.reset(reset)


@contextlib.contextmanager
def cli_workspace(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Tell ``Actor.from_env`` which workspace the CLI command opens, so that an OS login mapped
    to another user name is named by that user from the start."""
    reset = _CLI_WORKSPACE.set(resolve_path(path))
    try:
        yield
    finally:
        _CLI_WORKSPACE.reset(reset)


def _mapped_name(login: str) -> str | None:
    root = _CLI_WORKSPACE.get()
    if root is None:
        return None
    if not Workspace.exists(root):
        return None
    try:
        with Workspace.open(root).store.read() as tx:
            row = tx.one(
                "SELECT user_name FROM users WHERE os_user = ? ORDER BY user_name LIMIT 1", [login]
            )
    except CoreError:
        return None
    return str(row[0]) if row else None


SYSTEM = Actor("loopline", "cli")
