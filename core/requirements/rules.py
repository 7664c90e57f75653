"""What an ML requirement checks, in plain Python: metric names, comparators, the relative form.

The status recomputation does the same arithmetic in SQL (``status.py``) over every requirement at
once; the build gate and tests use these functions on one evaluation. A contract test keeps the two
in agreement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

COMPARATORS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
NEGATED = {">=": "<", ">": "≤", "<=": ">", "<": "≥"}


def compared(value: float, comparator: str, threshold: float) -> str:
    """``0.667 < 0.750``: the sign says how the figures compare, whatever the status says (a
    suspect requirement's figure may fall short, a met one's may not yet be recomputed)."""
    holds = {
        ">=": value >= threshold,
        ">": value > threshold,
        "<=": value <= threshold,
        "<": value < threshold,
    }.get(comparator)
    if holds is None:
        return f"{value:.3f} {comparator} {threshold:.3f}"
    symbol = (COMPARATORS if holds else NEGATED)[comparator]
    return f"{value:.3f} {symbol} {threshold:.3f}"


EVIDENCE = {
    "production": "the newest evaluation of the model in production (its build, or a later "
    "`loopline verify-system` run of it)",
    "build": "the latest build's evaluation (checked by `loopline build`: a violation fails it)",
    "monitoring": "monitoring figures over the last N days (realized, else estimated)",
    "verification": "the latest `loopline verify-system` run of the production model on the "
    "current large test set",
}
ABSENT = ("no_evidence", "met")
LEVELS = ("system", "ml")
STATUSES = ("met", "inconclusive", "suspect", "no_evidence", "violated")
SEVERITY = {"met": 0, "no_evidence": 1, "inconclusive": 2, "suspect": 3, "violated": 4}
# A verdict needs a sample: below its minimum a figure is inconclusive, whatever it says. The
# requirement's ``min_n`` overrides the default of its metric's kind.
MIN_N = {"proportion": 30, "statistic": 30, "latency": 20, "drift": 30, "exact": 0}
KIND_TEXT = {
    "proportion": "a proportion: Wilson interval over its own denominator",
    "statistic": "a statistic of the sample: seeded bootstrap interval",
    "latency": "a latency percentile: bootstrap interval over the timed items",
    "drift": "a drift statistic of the window: judged by its value",
    "exact": "measured without sampling (no interval)",
}

# Metrics by family; a trailing "." takes a class, span type, column or feature after it.
_PLAIN = {
    "accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "calibration_error",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "batch_latency_per_item_ms",
    "training_time_s",
    "model_size_bytes",
    "label_agreement",
    "missing_rate",
    "volume",
    "error_rate",
    "drift.score",
    "behave_pass_rate",
}
_PER_CLASS = ("precision.", "recall.", "f1.")
_PER_SPAN = ("span_precision.", "span_recall.", "span_f1.")
LOWER_IS_BETTER = (
    "log_loss",
    "calibration_error",
    "latency_",
    "batch_latency",
    "training_time_s",
    "model_size_bytes",
    "missing_rate",
    "error_rate",
    "drift.",
)
SLICE_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")


def base_metric(metric: str) -> str:
    return metric[len("estimated.") :] if metric.startswith("estimated.") else metric


def metric_problem(
    metric: str,
    classes: Sequence[str] = (),
    span_types: Sequence[str] = (),
    columns: Sequence[str] = (),
) -> str | None:
    """None when ``metric`` is a name an evaluation, verification or monitoring records."""
    name = base_metric(metric)
    if name in _PLAIN:
        return None
    for prefix, allowed, what in (
        *((p, classes, "class") for p in _PER_CLASS),
        *((p, span_types, "span type") for p in _PER_SPAN),
        ("missing_rate.", columns, "column"),
    ):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if allowed and rest not in allowed:
                return f"Unknown {what} {rest!r} in metric {metric!r}. Expected one of: {', '.join(allowed)}."
            return None if rest else f"Metric {metric!r} needs a {what} after {prefix!r}."
    if re.fullmatch(r"drift\.(psi|ks|ks_p|chi2_p|js)\.[A-Za-z0-9_]+", name):
        return None
    known = sorted(_PLAIN) + [f"{p}<class>" for p in _PER_CLASS]
    known += [f"{p}<type>" for p in _PER_SPAN] + ["missing_rate.<column>", "drift.<stat>.<feature>"]
    return f"Unknown metric {metric!r}. Expected one of: {', '.join(known)}."


def default_comparator(metric: str) -> str:
    return "<=" if base_metric(metric).startswith(LOWER_IS_BETTER) else ">="


def metric_kind(metric: str) -> str:
    """How a metric's uncertainty is measured: ``proportion`` (a share of items: Wilson),
    ``latency`` (a percentile of timings), ``drift``, ``exact`` (no sampling), else ``statistic``
    (F1, AUC, log loss, agreement: bootstrap)."""
    name = base_metric(metric)
    if name in ("accuracy", "error_rate", "behave_pass_rate") or name.startswith(
        ("precision.", "recall.", "missing_rate", "span_precision.", "span_recall.")
    ):
        return "proportion"
    if name.startswith(("latency_", "batch_latency")):
        return "latency"
    if name.startswith("drift."):
        return "drift"
    if name in ("training_time_s", "model_size_bytes", "volume"):
        return "exact"
    return "statistic"


def default_min_n(metric: str) -> int:
    """The smallest sample a verdict on ``metric`` is drawn from, unless the requirement says."""
    return MIN_N[metric_kind(metric)]


def counts_items(metric: str) -> bool:
    """Whether a figure's ``n`` counted items is its own denominator (so a Wilson interval
    follows from the rate and n alone): accuracy and error/missing rates, not precision or
    recall, whose denominators are the predicted or true members of a class."""
    name = base_metric(metric)
    return name in ("accuracy", "error_rate") or name.startswith("missing_rate")


def metric_sources(metric: str) -> tuple[str, ...]:
    """The evidence kinds that can record a metric."""
    name = base_metric(metric)
    if name.startswith("drift.") or name in ("volume", "error_rate") or metric != name:
        return ("monitoring",)
    if name == "behave_pass_rate":  # a build's behavioural suite (slice: test = NAME)
        return ("build", "production")
    if name == "label_agreement" or name.startswith("missing_rate"):
        return ("production", "build")
    if name in ("training_time_s", "model_size_bytes"):
        return ("production", "build")
    return tuple(EVIDENCE)


def compare(value: float, comparator: str, threshold: float) -> bool:
    if comparator == ">=":
        return value >= threshold
    if comparator == ">":
        return value > threshold
    if comparator == "<=":
        return value <= threshold
    return value < threshold


def margin(value: float, comparator: str, threshold: float) -> float:
    """How far inside (positive) or outside (negative) the threshold a value is."""
    return value - threshold if comparator in (">=", ">") else threshold - value


def effective_threshold(
    comparator: str, threshold: float | None, base_value: float | None, tolerance: float | None
) -> float | None:
    """The fixed threshold, or for the relative form the reference slice's value ∓ tolerance."""
    if base_value is None:
        return threshold
    allowed = tolerance or 0.0
    return base_value - allowed if comparator in (">=", ">") else base_value + allowed


