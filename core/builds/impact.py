"""The impact of a candidate before a release: which requirements it would change if it served —
a registered model version, or the model (else the run) of a build. A version that served before
brings its old evidence: what each requirement was while it served, and a requirement it violated
then counts as violated again (promotion and rollback read the same panel)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.builds.service import get_build
from core.errors import InvalidInput, NotFound
from core.requirements.impact import impact_of, model_candidate
from core.requirements.models import Impact, ImpactChange
from core.requirements.status import Candidate
from core.store import Workspace


def candidate_of(
    ws: Workspace, project: str, *, model: int | str | None = None, build: int | None = None
) -> Candidate:
    """A registered model version (``model:hw-triage@3``, an id) or a build (its model, else its run)."""
    if (model is None) == (build is None):
        raise InvalidInput("Name one candidate: a model version or a build.")
    if model is not None:
        return model_candidate(ws, project, model)
    return _build_candidate(ws, project, int(str(build)))


def impact(
    ws: Workspace, project: str, *, model: int | str | None = None, build: int | None = None
) -> Impact:
    """What would change if the candidate served in production, with its old evidence when it
    served before; nothing is written."""
    candidate = candidate_of(ws, project, model=model, build=build)
    result = impact_of(ws, project, candidate)
    if candidate.model_id is None:
        return result
    return with_served_evidence(result, served_evidence(ws, project, candidate.model_id))


@dataclasses.dataclass(frozen=True)
class Served:
    """A requirement's status recorded with a model version (while it served or was built)."""

    status: str
    value: float | None
    threshold: float | None
    slice: str | None
    evidence: str | None
    at: datetime

    def text(self) -> str:
        """``violated: 0.800 vs 0.842 on language = fr (monitoring …, 2026-08-31)``"""
        figures = (
            f" {self.value:.3f} vs {self.threshold:.3f}"
            if self.value is not None and self.threshold is not None
            else ""
        )
        where = f" on {self.slice}" if self.slice else ""
        source = f"{self.evidence}, " if self.evidence else ""
        return f"{self.status.replace('_', ' ')}{figures}{where} ({source}{self.at:%Y-%m-%d})"


def served_evidence(ws: Workspace, project: str, model_id: int) -> dict[str, Served]:
    """Each requirement's evidence from the time ``model_id`` was the model it was judged on,
    from the status history: its last violation if it had one (a release must not forget it),
    else its last status (empty for a version that never served or was built)."""
    with ws.store.read() as tx:
        rows = tx.rows(
            'SELECT requirement_id, status, value, threshold, slice, evidence_ref, "at" '
            "FROM requirement_status_history WHERE project = ? AND model_id = ? "
            "AND status <> 'no_evidence' "
            "QUALIFY row_number() OVER (PARTITION BY requirement_id "
            "ORDER BY status = 'violated' DESC, \"at\" DESC, entry_id DESC) = 1",
            [project, model_id],
        )
    return {str(r[0]): Served(*r[1:]) for r in rows}


def with_served_evidence(result: Impact, served: dict[str, Served]) -> Impact:
    """``result`` with each change's old evidence appended, and a requirement the candidate
    violated when it served turned violated (unless its evidence now says violated already)."""
    changes = {c.requirement_id: c for c in result.changes}
    for rid, old in served.items():
        change = changes.get(rid)
        if change is None:
            if old.status != "violated" or rid not in result.after:
                continue
            now = result.after[rid]
            if now.status == "violated":
                continue
            change = ImpactChange(
                rid, now.level, now.status, now.status, now.value, now.threshold, now.slice,
                now.via, f"{result.candidate} would leave {rid} {now.status.replace('_', ' ')}",
                now.n, now.lower, now.upper,
            )  # fmt: skip
        changes[rid] = _with_old(result.candidate, change, old)
    ordered = sorted(changes.values(), key=lambda c: (c.level != "system", c.requirement_id))
    return dataclasses.replace(result, changes=tuple(ordered))


def _with_old(label: str, change: ImpactChange, old: Served) -> ImpactChange:
    if old.status == "violated" and change.after != "violated":
        message = (
            f"{label} violated {change.requirement_id} when it served: {old.text()}; "
            f"its evidence now would leave it {change.after.replace('_', ' ')} "
            f"(now {change.before.replace('_', ' ')})"
        )
        return dataclasses.replace(change, after="violated", message=message)
    return dataclasses.replace(change, message=f"{change.message}; when it served: {old.text()}")


def _build_candidate(ws: Workspace, project: str, build: int) -> Candidate:
    done = get_build(ws, build)
    if done.project != project:
        raise InvalidInput(f"Build #{done.number} of {done.project!r} is not one of {project!r}.")
    if done.model_id is not None:
        found = model_candidate(ws, project, done.model_id)
        return dataclasses.replace(found, label=f"build #{done.number} ({found.label})")
    if done.run_id is None:
        raise NotFound(
            f"Build #{done.number} was {done.status} before it trained a model: nothing to "
            "compare.",
            hint="pick a build that trained (successful or failed)",
        )
    with ws.store.read() as tx:
        dataset = tx.scalar(
            "SELECT artifact_id FROM run_inputs WHERE run_id = ? AND role = 'dataset'",
            [done.run_id],
        )
    return Candidate(
        project,
        f"build #{done.number}",
        None,
        project,
        None,
        done.run_id,
        None if dataset is None else int(dataset),
        done.label_set_id,
    )
