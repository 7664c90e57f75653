"""Rolling back a canary automatically.

A canary is the ``acceptance`` model answering part of the live traffic (``loopline serve
--canary P``). When the project's alert rules fire on it — an open alert on the candidate's own
windows, or a rule breached by its figures on the paired traffic (realized accuracy, latency) —
the ``acceptance`` alias goes back to the production model: the service drops the canary at its
next poll, and the move is an audited promotion whose reason names the breach.

Run after each monitoring computation of the project (:func:`check_canary`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from core.actor import SYSTEM, Actor
from core.monitoring.alerts import list_alerts
from core.monitoring.candidates import CandidateComparison, SideFigures, compare_candidate
from core.monitoring.rules import AlertRule, default_rules
from core.projects.service import get_project
from core.registry.service import find_alias
from core.releases.service import promote
from core.store import Workspace


@dataclass(frozen=True)
class CanaryCheck:
    """What the check found: whether a canary runs, the breaches, and whether it rolled back."""

    project: str
    candidate: str | None  # the canary's model reference (None: no canary runs)
    breaches: tuple[str, ...]
    rolled_back: bool

    def text(self) -> str:
        if self.candidate is None:
            return f"{self.project}: no canary runs"
        if not self.rolled_back:
            return f"{self.project}: canary {self.candidate} holds (no rule fires on it)"
        return f"{self.project}: canary {self.candidate} rolled back: " + "; ".join(self.breaches)


def check_canary(
    ws: Workspace, project: str, actor: Actor, *, rules: Sequence[AlertRule] | None = None
) -> CanaryCheck:
    """Roll the canary back when a rule fires on it (the acceptance alias to production's model)."""
    production = find_alias(ws, project, "production")
    candidate = find_alias(ws, project, "acceptance")
    if production is None or candidate is None or candidate.artifact_id == production.artifact_id:
        return CanaryCheck(project, None, (), False)
    comparison = compare_candidate(ws, project, production.artifact_id, candidate.artifact_id)
    if not comparison.canary_answers:
        return CanaryCheck(project, None, (), False)  # in the shadow: it answers nobody
    chosen = list(rules) if rules is not None else default_rules(get_project(ws, project).spec)
    breaches = _open_alerts(ws, project, candidate.artifact_id) + _breaches(comparison, chosen)
    if not breaches:
        return CanaryCheck(project, candidate.ref, (), False)
    promote(
        ws,
        project,
        production.artifact_id,
        SYSTEM,  # Loopline itself, whoever computed the windows (``canary.rollback``)
        alias="acceptance",
        action="canary.rollback",
        reason=f"canary {candidate.ref} rolled back automatically: " + "; ".join(breaches),
    )
    return CanaryCheck(project, candidate.ref, tuple(breaches), True)


def _open_alerts(ws: Workspace, project: str, model_id: int) -> list[str]:
    return [
        f"alert #{a.alert_id} {a.rule} ({a.metric})"
        for a in list_alerts(ws, project)
        if a.status != "resolved" and a.model_id == model_id
    ]


Figure = tuple[float | None, int]  # value, n


def canary_figures(comparison: CandidateComparison) -> dict[str, Figure]:
    """The candidate's figures a rule can judge: (value, n)."""
    return _figures(comparison, comparison.candidate)


def _figures(comparison: CandidateComparison, side: SideFigures) -> dict[str, Figure]:
    """A side's figures under monitoring's metric names (so the project's rules match them)."""
    return {
        "accuracy": (side.realized_accuracy.value, side.realized_accuracy.n),
        "estimated.accuracy": (side.estimated_accuracy, comparison.pairs),
        "latency_p95_ms": (side.latency_p95_ms, comparison.pairs),
    }


def _breaches(comparison: CandidateComparison, rules: Sequence[AlertRule]) -> list[str]:
    """Each overall rule a candidate figure breaches, on at least the rule's minimum volume
    (``drop`` rules compare with production's figure on the same requests)."""
    reference = {k: v for k, (v, _) in _figures(comparison, comparison.production).items()}
    found = []
    for rule in rules:
        if rule.slice:
            continue
        for metric, (value, n) in canary_figures(comparison).items():
            if value is None or n < rule.min_volume or not fnmatch.fnmatchcase(metric, rule.metric):
                continue
            if rule.breached(value, reference.get(metric)):
                found.append(
                    f"rule {rule.name}: {metric} {value:.3f} {rule.comparator} "
                    f"{rule.threshold:g} (n = {n})"
                )
    return found
