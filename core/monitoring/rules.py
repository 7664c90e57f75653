"""Alert rules: plain data, validated once, and the defaults every project gets.

A rule names a metric (a glob: ``drift.psi.*``), a slice (``''`` overall, or a glob such as
``firmware_version = *``), a comparator (``>``, ``>=``, ``<``, ``<=``, or ``drop``: more than the
threshold below the model's reference evaluation), a threshold, a severity and the minimum number
of predictions (labeled ones for realized metrics) a figure must rest on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import InvalidInput, expected_one_of
from core.projects.spec import ProjectSpec

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "drop": lambda drop, threshold: drop > threshold,
}
SEVERITIES = ("info", "warning", "critical")
LATENCY_BUDGET_MS = 1000.0


@dataclass(frozen=True)
class AlertRule:
    """When a window's figure is a problem. Plain data: the lead adds rules derived from ML
    requirements by passing more of these."""

    name: str
    metric: str
    comparator: str
    threshold: float
    severity: str = "warning"
    slice: str = ""
    min_volume: int = 100
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("An alert rule needs a name.")
        if self.comparator not in COMPARATORS:
            raise InvalidInput(
                f"Rule {self.name!r}: {expected_one_of('comparator', self.comparator, COMPARATORS)}"
            )
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"Rule {self.name!r}: {expected_one_of('severity', self.severity, SEVERITIES)}"
            )
        if self.min_volume < 0:
            raise InvalidInput(f"Rule {self.name!r}: the minimum volume cannot be negative.")

    def breached(self, value: float, reference: float | None) -> bool:
        if self.comparator == "drop":
            return reference is not None and COMPARATORS["drop"](reference - value, self.threshold)
        return COMPARATORS[self.comparator](value, self.threshold)


BASE_RULES = (
    AlertRule(
        "drift",
        "drift.score",
        ">",
        0.25,
        "warning",
        min_volume=30,
        description="an input's PSI above 0.25 (its test significant): a large shift",
    ),
    AlertRule(
        "estimated-accuracy",
        "estimated.accuracy",
        "drop",
        0.05,
        "warning",
        min_volume=100,
        description="estimated accuracy 5 points below the reference",
    ),
    AlertRule(
        "accuracy",
        "accuracy",
        "drop",
        0.05,
        "critical",
        min_volume=30,
        description="realized accuracy 5 points below the reference",
    ),
    AlertRule(
        "latency",
        "latency_p95_ms",
        ">",
        LATENCY_BUDGET_MS,
        "critical",
        min_volume=20,
        description=f"p95 latency above the {LATENCY_BUDGET_MS:.0f} ms budget",
    ),
    AlertRule(
        "errors",
        "error_rate",
        ">",
        0.01,
        "warning",
        min_volume=100,
        description="more than 1% of requests failed",
    ),
)


def default_rules(spec: ProjectSpec) -> list[AlertRule]:
    """Rules every project gets: drift, estimated and realized performance, latency, errors."""
    return [*BASE_RULES, *_precision_rules(spec), *_recall_rules(spec)]


def _precision_rules(spec: ProjectSpec) -> list[AlertRule]:
    """Estimated precision of the positive class, when the project names one."""
    if not spec.labels.positive:
        return []
    return [
        AlertRule(
            f"estimated-precision.{spec.labels.positive}",
            f"estimated.precision.{spec.labels.positive}",
            "drop",
            0.10,
            "warning",
            min_volume=100,
            description="estimated precision 10 points below the reference",
        )
    ]


def _recall_rules(spec: ProjectSpec) -> list[AlertRule]:
    """Recall per class, overall and within the slices the project protects (every value)."""
    watched = [
        ("", 0.10, 100),
        *((f"{s} = *", 0.15, 50) for s in sorted({p.slice for p in spec.protected_slices})),
    ]
    return [
        AlertRule(
            f"recall.{name}",
            f"recall.{name}",
            "drop",
            drop,
            "warning",
            slice=where,
            min_volume=volume,
            description=f"realized recall {drop * 100:.0f} points below the reference",
        )
        for where, drop, volume in watched
        for name in spec.labels.classes
    ]
