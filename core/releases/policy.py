"""The promotion policy: what a model version must show before it enters an environment.

A policy file (``policies/<project>.yaml`` in the workspace) lists, per environment, named checks
from :data:`CHECKS`; without one, :func:`default_policy` applies (``min_served``, answered or
scored in the shadow at least N times, is for a project whose file asks for a shadow stage)::

    acceptance:
      - check: servable
    production:
      - check: servable
      - check: no_open_alerts
      - check: requirements_met  # strict: true also fails inconclusive / no evidence

Each check is a small frozen config with ``run(facts) -> Condition``: what it demands, whether
the model meets it and why not. A promotion that misses any is refused, listing each one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import yaml

from core.artifacts.models import Artifact
from core.errors import InvalidInput, expected_one_of
from core.monitoring.alerts import list_alerts
from core.registry.service import ENVIRONMENTS, unservable
from core.requirements.impact import impact_of, model_candidate
from core.serving.log import served_count
from core.store import Workspace

POLICY_DIR = "policies"
MIN_SERVED = 200
BLOCKING = ("violated",)
STRICT_BLOCKING = ("violated", "suspect", "inconclusive", "no_evidence")


@dataclass(frozen=True)
class Condition:
    """One check of the policy on one model version: met or not, and what it found."""

    check: str
    met: bool
    detail: str

    def line(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass
class Facts:
    """What the checks read about a model version, each fetched once when first asked for."""

    ws: Workspace
    project: str
    model: Artifact
    production: Artifact | None
    _cache: dict[str, Any] = field(default_factory=dict)

    def served(self) -> int:
        if "served" not in self._cache:
            self._cache["served"] = served_count(self.ws, self.project, self.model.artifact_id)
        return int(self._cache["served"])

    def open_alerts(self) -> list[Any]:
        if "alerts" not in self._cache:
            alerts = list_alerts(self.ws, self.project)
            self._cache["alerts"] = [
                a for a in alerts if a.status != "resolved" and a.model_id == self.model.artifact_id
            ]
        return list(self._cache["alerts"])

    def statuses(self) -> Mapping[str, Any]:
        if "statuses" not in self._cache:
            candidate = model_candidate(self.ws, self.project, self.model.artifact_id)
            self._cache["statuses"] = impact_of(self.ws, self.project, candidate).after
        return dict(self._cache["statuses"])

    def behaviour(self) -> list[tuple[str, float, float, bool]] | None:
        """(test, pass rate, threshold, passed) of the version's latest build that ran
        behavioural tests; [] when none did; None when no build of the project ever did (or
        this workspace predates behavioural tests)."""
        if "behaviour" not in self._cache:
            self._cache["behaviour"] = _behaviour(self.ws, self.project, self.model.artifact_id)
        result: list[tuple[str, float, float, bool]] | None = self._cache["behaviour"]
        return result


def _behaviour(
    ws: Workspace, project: str, model_id: int
) -> list[tuple[str, float, float, bool]] | None:
    with ws.store.read() as tx:
        if not tx.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'behave_results'"
        ):
            return None
        if not tx.scalar("SELECT count(*) FROM behave_results WHERE project = ?", [project]):
            return None
        rows = tx.rows(
            "SELECT test_name, coalesce(pass_rate, 0), threshold, passed FROM behave_results "
            "WHERE project = ? AND model_id = ? AND build_id = (SELECT max(build_id) "
            "FROM behave_results WHERE project = ? AND model_id = ?) ORDER BY test_name",
            [project, model_id, project, model_id],
        )
    return [(str(r[0]), float(r[1]), float(r[2]), bool(r[3])) for r in rows]


class Check(Protocol):
    name: ClassVar[str]

    def run(self, facts: Facts) -> Condition: ...


@dataclass(frozen=True)
class Servable:
    """Loopline can load and serve the version (an imported MLflow model cannot)."""

    name: ClassVar[str] = "servable"

    def run(self, facts: Facts) -> Condition:
        why = unservable(facts.model)
        return Condition(self.name, why is None, why or "Loopline serves it")


@dataclass(frozen=True)
class MinServed:
    """Served in acceptance, in the shadow or as a canary for at least ``predictions`` requests
    (met at once for a project's first model: there is no traffic to watch it on)."""

    predictions: int = MIN_SERVED
    name: ClassVar[str] = "min_served"

    def __post_init__(self) -> None:
        if self.predictions < 0:
            raise InvalidInput("min_served: predictions cannot be negative.")

    def run(self, facts: Facts) -> Condition:
        if facts.production is None:
            return Condition(self.name, True, "the project's first model: nothing serves yet")
        count = facts.served()
        met = count >= self.predictions
        detail = f"{count:,} of {self.predictions:,} predictions served or shadowed"
        if not met:
            detail += " (serve it with `loopline serve PROJECT --shadow` while in acceptance)"
        return Condition(self.name, met, detail)


@dataclass(frozen=True)
class NoOpenAlerts:
    """No alert on the version's figures is open or acknowledged (resolved ones do not count)."""

    name: ClassVar[str] = "no_open_alerts"

    def run(self, facts: Facts) -> Condition:
        alerts = facts.open_alerts()
        if not alerts:
            return Condition(self.name, True, "no open alert on it")
        shown = ", ".join(f"#{a.alert_id} {a.rule} ({a.status})" for a in alerts[:5])
        more = f" and {len(alerts) - 5} more" if len(alerts) > 5 else ""
        return Condition(self.name, False, f"{len(alerts)} open alert(s): {shown}{more}")


@dataclass(frozen=True)
class RequirementsMet:
    """With the version in production no requirement would be violated (``strict``: nor left
    suspect, inconclusive or without evidence)."""

    strict: bool = False
    name: ClassVar[str] = "requirements_met"

    def run(self, facts: Facts) -> Condition:
        blocking = STRICT_BLOCKING if self.strict else BLOCKING
        bad = sorted(
            (rid, status.status)
            for rid, status in facts.statuses().items()
            if status.status in blocking
        )
        if not bad:
            return Condition(self.name, True, "every requirement would be met")
        shown = ", ".join(f"{rid} {status.replace('_', ' ')}" for rid, status in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        return Condition(self.name, False, f"{len(bad)} requirement(s) not met: {shown}{more}")


@dataclass(frozen=True)
class BehaviourPassed:
    """The version's behavioural tests (from its latest build that ran them) all passed. A
    project whose builds never ran a suite meets it: there is nothing to judge on."""

    name: ClassVar[str] = "behaviour_passed"

    def run(self, facts: Facts) -> Condition:
        results = facts.behaviour()
        if results is None:
            return Condition(self.name, True, "no behavioural suite has run in this project")
        if not results:
            return Condition(
                self.name, False, "no behavioural results for this version (build it to run them)"
            )
        failed = [
            f"{name} ({rate:.0%} < {threshold:g})"
            for name, rate, threshold, ok in results
            if not ok
        ]
        if not failed:
            return Condition(self.name, True, f"all {len(results)} behavioural test(s) passed")
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        return Condition(self.name, False, f"{len(failed)} behavioural test(s) failed: {shown}")


CHECKS: dict[str, type[Any]] = {
    "servable": Servable,
    "min_served": MinServed,
    "no_open_alerts": NoOpenAlerts,
    "requirements_met": RequirementsMet,
    "behaviour_passed": BehaviourPassed,
}


def default_policy() -> dict[str, list[Check]]:
    return {
        "acceptance": [Servable()],
        "production": [  # min_served is asked for by a policy file (it needs a shadow stage)
            Servable(),
            NoOpenAlerts(),
            RequirementsMet(),
            BehaviourPassed(),
        ],
    }


def policy_path(ws: Workspace, project: str) -> Path:
    return Path(ws.root) / POLICY_DIR / f"{project}.yaml"


def load_policy(ws: Workspace, project: str) -> tuple[dict[str, list[Check]], str]:
    """The project's policy and where it came from: its file as the workspace names it
    (``policies/<project>.yaml``, the same on every machine), or ``default policy``."""
    path = policy_path(ws, project)
    if not path.is_file():
        return default_policy(), "default policy"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path.name}: not valid YAML ({exc}).") from exc
    return parse_policy(data, path.name), path.relative_to(ws.root).as_posix()


def parse_policy(data: Any, source: str) -> dict[str, list[Check]]:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{source}: expected a mapping of environments "
            f"({', '.join(ENVIRONMENTS)}) to lists of checks."
        )
    policy: dict[str, list[Check]] = {env: [] for env in ENVIRONMENTS}
    for env, entries in data.items():
        if env not in ENVIRONMENTS:
            raise InvalidInput(f"{source}: {expected_one_of('environment', env, ENVIRONMENTS)}")
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise InvalidInput(f"{source}: {env}: expected a list of {{check: NAME, …}}.")
        policy[env] = [_check(entry, f"{source}: {env}[{i}]") for i, entry in enumerate(entries)]
    return policy


def _check(entry: Any, where: str) -> Check:
    if not isinstance(entry, Mapping) or "check" not in entry:
        raise InvalidInput(f"{where}: expected {{check: NAME, …}}.")
    kind = entry["check"]
    if kind not in CHECKS:
        raise InvalidInput(f"{where}.check: {expected_one_of('check', kind, CHECKS)}")
    arguments = {k: v for k, v in entry.items() if k != "check"}
    try:
        check: Check = CHECKS[kind](**arguments)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {exc}.") from exc
    return check
