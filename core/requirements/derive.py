"""The derivation helper: from a system requirement in operational terms (volumes, base rates,
tolerated errors per period, a time budget) to the threshold an ML requirement needs, with the
arithmetic written out so a manager can check it.

Thresholds are rounded towards the stricter side (a derived ``≥`` threshold is rounded up, a
``≤`` budget down), so rounding never loosens the system requirement.

A base rate or expected recall that was *measured* says on how many items (``base_rate_n``,
``expected_recall_n``): the threshold then carries the uncertainty of those figures (the range
it takes over their 95% Wilson intervals), and nothing is derived from fewer than
``MIN_DERIVE_N`` items.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput, expected_one_of
from core.requirements.models import Derivation
from core.stats import wilson_rate

KINDS = {
    "precision": "wrong detections tolerated per period → minimum precision of a class",
    "recall": "missed cases tolerated per period → minimum recall of a class",
    "accuracy": "wrong decisions tolerated per period → minimum accuracy",
    "latency": "end-to-end time budget minus the rest of the system → model latency budget",
}
_INPUTS = {
    "precision": ("volume", "base_rate", "tolerated", "expected_recall", "failure_share"),
    "recall": ("volume", "base_rate", "tolerated", "failure_share"),
    "accuracy": ("volume", "tolerated", "failure_share"),
    "latency": ("budget_ms", "other_ms"),
}
_DEFAULTS = {"expected_recall": 1.0, "failure_share": 1.0, "period": "period"}
MEASURED = {"base_rate": "base_rate_n", "expected_recall": "expected_recall_n"}
MIN_DERIVE_N = 30  # a measured input from fewer items derives nothing


def _n(value: float) -> str:
    """A number as a person writes it: 2,000 · 0.25 · 0.8416."""
    if float(value).is_integer() and abs(value) >= 1:
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def _ceil(value: float, places: int = 3) -> float:
    factor = 10.0**places
    return float(math.ceil(round(value * factor, 9))) / factor


def _floor(value: float, places: int = 1) -> float:
    factor = 10.0**places
    return float(math.floor(round(value * factor, 9))) / factor


def _number(inputs: Mapping[str, Any], key: str, low: float, high: float | None) -> float:
    raw = inputs.get(key, _DEFAULTS.get(key))
    if raw is None or raw == "":
        raise InvalidInput(f"Derivation: {key} is missing.", hint=f"give {key} as a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"Derivation: {key} must be a number, got {raw!r}.") from None
    if value < low or (high is not None and value > high) or math.isnan(value):
        allowed = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidInput(f"Derivation: {key} must be {allowed}, got {value:g}.")
    return value


def derive(kind: str, inputs: Mapping[str, Any], metric: str | None = None) -> Derivation:
    """Compute a threshold from operational terms. ``inputs`` by kind:

    - precision: volume, base_rate, tolerated, expected_recall (1), failure_share (1), period
    - recall: volume, base_rate, tolerated, failure_share (1), period
    - accuracy: volume, tolerated, failure_share (1), period
    - latency: budget_ms, other_ms
    """
    if kind not in KINDS:
        raise InvalidInput(expected_one_of("derivation kind", kind, KINDS))
    if kind == "latency":
        return _latency(inputs, metric)
    tolerance = _tolerance(inputs)
    if kind == "accuracy":
        rate = _accuracy(tolerance, metric)
    else:
        rate = _positives(kind, inputs, tolerance, metric)
    done = _rounded_up(kind, tolerance, rate)
    return _with_uncertainty(kind, inputs, tolerance, metric, done) if kind != "accuracy" else done


def _measured(inputs: Mapping[str, Any], key: str) -> float | None:
    """The n a measured input was measured on (None: given, not measured); refused below
    ``MIN_DERIVE_N``."""
    if inputs.get(MEASURED[key]) in (None, ""):
        return None
    n = _number(inputs, MEASURED[key], 1.0, None)
    if n < MIN_DERIVE_N:
        raise InvalidInput(
            f"Derivation: {key} was measured on {_n(n)} items; a threshold is not derived from "
            f"fewer than {MIN_DERIVE_N}.",
            hint=f"measure {key} on more items, or leave {MEASURED[key]} out if it is known",
        )
    return n


def _with_uncertainty(
    kind: str,
    inputs: Mapping[str, Any],
    tolerance: _Tolerance,
    metric: str | None,
    done: Derivation,
) -> Derivation:
    """The threshold's range over the 95% intervals of the measured inputs, as a last step."""
    ranges: dict[str, tuple[float, float]] = {}
    used = dict(done.inputs)
    for key in ("base_rate", "expected_recall") if kind == "precision" else ("base_rate",):
        n = _measured(inputs, key)
        if n is None:
            continue
        interval = wilson_rate(float(used[key]), n)
        assert interval.lower is not None and interval.upper is not None
        ranges[key] = (max(interval.lower, 1e-9), interval.upper)
        used[MEASURED[key]] = n
    if not ranges:
        return done
    values = []
    for corner in _corners(ranges):
        trial = {**inputs, **corner}
        values.append(_positives(kind, trial, tolerance, metric).value)
    low, high = _ceil(max(min(values), 0.0)), _ceil(max(values))
    measured = "; ".join(
        f"{key} {lo:.4g}–{hi:.4g} (95% CI, n = {_n(used[MEASURED[key]])})"
        for key, (lo, hi) in ranges.items()
    )
    step = (
        f"Over the measured inputs' intervals ({measured}): {done.metric} ≥ {low:.3f} … {high:.3f}"
    )
    return Derivation(
        done.kind,
        done.metric,
        done.comparator,
        done.threshold,
        used,
        (*done.steps, step),
        (low, high),
    )


