"""Impact of a candidate: which requirements would change status if it were promoted. The same
status query runs with the candidate in production's place and is compared with the current
statuses; nothing is written. Naming a candidate by its build is core/releases' part."""

from __future__ import annotations

import json

from core.accounts.access import readable
from core.artifacts.service import get_artifact
from core.errors import InvalidInput
from core.requirements.models import Impact, ImpactChange, Status
from core.requirements.rules import compared
from core.requirements.status import (
    STATUS_COLUMNS,
    Candidate,
    query_params,
    select_statuses,
    status_query,
)
from core.store import Tx, Workspace

VERBS = {
    "violated": "would violate",
    "met": "would meet",
    "suspect": "would make suspect",
    "inconclusive": "would leave inconclusive",
    "no_evidence": "would leave without evidence",
}


def model_candidate(ws: Workspace, project: str, model: int | str) -> Candidate:
    """A registered model version of ``project`` (``model:hw-triage@3``, an id) as a candidate."""
    artifact = get_artifact(ws, model)
    if artifact.kind != "model" or artifact.project != project:
        raise InvalidInput(f"{artifact.ref} is not a registered model of {project!r}.")
    meta = artifact.metadata
    return Candidate(
        project,
        f"v{artifact.version}",
        artifact.artifact_id,
        artifact.name,
        artifact.version,
        _int(meta.get("run_id")),
        _int(meta.get("dataset_id")),
        _int(meta.get("label_set_id")),
    )


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def what_if(tx: Tx, candidate: Candidate) -> dict[str, Status]:
    """The statuses every requirement would have with ``candidate`` in production."""
    rows = tx.rows(
        f"SELECT {STATUS_COLUMNS} FROM ({status_query(candidate)})",
        query_params(tx, candidate.project, candidate),
    )
    return {row[1]: Status(*row) for row in rows}


def impact_of(ws: Workspace, project: str, candidate: Candidate) -> Impact:
    """What would change if ``candidate`` served in production (core/releases names candidates
    by model version or build)."""
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        before = select_statuses(tx, project)
        after = what_if(tx, candidate)
    changes = []
    for rid, new in sorted(after.items(), key=lambda item: (item[1].level != "system", item[0])):
        old = before.get(rid)
        if old is not None and old.status == new.status:
            continue
        changes.append(
            ImpactChange(
                rid,
                new.level,
                old.status if old else "no_evidence",
                new.status,
                new.value,
                new.threshold,
                new.slice,
                new.via,
                describe(candidate.label, new, old.status if old else None),
                new.n,
                new.lower,
                new.upper,
            )
        )
    return Impact(project, candidate.label, tuple(changes), after)


def describe(label: str, status: Status, before: str | None) -> str:
    """``v7 would violate SYS-3 via ML-12 on language = de: 0.910 < 0.950 (now met)``."""
    via = f" via {status.via}" if status.via else ""
    where = f" on {status.slice}" if status.slice else ""
    figures = ""
    if status.value is not None and status.threshold is not None and status.comparator:
        figures = f": {compared(status.value, status.comparator, status.threshold)}"
        if status.interval_text:
            figures += f" ({status.interval_text})"
    now = f" (now {before.replace('_', ' ')})" if before else ""
    verb = VERBS.get(status.status, f"would make {status.status}")
    return f"{label} {verb} {status.requirement_id}{via}{where}{figures}{now}"


def impact_json(result: Impact) -> str:
    return json.dumps(
        {
            "project": result.project,
            "candidate": result.candidate,
            "changes": [c.__dict__ for c in result.changes],
        },
        indent=1,
        default=str,
    )
