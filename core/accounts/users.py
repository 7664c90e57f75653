"""Users: add, list, disable and enable, passwords, roles per project.

Every change is recorded (``users.*``) by the acting admin in the same transaction, which also
checks the admin's permission; the first user of an open workspace must be an admin.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from core.accounts.access import (
    USER_COLUMNS,
    authorize,
    is_open,
    load_user,
    resolve,
    user_from_rows,
    workspace_is_open,
)
from core.accounts.audit import record
from core.accounts.models import Grant, NewUser, User, check_user_name
from core.accounts.passwords import check_password_rules, hash_password, verify_password
from core.accounts.roles import ADMIN, ALL_PROJECTS, ROLES
from core.actor import Actor
from core.errors import Forbidden, InvalidInput, NotFound, expected_one_of
from core.store import Tx, Workspace, utcnow

_INSERT_ROLE = (
    "INSERT INTO user_roles (user_name, role, project, granted_at, granted_by) "
    "VALUES (?, ?, ?, ?, ?)"
)


def _check_role(role: str, project: str | None) -> Grant:
    if role not in ROLES:
        raise InvalidInput(expected_one_of("role", role, ROLES))
    if role == ADMIN and project:
        raise InvalidInput(
            "admin is a role for the whole workspace; it cannot be limited to a project.",
            hint="grant it without --project",
        )
    return Grant(role, project or ALL_PROJECTS)


def _check_project(tx: Tx, project: str | None) -> None:
    if project and tx.one("SELECT 1 FROM projects WHERE name = ?", [project]) is None:
        raise NotFound(
            f"No project {project!r} in this workspace.", hint="`loopline projects` lists them"
        )


def _text(value: str | None, what: str, limit: int = 200) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"The {what} must be one line of at most {limit} characters.")
    return value or None


def generate_password() -> str:
    """A temporary password for ``reset-password``: 16 characters from a URL-safe alphabet."""
    return secrets.token_urlsafe(12)


def create_user(
    ws: Workspace,
    actor: Actor,
    name: str,
    *,
    roles: Sequence[str] = (),
    project: str | None = None,
    password: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    os_user: str | None = None,
) -> User:
    """Add a user with roles (for all projects, or only ``project``). The first user of a
    workspace must be an admin: from then on every change is checked."""
    check_user_name(name)
    grants = [_check_role(role, project) for role in dict.fromkeys(roles)]
    if password is not None:
        check_password_rules(password, name)
    display = _text(display_name, "display name") or name
    mail = _text(email, "e-mail address")
    login = _text(os_user, "OS user", 64)
    digest = hash_password(password) if password is not None else None
    now = utcnow()
    with ws.store.transaction() as tx:
        first = is_open(tx)
        if first and not any(g.role == ADMIN for g in grants):
            raise InvalidInput(
                "The first user of a workspace must be an admin: with it, access control starts.",
                hint=f"`loopline users add {name} --role admin` (add more users and roles after it)",
            )
        record(
            tx,
            actor,
            "users.add",
            project=project,
            target=name,
            details={
                "roles": [g.label for g in grants],
                "os_user": login,
                "first_user": first,
            },
        )
        _check_project(tx, project)
        if tx.one("SELECT 1 FROM users WHERE user_name = ?", [name]) is not None:
            raise InvalidInput(
                f"The user {name!r} already exists.",
                hint="`loopline users grant` adds roles; `loopline users list` shows them",
            )
        _check_os_user(tx, login, name)
        tx.execute(
            "INSERT INTO users (user_name, display_name, email, os_user, password_hash, "
            "active, created_at, created_by, password_changed_at) "
            "VALUES (?, ?, ?, ?, ?, true, ?, ?, ?)",
            [name, display, mail, login, digest, now, _creator(actor), now if digest else None],
        )
        for grant in grants:
            tx.execute(
                _INSERT_ROLE,
                [name, grant.role, grant.project, now, _creator(actor)],
            )
        created = require_user(tx, name)
    return created


def add_user(
    ws: Workspace,
    actor: Actor,
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
    """:func:`create_user` as the CLI offers it. With ``temporary_password`` and no password, one
    is made and returned (once). The first user of a workspace, who sets it up, gets
    ``first_os_user`` (the caller's OS login) as their OS login unless ``os_user`` is given."""
    first = workspace_is_open(ws)
    if first and os_user is None:
        os_user = first_os_user
    made = generate_password() if password is None and temporary_password else None
    user = create_user(
        ws,
        actor,
        name,
        roles=roles,
        project=project,
        password=password if password is not None else made,
        display_name=display_name,
        email=email,
        os_user=os_user or None,
    )
    return NewUser(user, first, made)


def _creator(actor: Actor) -> str:
    return actor.name


def _check_os_user(tx: Tx, login: str | None, name: str) -> None:
    if login is None:
        return
    other = tx.one(
        "SELECT user_name FROM users WHERE os_user = ? AND user_name <> ?", [login, name]
    )
    if other is not None:
        raise InvalidInput(
            f"The OS user {login!r} is already mapped to {other[0]}.",
            hint=f"`loopline users update {other[0]} --os-user ''` removes that mapping first",
        )


def user_for_email(ws: Workspace, email: str) -> User | None:
    """The user with this e-mail (case-insensitive): how an identity provider's account is matched."""
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT user_name FROM users WHERE lower(email) = lower(?) ORDER BY user_name LIMIT 1",
            [email.strip()],
        )
        return load_user(tx, str(row[0])) if row else None