def _corners(ranges: Mapping[str, tuple[float, float]]) -> list[dict[str, float]]:
    corners: list[dict[str, float]] = [{}]
    for key, (low, high) in ranges.items():
        corners = [{**c, key: v} for c in corners for v in (low, high)]
    return corners


@dataclass(frozen=True)
class _Tolerance:
    """Where every error-rate derivation starts: the volume and the wrong outputs it tolerates."""

    period: str
    volume: float
    allowed: float  # wrong outputs tolerated per period
    allowed_text: str  # the step that shows how ``allowed`` was reached
    used: dict[str, Any]  # the inputs read so far


@dataclass(frozen=True)
class _Rate:
    """An unrounded minimum rate, the metric it is for and the steps that reached it."""

    name: str
    value: float
    used: dict[str, Any]
    steps: tuple[str, ...]


def _latency(inputs: Mapping[str, Any], metric: str | None) -> Derivation:
    """The model's latency budget: the end-to-end budget minus the rest of the system."""
    budget = _number(inputs, "budget_ms", 0.0, None)
    other = _number(inputs, "other_ms", 0.0, None)
    left = budget - other
    if left <= 0:
        raise InvalidInput(
            f"Derivation: the rest of the system takes {_n(other)} ms of a {_n(budget)} ms "
            "budget, so nothing is left for the model.",
            hint="lower other_ms or raise budget_ms",
        )
    threshold = _floor(left)
    name = metric or "latency_p95_ms"
    steps = (
        f"End-to-end budget: {_n(budget)} ms per item",
        f"Taken by the rest of the system (fetch, parse, store, show): {_n(other)} ms",
        f"Left for the model: {_n(budget)} − {_n(other)} = {_n(left)} ms",
        f"Rounded down to 0.1 ms (never looser): {name} ≤ {threshold:g}",
    )
    used = {"budget_ms": budget, "other_ms": other}
    return Derivation("latency", name, "<=", threshold, used, steps)


