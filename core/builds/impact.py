"""The impact of a candidate before a release: which requirements it would change if it served —
a registered model version, or the model (else the run) of a build."""

from __future__ import annotations

import dataclasses

from core.builds.service import get_build
from core.errors import InvalidInput, NotFound
from core.requirements.impact import impact_of, model_candidate
from core.requirements.models import Impact
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
    """What would change if the candidate served in production; nothing is written."""
    return impact_of(ws, project, candidate_of(ws, project, model=model, build=build))


def _build_candidate(ws: Workspace, project: str, build: int) -> Candidate:
    done = get_build(ws, build)
    if done.project != project:
        raise InvalidInput(f"Build #{build} belongs to {done.project!r}, not {project!r}.")
    if done.model_id is not None:
        found = model_candidate(ws, project, done.model_id)
        return dataclasses.replace(found, label=f"build #{build} ({found.label})")
    if done.run_id is None:
        raise NotFound(
            f"Build #{build} was {done.status} before it trained a model: nothing to compare.",
            hint="pick a build that trained (successful or failed)",
        )
    with ws.store.read() as tx:
        dataset = tx.scalar(
            "SELECT artifact_id FROM run_inputs WHERE run_id = ? AND role = 'dataset'",
            [done.run_id],
        )
    return Candidate(
        project,
        f"build #{build}",
        None,
        project,
        None,
        done.run_id,
        None if dataset is None else int(dataset),
        done.label_set_id,
    )