def get_user(ws: Workspace, name: str) -> User:
    with ws.store.read() as tx:
        return require_user(tx, name)


def find_user(ws: Workspace, name: str) -> User | None:
    with ws.store.read() as tx:
        return load_user(tx, name)


def list_users(ws: Workspace, actor: Actor | None = None) -> list[User]:
    """Every user with their roles. Admins see everyone; other users see only themselves."""
    with ws.store.read() as tx:
        resolved = authorize(tx, actor, "self")
        rows = tx.rows(
            f"SELECT {USER_COLUMNS} FROM users u LEFT JOIN user_roles r USING (user_name) "
            "ORDER BY u.user_name, r.role, r.project"
        )
    by_name: dict[str, list[tuple[object, ...]]] = {}
    for row in rows:
        by_name.setdefault(str(row[0]), []).append(row)
    users = [user_from_rows(group) for group in by_name.values()]
    me = resolved.user
    if me is not None and not me.is_admin:
        users = [u for u in users if u.name == me.name]
    return users


def require_user(tx: Tx, name: str) -> User:
    user = load_user(tx, name)
    if user is None:
        raise NotFound(
            f"No user {name!r} in this workspace.", hint="`loopline users list` shows the users"
        )
    return user


def _other_admins(tx: Tx, name: str) -> int:
    return int(
        tx.scalar(
            "SELECT count(DISTINCT u.user_name) FROM users u JOIN user_roles r USING (user_name) "
            "WHERE r.role = 'admin' AND r.project = '' AND u.active AND u.user_name <> ?",
            [name],
        )
    )


def _end_sessions(tx: Tx, name: str, reason: str) -> None:
    tx.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user_name = ? AND ended_at IS NULL",
        [utcnow(), reason, name],
    )


def set_active(ws: Workspace, actor: Actor, name: str, active: bool) -> User:
    """Disable (sessions end, tokens stop working) or enable an account; history stays."""
    with ws.store.transaction() as tx:
        user = require_user(tx, name)
        record(tx, actor, "users.enable" if active else "users.disable", target=name)
        if not active and user.is_admin and _other_admins(tx, name) == 0:
            raise InvalidInput(
                f"{name} is the last active admin; disabling it would lock everyone out.",
                hint="make another user admin first: `loopline users grant NAME admin`",
            )
        tx.execute("UPDATE users SET active = ? WHERE user_name = ?", [active, name])
        if not active:
            _end_sessions(tx, name, "disabled")
        changed = require_user(tx, name)
    return changed


