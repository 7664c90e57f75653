"""Accounts: users and their roles, API tokens, signing in to the app, the audit log, and what
the client's user may do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.accounts.access import allowed, authorize, workspace_is_open
from core.accounts.assignments import assign
from core.accounts.audit import AuditEntry, AuditQuery
from core.accounts.auditlog import (
    audit_actions,
    audit_actors,
    export_audit_csv,
    parse_time,
    search_audit,
)
from core.accounts.models import NewUser, Session, Token, User
from core.accounts.roles import ROLES, actions_markdown, matrix_markdown
from core.accounts.sessions import login, logout, record_sign_in, resume_session
from core.accounts.tokens import create_token, list_tokens, revoke_token
from core.accounts.users import (
    add_user,
    create_user,
    find_user,
    grant,
    list_users,
    reset_password,
    revoke,
    set_active,
    update_user,
    user_for_email,
    who_is,
)
from core.actor import Actor
from core.api.area import Area
from core.errors import Forbidden


class Accounts(Area):
    # users
    def users(self) -> list[User]:
        """Every user with their roles (an admin sees everyone, another user only themselves)."""
        return list_users(self._ws, self._actor)

    def whoami(self) -> User | None:
        """The user the client acts as (None while the workspace has no accounts)."""
        return who_is(self._ws, self._actor)

    def user(self, name: str) -> User | None:
        return find_user(self._ws, name)

    def user_for_email(self, email: str) -> User | None:
        return user_for_email(self._ws, email)

    def create_user(
        self,
        name: str,
        *,
        roles: Sequence[str] = (),
        project: str | None = None,
        password: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        os_user: str | None = None,
    ) -> User:
        """A user with roles (in every project, or only ``project``); the first must be an admin."""
        return create_user(
            self._ws,
            self._actor,
            name,
            roles=roles,
            project=project,
            password=password,
            display_name=display_name,
            email=email,
            os_user=os_user,
        )

    def add_user(
        self,
        name: str,
        *,
        roles: Sequence[str] = (),
        project: str | None = None,
        password: str | None = None,
        temporary_password: bool = False,
        display_name: str | None = None,
        email: str | None = None,
        os_user: str | None = None,
        first_os_user: str | None = None,
    ) -> NewUser:
        """:meth:`create_user` as the CLI offers it: with ``temporary_password`` and no password,
        one is made and returned once; the workspace's first user gets ``first_os_user`` (the OS
        login of whoever sets it up) as their OS login unless ``os_user`` is given."""
        return add_user(
            self._ws,
            self._actor,
            name,
            roles=roles,
            project=project,
            password=password,
            temporary_password=temporary_password,
            display_name=display_name,
            email=email,
            os_user=os_user,
            first_os_user=first_os_user,
        )

    def update_user(
        self,
        name: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        os_user: str | None = None,
    ) -> User:
        """Change a display name, e-mail or OS login ('' removes the e-mail or OS login)."""
        return update_user(
            self._ws, self._actor, name, display_name=display_name, email=email, os_user=os_user
        )

    def reset_password(self, name: str, password: str | None = None) -> str:
        """Set a new password (a generated one when none is given, returned once); the user's
        sessions end."""
        return reset_password(self._ws, self._actor, name, password)

    def assign(self, task_id: int, names: Sequence[str], *, remove: bool = False) -> list[str]:
        """Assign annotators to a labeling task (or take them off it); the task's assignees
        (none: open to every annotator of the project)."""
        return assign(self._ws, self._actor, task_id, names, remove=remove)

    @staticmethod
    def roles() -> dict[str, str]:
        """Each role and what it does."""
        return dict(ROLES)

    @staticmethod
    def permission_matrix() -> str:
        """Which role holds which permission, as a Markdown table."""
        return matrix_markdown()

    @staticmethod
    def audited_actions() -> str:
        """Every audited action and the permission it needs, as Markdown."""
        return actions_markdown()

    def set_active(self, name: str, active: bool) -> User:
        return set_active(self._ws, self._actor, name, active)

    def grant(self, name: str, role: str, project: str | None = None) -> User:
        return grant(self._ws, self._actor, name, role, project)

    def revoke(self, name: str, role: str, project: str | None = None) -> User:
        return revoke(self._ws, self._actor, name, role, project)

    # tokens
    def tokens(self, user: str | None = None) -> list[Token]:
        return list_tokens(self._ws, self._actor, user)

    def create_token(self, user: str, label: str, *, expires_days: float | None = None) -> str:
        """A new API token for ``user``; the only time its secret is shown."""
        return create_token(self._ws, self._actor, user, label, expires_days=expires_days)

    def revoke_token(self, token_id: int) -> Token:
        return revoke_token(self._ws, self._actor, token_id)

    # signing in (the app)
    def is_open(self) -> bool:
        """True while the workspace has no accounts (no access control at all)."""
        return workspace_is_open(self._ws)

    def sign_in(self, name: str, password: str, *, client: str, via: str = "app") -> Session:
        """Check a password (failed attempts are limited) and start a session."""
        return login(self._ws, name, password, client=client, via=via)

    def resume(self, secret: str) -> Actor:
        """The user of a live session (NotFound/Forbidden when it expired or was ended)."""
        return resume_session(self._ws, secret)

    def sign_out(self, secret: str) -> None:
        logout(self._ws, secret)

    def record_sign_in(self, name: str, *, client: str, method: str, via: str = "app") -> None:
        """Record a sign-in another party checked (an OpenID Connect provider)."""
        record_sign_in(self._ws, name, client=client, method=method, via=via)

    # the audit log
    def audit(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        """The newest entries matching ``query`` (at most ``query.limit``) and how many match
        (the client's user needs the right to read the audit log)."""
        return search_audit(self._ws, self._actor, query)

    @staticmethod
    def parse_time(text: str | None) -> datetime | None:
        """An audit filter's bound as people type it: a UTC date or date and time."""
        return parse_time(text)

    def audit_actions(self) -> list[str]:
        return audit_actions(self._ws)

    def audit_actors(self) -> list[str]:
        return audit_actors(self._ws)

    def export_audit(self, query: AuditQuery) -> bytes:
        """The matching entries as CSV (safe for spreadsheets); the export itself is recorded."""
        return export_audit_csv(self._ws, self._actor, query)

    # rights
    def allowed(self, permission: str, project: str | None = None) -> bool:
        """Whether the client's user holds ``permission`` (in ``project``)."""
        return allowed(self._ws, self._actor, permission, project)

    def refusal(self, permission: str, project: str | None = None) -> Forbidden | None:
        """Core's refusal of ``permission`` for the client's user, None when allowed: pages say
        why before anyone tries."""
        try:
            authorize(self._ws, self._actor, permission, project)
        except Forbidden as error:
            return error
        return None
