"""Who changed what: every version of a requirement (with the fields that changed) and every
version of a project's requirement set."""

from __future__ import annotations

from core.accounts.access import readable
from core.errors import NotFound
from core.projects.service import get_project
from core.requirements.models import Requirement, RequirementSet, VersionEntry
from core.requirements.service import READ_COLUMNS, SET_COLUMNS, _diff, row_to_requirement
from core.store import Workspace


def requirement_versions(
    ws: Workspace, project: str, requirement_id: str | None = None
) -> list[VersionEntry]:
    """Every version (newest first) with what changed from the version before."""
    get_project(ws, project)
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        rows = tx.rows(
            f"SELECT {READ_COLUMNS} FROM requirements WHERE project = ? "
            "AND (? IS NULL OR requirement_id = ?) ORDER BY requirement_id, version",
            [project, requirement_id, requirement_id],
        )
    if requirement_id is not None and not rows:
        raise NotFound(f"No requirement {requirement_id!r} in {project!r}.")
    out: list[VersionEntry] = []
    previous: Requirement | None = None
    for row in rows:
        item = row_to_requirement(row)
        if previous is None or previous.requirement_id != item.requirement_id:
            previous = None
        old = previous.content() if previous else {}
        changes = (
            {"deleted": (False, True)}
            if item.deleted
            else _diff(
                old,
                {k: v for k, v in item.content().items() if v not in (None, [], "") or k in old},
            )
        )
        assert item.created_at is not None
        out.append(
            VersionEntry(
                item.requirement_id,
                item.version,
                item.set_version,
                item.deleted,
                changes,
                item.change_note,
                item.created_at,
                item.created_by,
            )
        )
        previous = item
    return sorted(out, key=lambda v: (v.at, v.version), reverse=True)


def requirement_sets(ws: Workspace, project: str) -> list[RequirementSet]:
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {SET_COLUMNS} FROM requirement_sets WHERE project = ? "
            "ORDER BY set_version DESC",
            [project],
        )
    return [RequirementSet(*row) for row in rows]