def reset_password(ws: Workspace, actor: Actor, name: str, password: str | None = None) -> str:
    """Set a new password (a generated one when none is given, returned once); the user's open
    sessions end."""
    chosen = password if password is not None else generate_password()
    check_password_rules(chosen, name)
    digest = hash_password(chosen)
    with ws.store.transaction() as tx:
        require_user(tx, name)
        record(
            tx,
            actor,
            "users.reset_password",
            target=name,
            details={"generated": password is None},
        )
        _set_hash(tx, name, digest)
        _end_sessions(tx, name, "password reset")
    return chosen


def _set_hash(tx: Tx, name: str, digest: str) -> None:
    tx.execute(
        "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE user_name = ?",
        [digest, utcnow(), name],
    )


def change_password(ws: Workspace, name: str, old: str, new: str, *, via: str = "app") -> None:
    """A user changes their own password, proving the old one."""
    check_password_rules(new, name)
    with ws.store.read() as tx:
        row = tx.one("SELECT password_hash FROM users WHERE user_name = ? AND active", [name])
    if row is None or not verify_password(row[0], old):
        raise Forbidden("The current password is wrong.", hint="type it again, or ask an admin")
    digest = hash_password(new)
    with ws.store.transaction() as tx:
        record(tx, Actor(name, via), "password.change", target=name)
        _set_hash(tx, name, digest)


def update_user(
    ws: Workspace,
    actor: Actor,
    name: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    os_user: str | None = None,
) -> User:
    """Change a user's display name, e-mail (matched to the identity provider's) or OS login;
    an empty text removes the e-mail or OS login."""
    with ws.store.transaction() as tx:
        user = require_user(tx, name)
        changes: dict[str, str | None] = {}
        if display_name is not None:
            changes["display_name"] = _text(display_name, "display name") or user.name
        if email is not None:
            changes["email"] = _text(email, "e-mail address")
        if os_user is not None:
            changes["os_user"] = _text(os_user, "OS user", 64)
            _check_os_user(tx, changes["os_user"], name)
        if not changes:
            raise InvalidInput(
                "Nothing to change.", hint="pass --display-name, --email or --os-user"
            )
        record(tx, actor, "users.update", target=name, details=changes)
        for column, value in changes.items():  # column names come from the fixed keys above
            tx.execute(f"UPDATE users SET {column} = ? WHERE user_name = ?", [value, name])
        changed = require_user(tx, name)
    return changed


def grant(ws: Workspace, actor: Actor, name: str, role: str, project: str | None = None) -> User:
    """Give a user a role in every project, or in ``project`` only."""
    return _change_role(ws, actor, name, role, project, add=True)


def revoke(ws: Workspace, actor: Actor, name: str, role: str, project: str | None = None) -> User:
    """Take a role from a user (never the last active admin's)."""
    return _change_role(ws, actor, name, role, project, add=False)


def _change_role(
    ws: Workspace, actor: Actor, name: str, role: str, project: str | None, *, add: bool
) -> User:
    wanted = _check_role(role, project)
    with ws.store.transaction() as tx:
        user = require_user(tx, name)
        action = "users.grant" if add else "users.revoke"
        record(tx, actor, action, project=project, target=name, details={"role": wanted.label})
        if add:
            _check_project(tx, project)
            if wanted in user.grants:
                raise InvalidInput(f"{name} already has the role {wanted.label}.")
            tx.execute(
                _INSERT_ROLE,
                [name, wanted.role, wanted.project, utcnow(), actor.name],
            )
        else:
            if wanted not in user.grants:
                held = ", ".join(g.label for g in user.grants) or "none"
                raise InvalidInput(f"{name} does not have the role {wanted.label} (roles: {held}).")
            if wanted.role == ADMIN and user.active and _other_admins(tx, name) == 0:
                raise InvalidInput(
                    f"{name} is the last active admin; taking the role would lock everyone out.",
                    hint="make another user admin first",
                )
            tx.execute(
                "DELETE FROM user_roles WHERE user_name = ? AND role = ? AND project = ?",
                [name, wanted.role, wanted.project],
            )
        return require_user(tx, name)


def who_is(ws: Workspace, actor: Actor) -> User | None:
    """The user an actor stands for (None when the workspace has no accounts)."""
    with ws.store.read() as tx:
        return resolve(tx, actor).user
