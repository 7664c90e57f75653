"""Who may do what: resolving an actor to a user, and checking a permission in a project.

``check_action`` runs inside ``core.accounts.audit.record``, in the transaction of the change, so a
refusal rolls the whole change back. ``authorize`` is the explicit check at read entry points.
A workspace whose ``users`` table is empty is open: nothing is checked (single-user mode).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from core.accounts.models import Grant, User
from core.accounts.roles import ACTIONS, ADMIN, PERMISSIONS, ROLES, SYSTEM_ROLE, roles_with
from core.actor import SYSTEM, Actor, session_actor
from core.errors import Forbidden
from core.store import Tx, Workspace

_TASK = re.compile(r"task #(\d+)")
_USER_SELECT = {  # User field (then role and project) -> column of users u and user_roles r
    "name": "u.user_name",
    "display_name": "u.display_name",
    "email": "u.email",
    "os_user": "u.os_user",
    "active": "u.active",
    "has_password": "u.password_hash IS NOT NULL",
    "created_at": "u.created_at",
    "created_by": "u.created_by",
    "role": "r.role",
    "project": "r.project",
}
USER_COLUMNS = ", ".join(_USER_SELECT.values())  # what user_from_rows reads


@dataclass(frozen=True)
class Resolved:
    """The user an actor stands for (None: the workspace is open) and what the audit row adds."""

    user: User | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return self.user.name if self.user else None


OPEN_WORKSPACE = Resolved(None)
SYSTEM_USER = User(
    SYSTEM.name,
    "Loopline",
    None,
    None,
    True,
    False,
    datetime(2000, 1, 1),
    SYSTEM.name,
    (Grant(SYSTEM_ROLE),),
)


def is_open(tx: Tx) -> bool:
    """No user yet: the workspace has no access control."""
    return tx.one("SELECT 1 FROM users LIMIT 1") is None


def workspace_is_open(ws: Workspace) -> bool:
    with ws.store.read() as tx:
        return is_open(tx)


def load_user(tx: Tx, name: str) -> User | None:
    rows = tx.rows(
        f"SELECT {USER_COLUMNS} FROM users u LEFT JOIN user_roles r USING (user_name) "
        "WHERE u.user_name = ?",
        [name],
    )
    if not rows:
        return None
    return user_from_rows(rows)


def user_from_rows(rows: list[tuple[Any, ...]]) -> User:
    """One user from their rows of ``USER_COLUMNS`` (one row per role)."""
    named = [dict(zip(_USER_SELECT, row, strict=True)) for row in rows]
    order = list(ROLES)
    grants = sorted(
        (Grant(str(r["role"]), str(r["project"])) for r in named if r["role"] is not None),
        key=lambda g: (order.index(g.role) if g.role in order else len(order), g.project),
    )
    user = {k: v for k, v in named[0].items() if k not in ("role", "project")}
    return User(**user, grants=tuple(grants))


@contextmanager
def _reading(ws_or_tx: Workspace | Tx) -> Iterator[Tx]:
    """The caller's transaction, or a read of the workspace for the length of the block."""
    if isinstance(ws_or_tx, Tx):
        yield ws_or_tx
        return
    with ws_or_tx.store.read() as tx:
        yield tx


def resolve(tx: Tx, actor: Actor, *, now: datetime | None = None) -> Resolved:
    """The user behind ``actor``, after checking the CLI's claims; Forbidden when there is none.

    The details name how the user was proved (the token's label, the OS login that ran the
    command, the admin acting as someone): the audit row of every change carries them."""
    if is_open(tx):
        return Resolved(None, _os_details(actor))
    session = session_actor()
    if session is not None and actor.via == "app" and actor.name != session.name:
        raise Forbidden(
            f"The app is signed in as {session.name}; a change in the name of {actor.name} is refused.",
            hint="sign out and sign in as that user",
        )
    if actor == SYSTEM and actor.token is None and actor.os_user is None:
        return Resolved(SYSTEM_USER)
    if actor.token is not None:
        name, details = _proved_by_token(tx, actor, now)
    elif actor.os_user is not None:
        name, details = _proved_by_os_login(tx, actor, actor.os_user)
    else:  # an in-process caller (library, demo, tests) names its user
        name, details = actor.name, {}
    return Resolved(_active_user(tx, name), details)


def _os_details(actor: Actor) -> dict[str, Any]:
    """The OS login that ran a CLI command (none for the app and the service)."""
    return {"by_os_user": actor.os_user} if actor.os_user is not None else {}


