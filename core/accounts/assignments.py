"""Task assignments: which annotators label a task. A task without any is open to every
annotator of its project (``core.accounts.access`` checks it when an answer is saved)."""

from __future__ import annotations

from collections.abc import Sequence

from core.accounts.audit import record
from core.accounts.users import require_user
from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.store import Workspace, utcnow


def assign(
    ws: Workspace, actor: Actor, task_id: int, names: Sequence[str], *, remove: bool = False
) -> list[str]:
    """Assign annotators to a labeling task (or take them off it); returns the task's assignees.

    A task without assignees is open to every annotator of its project."""
    with ws.store.transaction() as tx:
        row = tx.one("SELECT project FROM tasks WHERE task_id = ?", [task_id])
        if row is None:
            raise NotFound(f"No task #{task_id}.", hint="`loopline tasks` lists the tasks")
        project = str(row[0])
        record(
            tx,
            actor,
            "task.unassign" if remove else "task.assign",
            project=project,
            target=f"task #{task_id}",
            details={"users": list(names)},
        )
        for name in names:
            user = require_user(tx, name)
            if remove:
                tx.execute(
                    "DELETE FROM task_assignees WHERE task_id = ? AND user_name = ?",
                    [task_id, name],
                )
                continue
            if not user.can("label", project):
                raise InvalidInput(
                    f"{name} cannot label in {project} (roles: {', '.join(user.roles(project)) or 'none'}).",
                    hint=f"`loopline users grant {name} annotator --project {project}` first",
                )
            tx.execute(
                "INSERT OR IGNORE INTO task_assignees VALUES (?, ?, ?, ?)",
                [task_id, name, utcnow(), actor.name],
            )
        return [
            str(r[0])
            for r in tx.rows(
                "SELECT user_name FROM task_assignees WHERE task_id = ? ORDER BY user_name",
                [task_id],
            )
        ]


def assignees(ws: Workspace, task_ids: Sequence[int]) -> dict[int, list[str]]:
    with ws.store.read() as tx:
        rows = tx.rows(
            "SELECT task_id, user_name FROM task_assignees "
            "WHERE task_id IN (SELECT unnest(?::BIGINT[])) ORDER BY task_id, user_name",
            [list(task_ids)],
        )
    found: dict[int, list[str]] = {}
    for task_id, name in rows:
        found.setdefault(int(task_id), []).append(str(name))
    return found
