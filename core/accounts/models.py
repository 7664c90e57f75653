"""Accounts' dataclasses: what the services return and the pages draw."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.accounts.roles import ADMIN, ALL_PROJECTS, PERMISSIONS, ROLES
from core.errors import InvalidInput

USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RESERVED = "loopline"  # core.actor.SYSTEM


def check_user_name(name: str) -> str:
    """User names are short lowercase words: they appear in the CLI, tokens and the audit log."""
    if name == RESERVED:
        raise InvalidInput(f"The user name {name!r} is Loopline's own; choose another.")
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise InvalidInput(
            f"The user name {str(name)[:80]!r} is not allowed.",
            hint="use 1–64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Grant:
    """A role, for every project (``project == ''``) or one project."""

    role: str
    project: str = ALL_PROJECTS

    @property
    def label(self) -> str:
        return self.role if self.project == ALL_PROJECTS else f"{self.role}@{self.project}"


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    email: str | None
    os_user: str | None
    active: bool
    has_password: bool
    created_at: datetime
    created_by: str
    grants: tuple[Grant, ...] = ()

    def roles(self, project: str | None = None) -> tuple[str, ...]:
        """The roles that apply in ``project`` (every role when no project is given)."""
        held = {
            g.role for g in self.grants if project is None or g.project in (ALL_PROJECTS, project)
        }
        return tuple(role for role in ROLES if role in held)

    @property
    def is_admin(self) -> bool:
        return any(g.role == ADMIN and g.project == ALL_PROJECTS for g in self.grants)

    def can(self, permission: str, project: str | None = None) -> bool:
        """Whether a grant gives ``permission`` in ``project``.

        Without a project (listings across projects), a grant in any project counts and the
        service shows only what is visible. Workspace permissions need a grant for all projects.
        """
        if not self.active:
            return False
        if self.is_admin:
            return True
        rule = PERMISSIONS[permission]
        for grant in self.grants:
            if grant.role not in rule.roles:
                continue
            if grant.project == ALL_PROJECTS:
                return True
            if not rule.workspace and (project is None or grant.project == project):
                return True
        return False

    def projects_with(self, permission: str) -> set[str] | None:
        """The projects where the user has ``permission``; None means every project."""
        if self.is_admin:
            return None
        rule = PERMISSIONS[permission]
        found: set[str] = set()
        for grant in self.grants:
            if grant.role in rule.roles:
                if grant.project == ALL_PROJECTS:
                    return None
                if not rule.workspace:
                    found.add(grant.project)
        return found


@dataclass(frozen=True)
class NewUser:
    """A user just added: whether access control started with them (the workspace's first
    account), and the temporary password made for them, shown once (None when none was)."""

    user: User
    first: bool
    password: str | None = None


@dataclass(frozen=True)
class Token:
    token_id: int
    user: str
    label: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class LoginPolicy:
    """Session lifetimes and the limits on failed logins (per user and per client)."""

    idle_minutes: float = 30.0
    absolute_hours: float = 12.0
    window_minutes: float = 60.0  # failures older than this are forgotten
    user_failures: int = 5  # failures in a row before a user name is locked
    client_failures: int = 20  # failures from one client (any user names) before it is locked
    first_lockout_seconds: float = 30.0  # doubles with each further failure
    max_lockout_minutes: float = 15.0


@dataclass(frozen=True)
class Session:
    """A signed-in app session; ``secret`` is held by the app and never stored."""

    secret: str
    user: str
    created_at: datetime
    expires_at: datetime
