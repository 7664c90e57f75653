"""Why a slice of a run falls short: the gate checks its build failed on that slice, and the
requirement thresholds its value misses.

A comparison's per-slice table marks drops against production; a drop is only half the story when
a requirement sets an absolute bar (``ML-2: accuracy on language = en ≥ 0.91``). Builds sit above
experiments and requirements, so this is where both are read together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from core.builds.service import list_builds
from core.experiments.service import RunDetail, get_run
from core.registry.compare import Comparison, run_label
from core.requirements.rules import Rule, check
from core.requirements.service import list_requirements
from core.store import Workspace


@dataclass(frozen=True)
class SliceFinding:
    """One reason a cell of the per-slice table fails: ``source`` is ``gate`` or ``requirement``."""

    column: str  # the comparison's column label: "#4 build-2" or "production"
    run_id: int
    slice: str
    source: str
    text: str


def slice_findings(
    ws: Workspace, comparison: Comparison, metric: str = "accuracy"
) -> list[SliceFinding]:
    """The failed gate checks and requirement thresholds on ``metric`` for every cell of
    ``comparison.slices`` (the compared runs and the production column)."""
    if not comparison.runs:
        return []
    project = comparison.runs[0].project
    columns: list[tuple[str, RunDetail]] = [(run_label(r), r) for r in comparison.runs]
    if comparison.production_run is not None and "production" in comparison.slices:
        columns.append(("production", get_run(ws, int(comparison.production_run))))
    rules = [
        r.rule()
        for r in list_requirements(ws, project)
        if r.is_ml and r.metric == metric and r.comparator is not None
    ]
    builds = {b.run_id: b for b in list_builds(ws, project) if b.run_id is not None}
    shown = set(comparison.slices.index)
    found: list[SliceFinding] = []
    for column, run in columns:
        build = builds.get(run.run_id)
        gate = [
            c
            for c in (build.checks if build is not None else ())
            if not c.passed and c.metric == metric and c.slice in shown
        ]
        gated = {(c.slice, c.name.split(":", 1)[0]) for c in gate if c.kind == "requirement"}
        build_text = "" if build is None else f"build #{build.number} ({build.status})"
        for rule in rules:
            for target in rule.slices:
                text = _rule_failure(rule, target, run)
                if text is None or target not in shown:
                    continue
                if (target, rule.requirement_id) in gated:
                    text += f"; {build_text} failed its gate on it"
                    gated.discard((target, rule.requirement_id))
                found.append(SliceFinding(column, run.run_id, target, "requirement", text))
        for result in gate:
            explained = result.kind == "requirement" and (
                (result.slice, result.name.split(":", 1)[0]) not in gated
            )
            if not explained:
                found.append(
                    SliceFinding(
                        column, run.run_id, result.slice, "gate", f"{build_text}: {result.message}"
                    )
                )
    return found


def _rule_failure(rule: Rule, target: str, run: RunDetail) -> str | None:
    """The rule's text when ``run`` misses it on the slice ``target``; None when it holds or
    cannot be measured."""
    one = dataclasses.replace(rule, slices=(target,))
    outcome = check(one, lambda metric, slice_name: _lookup(run, metric, slice_name))
    return outcome.text(one) if outcome.passed is False else None


def _lookup(run: RunDetail, metric: str, slice_name: str) -> float | None:
    source: Mapping[str, float] = (
        run.slice_metrics.get(slice_name, {}) if slice_name else run.metrics
    )
    value = source.get(metric)
    return None if value is None else float(value)
