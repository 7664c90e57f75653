"""Who may do what: resolving an actor to a user, and checking a permission in a project.

``check_action`` runs inside ``core.store.audit.record``, in the transaction of the change, so a
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
USER_COLUMNS = (  # what user_from_rows reads
    "u.user_name, u.display_name, u.email, u.os_user, u.active, u.password_hash IS NOT NULL, "
    "u.created_at, u.created_by, r.role, r.project"
)


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
    first = rows[0]
    order = list(ROLES)
    grants = sorted(
        (Grant(str(r[8]), str(r[9])) for r in rows if r[8] is not None),
        key=lambda g: (order.index(g.role) if g.role in order else len(order), g.project),
    )
    return User(
        str(first[0]),
        str(first[1]),
        first[2],
        first[3],
        bool(first[4]),
        bool(first[5]),
        first[6],
        str(first[7]),
        tuple(grants),
    )


@contextmanager
def _reading(ws_or_tx: Workspace | Tx) -> Iterator[Tx]:
    """The caller's transaction, or a read of the workspace for the length of the block."""
    if isinstance(ws_or_tx, Tx):
        yield ws_or_tx
        return
    with ws_or_tx.store.read() as tx:
        yield tx


def resolve(tx: Tx, actor: Actor, *, now: datetime | None = None) -> Resolved:
    """The user behind ``actor``, after checking the CLI's claims; Forbidden when there is none."""
    if is_open(tx):
        return OPEN_WORKSPACE
    session = session_actor()
    if session is not None and actor.via == "app" and actor.name != session.name:
        raise Forbidden(
            f"The app is signed in as {session.name}; a change in the name of {actor.name} is refused.",
            hint="sign out and sign in as that user",
        )
    if actor == SYSTEM and actor.token is None and actor.os_user is None:
        return Resolved(SYSTEM_USER)
    details: dict[str, Any] = {}
    name = actor.name
    if actor.token is not None:
        from core.accounts.tokens import check_token

        token = check_token(tx, actor.token, now=now)
        if token.user != actor.name:
            raise Forbidden(
                f"The API token belongs to {token.user}, not to {actor.name}.",
                hint="unset LOOPLINE_USER when LOOPLINE_TOKEN is set",
            )
        details["token"] = token.label
    elif actor.os_user is not None:
        mapped = tx.one(
            "SELECT user_name FROM users WHERE os_user = ? ORDER BY user_name LIMIT 1",
            [actor.os_user],
        )
        if mapped is None:
            raise Forbidden(
                f"The OS user {actor.os_user!r} is not mapped to a Loopline user of this workspace.",
                hint=f"an admin runs `loopline users add NAME --os-user {actor.os_user}` "
                "(or `loopline users update NAME --os-user …`); CI sets LOOPLINE_TOKEN instead",
            )
        mapped_name = str(mapped[0])
        if actor.chosen and actor.name != mapped_name:
            acting = load_user(tx, mapped_name)
            if acting is None or not acting.active or not acting.is_admin:
                raise Forbidden(
                    f"LOOPLINE_USER={actor.name} is refused: the OS user {actor.os_user!r} is "
                    f"{mapped_name}, who is not an admin, and only admins may act as another user.",
                    hint="unset LOOPLINE_USER, or use that user's API token (LOOPLINE_TOKEN)",
                )
            details["act_as_by"] = mapped_name
        else:
            name = mapped_name
        if actor.os_user != name:
            details["os_user"] = actor.os_user
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
    return Resolved(user, details)


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