@dataclass(frozen=True)
class Rule:
    """The check of one ML requirement, independent of where its evidence comes from."""

    requirement_id: str
    metric: str
    comparator: str
    threshold: float | None = None
    slices: tuple[str, ...] = ()
    relative_to: str | None = None
    tolerance: float | None = None
    absent_slice: str = "no_evidence"
    derived_from: tuple[str, ...] = ()

    def text(self) -> str:
        where = f" on {', '.join(self.slices)}" if self.slices else ""
        symbol = COMPARATORS[self.comparator]
        if self.relative_to is not None:
            sign = "−" if self.comparator in (">=", ">") else "+"
            right = f"{self.metric} on {self.relative_to} {sign} {self.tolerance or 0:g}"
        else:
            right = f"{self.threshold:g}" if self.threshold is not None else "?"
        return f"{self.metric}{where} {symbol} {right}"


@dataclass(frozen=True)
class RuleResult:
    """The worst slice decides: its value and (effective) threshold are the ones reported."""

    passed: bool | None  # None: not measurable (no evidence)
    value: float | None
    threshold: float | None
    slice: str
    failing: int
    missing: int

    def text(self, rule: Rule) -> str:
        where = f" on {self.slice}" if self.slice else ""
        if self.value is None or self.threshold is None:
            return f"{rule.requirement_id}: {rule.metric}{where} was not measured"
        symbol = COMPARATORS[rule.comparator] if self.passed else NEGATED[rule.comparator]
        return (
            f"{rule.requirement_id}: {rule.metric}{where} = {self.value:.3f} {symbol} "
            f"{self.threshold:.3f}"
        )


def check(rule: Rule, lookup: Callable[[str, str], float | None]) -> RuleResult:
    """Check a rule against ``lookup(metric, slice)`` (slice '' = overall)."""
    base = lookup(rule.metric, rule.relative_to) if rule.relative_to is not None else None
    if rule.relative_to is not None and base is None:
        return RuleResult(None, None, None, rule.relative_to, 0, 1)
    limit = effective_threshold(rule.comparator, rule.threshold, base, rule.tolerance)
    worst: tuple[float, float, str] | None = None
    failing = missing = 0
    missing_slices: list[str] = []
    for target in rule.slices or ("",):
        value = lookup(rule.metric, target)
        if value is None or limit is None:
            if rule.absent_slice != "met":
                missing += 1
                missing_slices.append(target)
            continue
        if not compare(value, rule.comparator, limit):
            failing += 1
        room = margin(value, rule.comparator, limit)
        if worst is None or room < worst[0]:
            worst = (room, value, target)
    if failing:
        assert worst is not None
        return RuleResult(False, worst[1], limit, worst[2], failing, missing)
    if missing:
        return RuleResult(None, None, limit, min(missing_slices), 0, missing)
    if worst is None:  # every slice absent, and absence counts as met
        return RuleResult(True, None, limit, min(rule.slices or ("",)), 0, 0)
    return RuleResult(True, worst[1], limit, worst[2], 0, 0)


def verdict(
    value: float | None,
    comparator: str,
    limit: float | None,
    *,
    n: float | None = None,
    lower: float | None = None,
    upper: float | None = None,
    min_n: int = 0,
) -> str:
    """One figure against its threshold: ``met`` when its interval clears the threshold,
    ``violated`` when the interval lies wholly on the wrong side, ``inconclusive`` when it
    straddles the threshold or ``n`` is below ``min_n``; a figure without an interval is judged by
    its value; ``no_evidence`` without a value. The status query does the same in SQL."""
    if value is None or limit is None:
        return "no_evidence"
    if n is not None and n < min_n:
        return "inconclusive"
    if lower is None or upper is None:
        return "met" if compare(value, comparator, limit) else "violated"
    upward = comparator in (">=", ">")
    good, bad = (lower, upper) if upward else (upper, lower)
    if compare(good, comparator, limit):
        return "met"
    if not compare(bad, comparator, limit):
        return "violated"
    return "inconclusive"


def parse_slice(text: str) -> tuple[str, str] | None:
    match = SLICE_PATTERN.match(text)
    return (match.group(1), match.group(2)) if match else None


def normalize_slice(text: str) -> str:
    parsed = parse_slice(text)
    return f"{parsed[0]} = {parsed[1]}" if parsed else text.strip()