def _proved_by_token(tx: Tx, actor: Actor, now: datetime | None) -> tuple[str, dict[str, Any]]:
    # tokens.py imports this module (its functions check their caller), so importing it at the
    # top would be a cycle at import time inside the package
    from core.accounts.tokens import check_token

    assert actor.token is not None
    token = check_token(tx, actor.token, now=now)
    if token.user != actor.name and actor.chosen:
        raise Forbidden(
            f"LOOPLINE_USER={actor.name} is refused: the API token in LOOPLINE_TOKEN belongs to "
            f"{token.user}.",
            hint=f"set LOOPLINE_TOKEN to {actor.name}'s own token, or unset LOOPLINE_USER",
        )
    if token.user != actor.name:
        raise Forbidden(
            f"The API token belongs to {token.user}, not to {actor.name}.",
            hint="unset LOOPLINE_USER when LOOPLINE_TOKEN is set",
        )
    return token.user, {"token": token.label, **_os_details(actor)}


def _proved_by_os_login(tx: Tx, actor: Actor, login: str) -> tuple[str, dict[str, Any]]:
    """The user the OS login maps to; with ``LOOPLINE_USER``, the chosen user when that login
    maps to an admin."""
    details = _os_details(actor)
    row = tx.one(
        "SELECT user_name FROM users WHERE os_user = ? ORDER BY user_name LIMIT 1", [login]
    )
    if row is None and actor.chosen:
        raise _acting_refused(actor, f"the OS user {login!r} is not mapped to a Loopline user")
    if row is None:
        raise Forbidden(
            f"The OS user {login!r} is not mapped to a Loopline user of this workspace.",
            hint=f"an admin runs `loopline users add NAME --os-user {login}` "
            "(or `loopline users update NAME --os-user …`); CI sets LOOPLINE_TOKEN instead",
        )
    mapped = str(row[0])
    if not actor.chosen or actor.name == mapped:
        return mapped, details
    acting = load_user(tx, mapped)
    if acting is None or not acting.active or not acting.is_admin:
        raise _acting_refused(actor, f"the OS user {login!r} is {mapped}, who is not an admin")
    return actor.name, {**details, "act_as_by": mapped}


def _acting_refused(actor: Actor, why: str) -> Forbidden:
    return Forbidden(
        f"LOOPLINE_USER={actor.name} is refused: {why}. Acting as another user needs that "
        "user's API token (LOOPLINE_TOKEN) or an admin's OS login.",
        hint=f"unset LOOPLINE_USER, or set LOOPLINE_TOKEN to a token of {actor.name} "
        f"(an admin creates one: `loopline tokens create {actor.name} --label …`)",
    )


def _active_user(tx: Tx, name: str) -> User:
    user = load_user(tx, name)
    if user is None:
        raise Forbidden(
            f"{name!r} is not a user of this workspace.",
            hint="sign in with your own account, or ask an admin: `loopline users add NAME --role ROLE`",
        )
    if not user.active:
        raise Forbidden(
            f"The account {name!r} is disabled.", hint="ask an admin: `loopline users enable NAME`"
        )
    return user


def refusal(user: User, permission: str, project: str | None) -> Forbidden:
    """The house message: who, with which roles, may not do what, where; and how to get access."""
    rule = PERMISSIONS[permission]
    held = user.roles(None if rule.workspace else project)
    where = f" in {project}" if project and not rule.workspace else ""
    needed = [r for r in roles_with(permission) if r != ADMIN] or [ADMIN]
    article = "an" if needed[0][0] in "aeiou" else "a"
    scope = f" --project {project}" if project and not rule.workspace else ""
    return Forbidden(
        f"{user.name} ({', '.join(held) or 'no role here'}) may not {rule.does}{where}; "
        f"{article} {' or '.join(needed)} role is needed.",
        hint=f"ask an admin: `loopline users grant {user.name} {needed[0]}{scope}`",
    )


def _check(
    tx: Tx, resolved: Resolved, permission: str, project: str | None, task: int | None
) -> None:
    user = resolved.user
    if user is None:
        return
    if not user.can(permission, project):
        raise refusal(user, permission, project)
    if permission == "label" and task is not None and not user.is_admin:
        assigned = [
            str(r[0])
            for r in tx.rows(
                "SELECT user_name FROM task_assignees WHERE task_id = ? ORDER BY user_name", [task]
            )
        ]
        if assigned and user.name not in assigned:
            raise Forbidden(
                f"{user.name} is not assigned to task #{task} (assigned: {', '.join(assigned[:10])}).",
                hint=f"ask a reviewer or data scientist: `loopline users assign {user.name} --task {task}`",
            )


def authorize(
    ws_or_tx: Workspace | Tx,
    actor: Actor | None,
    permission: str,
    project: str | None = None,
    *,
    task: int | None = None,
) -> Resolved:
    """Refuse (Forbidden) unless ``actor`` holds ``permission`` in ``project``.

    ``actor`` None means the app's signed-in user when a page runs, else a trusted in-process
    caller (a script or test using the library), which is not checked.
    """
    if permission not in PERMISSIONS:
        raise AssertionError(f"unknown permission {permission!r}: add it to core/accounts/roles.py")
    who = actor or session_actor()
    if who is None:
        return OPEN_WORKSPACE
    with _reading(ws_or_tx) as tx:
        resolved = resolve(tx, who)
        _check(tx, resolved, permission, project, task)
        return resolved


