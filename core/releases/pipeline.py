"""Releasing through the environments: acceptance, then production, each behind the project's
promotion policy (core/releases/policy.py). A promotion that misses a condition is refused with
every unmet one listed; an admin may promote past them with ``force`` (and a reason), recorded
in the audit row. The pipeline view says which model each environment holds and what each
candidate still lacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.accounts.access import authorize, readable
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, list_artifacts
from core.errors import Forbidden, InvalidInput, expected_one_of
from core.registry.service import ENVIRONMENTS, find_alias
from core.releases.policy import Condition, Facts, load_policy
from core.releases.service import promote
from core.store import Workspace

CANDIDATES_SHOWN = 5  # the newest versions the pipeline judges besides the aliased ones


@dataclass(frozen=True)
class Readiness:
    """A model version against the policy of the environment it would enter."""

    project: str
    model: str  # model:tickets@2
    model_id: int
    version: int
    environment: str
    policy: str  # the policy file, or "default policy"
    conditions: tuple[Condition, ...]

    @property
    def ready(self) -> bool:
        return all(c.met for c in self.conditions)

    @property
    def unmet(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if not c.met)

    def summary(self) -> str:
        if self.ready:
            return f"{self.model} may enter {self.environment}"
        return (
            f"{self.model} cannot enter {self.environment}: {len(self.unmet)} of "
            f"{len(self.conditions)} conditions unmet — " + "; ".join(c.line() for c in self.unmet)
        )


@dataclass(frozen=True)
class Stage:
    """An environment and the model version it holds (None: none yet)."""

    environment: str
    model: str | None
    model_id: int | None
    version: int | None
    since: datetime | None


@dataclass(frozen=True)
class Pipeline:
    """A project's environments in order, and each candidate's readiness for its next one."""

    project: str
    policy: str
    stages: tuple[Stage, ...]
    candidates: tuple[Readiness, ...]


def check_environment(environment: str) -> None:
    if environment not in ENVIRONMENTS:
        raise InvalidInput(expected_one_of("environment", environment, ENVIRONMENTS))


def readiness(ws: Workspace, project: str, model: int | str, environment: str) -> Readiness:
    """Every condition of ``environment``'s policy, checked on ``model``."""
    check_environment(environment)
    readable(ws, None, "experiments.read", project)
    artifact = get_artifact(ws, model)
    if artifact.kind != "model" or artifact.project != project:
        raise InvalidInput(f"{artifact.ref} is not a registered model of {project!r}.")
    policy, source = load_policy(ws, project)
    facts = Facts(ws, project, artifact, find_alias(ws, project, "production"))
    conditions = tuple(check.run(facts) for check in policy[environment])
    return Readiness(
        project,
        artifact.ref,
        artifact.artifact_id,
        artifact.version,
        environment,
        source,
        conditions,
    )


def release(
    ws: Workspace,
    project: str,
    model: int | str,
    actor: Actor,
    *,
    to: str,
    reason: str,
    force: bool = False,
) -> Artifact:
    """Promote ``model`` to environment ``to`` if it meets that environment's policy; an admin
    may ``force`` it past unmet conditions (they are kept in the audit row)."""
    check_environment(to)
    authorize(ws, actor, "promote", project)  # who may not promote hears that first
    ready = readiness(ws, project, model, to)
    unmet = ready.unmet
    if any(c.check == "servable" for c in unmet) or not unmet:
        return promote(ws, project, ready.model_id, actor, alias=to, reason=reason)
    if not force:
        raise InvalidInput(
            ready.summary() + ".",
            hint="meet them (see `loopline environments "
            f"{project}`), or an admin promotes past them with --force and a --reason",
        )
    _must_be_admin(ws, actor, project, ready)
    forced = [c.line() for c in unmet]
    return promote(ws, project, ready.model_id, actor, alias=to, reason=reason, forced=forced)


def _must_be_admin(ws: Workspace, actor: Actor, project: str, ready: Readiness) -> None:
    resolved = authorize(ws, actor, "promote", project)
    user = resolved.user
    if user is not None and not user.is_admin:
        raise Forbidden(
            f"{user.name} may not force {ready.model} into {ready.environment} past "
            f"{len(ready.unmet)} unmet condition(s); only an admin may.",
            hint="meet the conditions, or ask an admin to promote with --force",
        )


def pipeline(ws: Workspace, project: str) -> Pipeline:
    """Each environment's model, and for the newest versions not in production (and the one in
    acceptance) what they still lack for their next environment."""
    readable(ws, None, "experiments.read", project)
    stages = tuple(_stage(ws, project, env) for env in ENVIRONMENTS)
    held = {stage.environment: stage.model_id for stage in stages}
    versions = sorted(list_artifacts(ws, kind="model", project=project), key=lambda a: -a.version)
    production_version = next(
        (a.version for a in versions if a.artifact_id == held["production"]), 0
    )
    candidates: list[Readiness] = []
    for artifact in versions:
        if artifact.artifact_id == held["production"]:
            continue
        in_acceptance = artifact.artifact_id == held["acceptance"]
        if not in_acceptance and (
            artifact.version < production_version or len(candidates) >= CANDIDATES_SHOWN
        ):
            continue
        target = "production" if in_acceptance else "acceptance"
        candidates.append(readiness(ws, project, artifact.artifact_id, target))
    _, source = load_policy(ws, project)
    return Pipeline(project, source, stages, tuple(candidates))


def _stage(ws: Workspace, project: str, environment: str) -> Stage:
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT artifact_id, updated_at FROM aliases WHERE project = ? AND alias = ?",
            [project, environment],
        )
    if row is None:
        return Stage(environment, None, None, None, None)
    artifact = get_artifact(ws, int(row[0]))
    return Stage(environment, artifact.ref, artifact.artifact_id, artifact.version, row[1])
