"""Alert rules derived from the ML requirements that monitoring is evidence for.

An ML requirement checked against ``monitoring`` becomes one rule per slice on the estimated
figure (it moves before labels arrive) and one on the realized figure. A relative requirement
("German no worse than English − 0.05") gets a fixed threshold from the production model's own
evaluation of the reference slice: the live English figure wobbles from window to window, the
evaluated one is the promise the model was released with.

A rule never watches fewer items than its requirement's minimum sample (``min_n``), and while an
alert made from a rule is open the requirement is not met (the status query reads the alerts):
the alert and the requirement's status cannot disagree.
"""

from __future__ import annotations

from core.monitoring.rules import AlertRule
from core.registry.service import find_alias
from core.requirements.models import Requirement
from core.requirements.service import list_requirements
from core.store import Workspace

MONITORED = ("accuracy", "precision.", "recall.", "f1.", "f1_macro")
OPERATIONAL = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "drift.")
# An alert fires when the requirement's condition fails: the rule states the failure.
FAILS_WHEN = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
SLICE_VOLUME = 30  # windows with fewer live items in the slice say too little


def rules_from_requirements(ws: Workspace, project: str) -> list[AlertRule]:
    rules: list[AlertRule] = []
    requirements = [
        r
        for r in list_requirements(ws, project, level="ml")
        if "monitoring" in r.evidence and r.metric and r.comparator
    ]
    if not requirements:
        return rules
    evaluated = _production_metrics(ws, project)
    for req in requirements:
        metric = str(req.metric)
        quality = metric.startswith(MONITORED)
        if not quality and not metric.startswith(OPERATIONAL):
            continue  # not a figure monitoring records
        for slice_name in req.slices or ("",):
            threshold = _threshold(req, evaluated, metric)
            if threshold is None:
                continue
            where = f" on {slice_name}" if slice_name else ""
            for figure in (f"estimated.{metric}", metric) if quality else (metric,):
                rules.append(
                    AlertRule(
                        name=f"{req.requirement_id}: {figure}{where}",
                        metric=figure,
                        comparator=FAILS_WHEN[str(req.comparator)],
                        threshold=round(threshold, 4),
                        severity="critical" if req.priority == "high" else "warning",
                        slice=slice_name,
                        # never below the requirement's own minimum sample: an alert
                        # does not fire on fewer items than a verdict is drawn from
                        min_volume=max(req.minimum_sample, SLICE_VOLUME if slice_name else 100),
                        description=f"{req.requirement_id} ({req.title})",
                    )
                )
    return rules


def _threshold(
    req: Requirement, evaluated: dict[tuple[str, str], float], metric: str
) -> float | None:
    if req.relative_to is None:
        return req.threshold
    reference = evaluated.get((metric, req.relative_to))
    if reference is None:
        return None  # nothing to be relative to before a model is in production
    tolerance = req.tolerance or 0.0
    return reference - tolerance if str(req.comparator).startswith(">") else reference + tolerance


def _production_metrics(ws: Workspace, project: str) -> dict[tuple[str, str], float]:
    model = find_alias(ws, project)
    run_id = model.metadata.get("run_id") if model else None
    if run_id is None:
        return {}
    with ws.store.read() as tx:
        rows = tx.rows("SELECT key, slice, value FROM run_metrics WHERE run_id = ?", [int(run_id)])
    return {(str(key), str(slice_)): float(value) for key, slice_, value in rows}