def allowed(
    ws_or_tx: Workspace | Tx, actor: Actor | None, permission: str, project: str | None = None
) -> bool:
    try:
        authorize(ws_or_tx, actor, permission, project)
    except Forbidden:
        return False
    return True


def check_action(
    tx: Tx, actor: Actor, action: str, *, project: str | None, target: str | None
) -> Resolved:
    """The check ``record`` makes for every change. An action missing from the matrix is
    refused for everyone but admins, so a new kind of change cannot slip past the roles."""
    if action in ACTIONS and ACTIONS[action] is None:
        return OPEN_WORKSPACE  # logins and sign-outs: recorded under the name given
    resolved = resolve(tx, actor)
    user = resolved.user
    if user is None:
        return resolved
    permission = ACTIONS.get(action)
    if permission is None:
        if not user.is_admin:
            raise Forbidden(
                f"The action {action!r} is not in Loopline's permission matrix, so only admins "
                f"may perform it ({user.name} is not an admin).",
                hint="developers: add the action to ACTIONS in core/accounts/roles.py",
            )
        return resolved
    match = _TASK.match(target or "")
    _check(tx, resolved, permission, project, int(match.group(1)) if match else None)
    return resolved


def visible_projects(
    ws_or_tx: Workspace | Tx,
    actor: Actor | None,
    names: Iterable[str],
    permission: str = "project.read",
) -> list[str]:
    """The project names among ``names`` that ``actor`` may see (all of them when unchecked)."""
    wanted = list(names)
    who = actor or session_actor()
    if who is None:
        return wanted
    with _reading(ws_or_tx) as tx:
        user = resolve(tx, who).user
    scope = None if user is None else user.projects_with(permission)
    return wanted if scope is None else [n for n in wanted if n in scope]


def readable(
    ws_or_tx: Workspace | Tx, actor: Actor | None, permission: str, project: str | None = None
) -> frozenset[str] | None:
    """The check at a read entry point. With a project: Forbidden unless it may be read. Without:
    the projects whose rows may be shown (None: all of them), Forbidden when there is none."""
    who = actor or session_actor()
    if who is None:
        return None
    with _reading(ws_or_tx) as tx:
        resolved = resolve(tx, who)
        if project is not None:
            _check(tx, resolved, permission, project, None)
            return None
    user = resolved.user
    if user is None:
        return None
    scope = user.projects_with(permission)
    if scope is not None and not scope:
        raise refusal(user, permission, None)
    return None if scope is None else frozenset(scope)


class _TaskLike(Protocol):
    @property
    def task_id(self) -> int: ...

    @property
    def project(self) -> str: ...


T = TypeVar("T", bound=_TaskLike)


def visible_tasks(ws_or_tx: Workspace | Tx, actor: Actor | None, tasks: Sequence[T]) -> list[T]:
    """The labeling tasks ``actor`` may see: all of a project with ``labeling.read``; else those
    they may label in (assigned to them, or assigned to nobody)."""
    who = actor or session_actor()
    if who is None or not tasks:
        return list(tasks)
    with _reading(ws_or_tx) as tx:
        user = resolve(tx, who).user
        if user is None:
            return list(tasks)
        rows = tx.rows(
            "SELECT task_id, user_name FROM task_assignees "
            "WHERE task_id IN (SELECT unnest(?::BIGINT[]))",
            [[t.task_id for t in tasks]],
        )
    assigned: dict[int, set[str]] = {}
    for task_id, name in rows:
        assigned.setdefault(int(task_id), set()).add(str(name))
    return [
        t
        for t in tasks
        if user.can("labeling.read", t.project)
        or (user.can("label", t.project) and user.name in assigned.get(t.task_id, {user.name}))
    ]


def own_answers_only(ws_or_tx: Workspace | Tx, actor: Actor | None, task: _TaskLike) -> str | None:
    """For reading a task's answers: None when every answer may be read (``labeling.read``), the
    user's name when only their own may (an annotator of the task: they label blind), else
    Forbidden."""
    who = actor or session_actor()
    if who is None:
        return None
    with _reading(ws_or_tx) as tx:
        user = resolve(tx, who).user
        if user is None or user.can("labeling.read", task.project):
            return None
        if visible_tasks(tx, who, [task]):
            return user.name
    raise refusal(user, "labeling.read", task.project)


def check_task_visible(ws: Workspace, actor: Actor | None, task: _TaskLike) -> None:
    """Forbidden unless ``actor`` may see the task (see ``visible_tasks``)."""
    if not visible_tasks(ws, actor, [task]):
        authorize(ws, actor, "labeling.read", task.project)