def _tolerance(inputs: Mapping[str, Any]) -> _Tolerance:
    """Wrong outputs tolerated per period: tolerated failures ÷ the share of wrong outputs that
    become failures."""
    period = str(inputs.get("period") or "period")
    volume = _number(inputs, "volume", 1e-9, None)
    tolerated = _number(inputs, "tolerated", 0.0, None)
    share = _number(inputs, "failure_share", 1e-9, 1.0)
    allowed = tolerated / share
    if share < 1.0:
        allowed_text = (
            f"Wrong outputs tolerated per {period}: tolerated failures ÷ share of wrong outputs "
            f"that become failures = {_n(tolerated)} ÷ {_n(share)} = {_n(allowed)}"
        )
    else:
        allowed_text = f"Wrong outputs tolerated per {period}: {_n(allowed)}"
    used = {"period": period, "volume": volume, "tolerated": tolerated, "failure_share": share}
    return _Tolerance(period, volume, allowed, allowed_text, used)


def _accuracy(tolerance: _Tolerance, metric: str | None) -> _Rate:
    value = 1 - tolerance.allowed / tolerance.volume
    steps = (
        f"Items per {tolerance.period}: {_n(tolerance.volume)}",
        tolerance.allowed_text,
        f"Accuracy ≥ 1 − {_n(tolerance.allowed)} ÷ {_n(tolerance.volume)} = {value:.5f}",
    )
    return _Rate(metric or "accuracy", value, tolerance.used, steps)


def _positives(
    kind: str, inputs: Mapping[str, Any], tolerance: _Tolerance, metric: str | None
) -> _Rate:
    """Precision or recall of a class, from the positives expected per period."""
    base_rate = _number(inputs, "base_rate", 1e-9, 1.0)
    used = {**tolerance.used, "base_rate": base_rate}
    expected = tolerance.volume * base_rate
    first = (
        f"Expected positives per {tolerance.period}: volume × base rate = "
        f"{_n(tolerance.volume)} × {_n(base_rate)} = {_n(expected)}"
    )
    allowed = tolerance.allowed
    if kind == "precision":
        recall = _number(inputs, "expected_recall", 1e-9, 1.0)
        used["expected_recall"] = recall
        found = expected * recall
        value = found / (found + allowed) if found + allowed else 1.0
        steps: tuple[str, ...] = (
            f"Of which the model finds (expected recall {_n(recall)}): {_n(expected)} × "
            f"{_n(recall)} = {_n(found)}",
            tolerance.allowed_text,
            f"Precision = found ÷ (found + wrong) ≥ {_n(found)} ÷ ({_n(found)} + {_n(allowed)}) "
            f"= {value:.5f}",
        )
        return _Rate(metric or "precision.<class>", value, used, (first, *steps))
    value = 1 - allowed / expected
    steps = (
        tolerance.allowed_text.replace("Wrong outputs", "Misses"),
        f"Recall = 1 − misses ÷ positives ≥ 1 − {_n(allowed)} ÷ {_n(expected)} = {value:.5f}",
    )
    return _Rate(metric or "recall.<class>", value, used, (first, *steps))


def _rounded_up(kind: str, tolerance: _Tolerance, rate: _Rate) -> Derivation:
    """The rate rounded up to 3 decimals; a rate of 0 or less constrains nothing and is refused."""
    if rate.value <= 0:
        raise InvalidInput(
            f"Derivation: {_n(tolerance.allowed)} tolerated errors per {tolerance.period} are "
            "more than the model can make, so the system requirement does not constrain the model.",
            hint="check the volume, base rate and tolerated errors",
        )
    threshold = _ceil(rate.value)
    steps = (*rate.steps, f"Rounded up to 3 decimals (never looser): {rate.name} ≥ {threshold:.3f}")
    return Derivation(kind, rate.name, ">=", threshold, rate.used, steps)


def derivation_inputs(kind: str) -> tuple[str, ...]:
    if kind not in KINDS:
        raise InvalidInput(expected_one_of("derivation kind", kind, KINDS))
    return _INPUTS[kind]


def measured_inputs(kind: str) -> tuple[str, ...]:
    """The optional sample sizes of a kind's measured inputs (``base_rate_n`` …)."""
    if kind not in KINDS:
        raise InvalidInput(expected_one_of("derivation kind", kind, KINDS))
    return tuple(MEASURED[k] for k in _INPUTS[kind] if k in MEASURED)
