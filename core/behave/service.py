"""A behavioural suite run against a registered model of the workspace (``loopline behave``),
and against a model a build just trained (core/builds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.behave.models import SuiteResult
from core.behave.run import Sample, run_suite
from core.behave.suite import FromTestSet, Suite, load_suite
from core.errors import InvalidInput, NotFound
from core.experiments.service import project_test_set
from core.ml.model import Model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import ALIASES, find_alias, load_model
from core.store import Workspace


def behave(
    ws: Workspace,
    project: str,
    actor: Actor | None,
    *,
    model: int | str | None = None,
    suite: Path | None = None,
) -> SuiteResult:
    """Run the project's suite (or ``suite``) on ``model`` (a reference, an id or an alias;
    default: the model in production). Nothing is written."""
    authorize(ws, actor, "experiments.read", project)
    spec = get_project(ws, project).spec
    chosen = load_suite(suite, ws.root, spec)
    artifact = _model(ws, project, model)
    return judge(ws, spec, chosen, load_model(ws, artifact), _name(artifact))


def judge(ws: Workspace, spec: ProjectSpec, suite: Suite, model: Model, name: str) -> SuiteResult:
    tests = run_suite(model, spec, suite, test_set_sampler(ws, spec))
    return SuiteResult(spec.name, name, suite.source, tuple(tests))


def test_set_sampler(ws: Workspace, spec: ProjectSpec) -> Sample:
    """Draws examples from the project's test set, read once on first use."""
    frames: list[tuple[pd.DataFrame, pd.Series]] = []

    def sample(wanted: FromTestSet, seed: int) -> pd.DataFrame:
        if not frames:
            test = project_test_set(ws, spec)
            frames.append((test.frame, test.labels))
        frame, labels = frames[0]
        keep = pd.Series(True, index=frame.index)
        if wanted.label is not None:
            keep &= labels.to_numpy() == wanted.label
        for column, value in wanted.where.items():
            if column not in frame.columns:
                raise InvalidInput(f"The test set has no column {column!r} to select examples by.")
            keep &= frame[column].astype("string") == value
        chosen = frame[keep.to_numpy()]
        return chosen.sample(n=min(wanted.count, len(chosen)), random_state=seed)

    return sample


def _model(ws: Workspace, project: str, ref: int | str | None) -> Artifact:
    if ref is None or str(ref) in ALIASES:
        alias = str(ref or "production")
        found = find_alias(ws, project, alias)
        if found is None:
            raise NotFound(
                f"Project {project!r} has no model in {alias}.",
                hint=f"name one with --model model:{project}@N",
            )
        return found
    artifact = get_artifact(ws, ref)
    if artifact.kind != "model" or artifact.project != project:
        raise InvalidInput(f"{artifact.ref} is not a model of {project!r}.")
    return artifact


def _name(artifact: Artifact) -> str:
    return f"{artifact.name} v{artifact.version}"
