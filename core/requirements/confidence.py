"""Each figure used as evidence with its sample size and confidence interval.

- a verification (``verify-system``) measures every figure with its interval from the predictions
  themselves: Wilson for proportions over their own denominators (items, predicted or true
  members of a class, spans), a seeded bootstrap for F1, AUC, log loss, calibration error and
  latency percentiles (``figure_intervals``);
- an evaluation run records its overall confusion matrix: its accuracy, precision, recall and F1
  get intervals from it (``run_intervals``); its per-slice accuracy gets Wilson from the slice's
  n in the status query;
- monitoring records each rate with its own n: the status query pools the windows and applies
  Wilson.

The facts the status query needs about each metric (``metric_facts``) come from
``rules.metric_kind``, the one place a metric's kind is decided.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import NotFound
from core.requirements.rules import counts_items, default_min_n, metric_kind
from core.stats import (
    Interval,
    bootstrap_counts,
    bootstrap_quantile,
    bootstrap_weights,
    confusion_intervals,
    interval_of,
    resamples_for,
    weighted_auc,
    wilson,
)
from core.store import BlobStore, Tx

BOOTSTRAP_STATISTICS = ("roc_auc", "log_loss", "calibration_error")


@dataclass(frozen=True)
class MetricFacts:
    """Per metric of the current requirements, as arrays for the status query."""

    metric: list[str]
    counts_items: list[bool]
    proportion: list[bool]
    exact: list[bool]
    items_n: list[bool]  # an evaluation's item count is the figure's sample size
    min_n: list[int]

    def params(self) -> dict[str, Any]:
        return {
            "k_metric": self.metric,
            "k_items": self.counts_items,
            "k_proportion": self.proportion,
            "k_exact": self.exact,
            "k_items_n": self.items_n,
            "k_min_n": self.min_n,
        }


def metric_facts(metrics: Iterable[str]) -> MetricFacts:
    names = sorted(set(metrics))
    return MetricFacts(
        names,
        [counts_items(m) for m in names],
        [metric_kind(m) == "proportion" for m in names],
        [metric_kind(m) == "exact" for m in names],
        [counts_items(m) or metric_kind(m) == "statistic" for m in names],
        [default_min_n(m) for m in names],
    )


def requirement_metrics(tx: Tx, project: str | None) -> list[str]:
    rows = tx.rows(
        "SELECT DISTINCT metric FROM requirements WHERE metric IS NOT NULL "
        "AND (CAST(? AS VARCHAR) IS NULL OR project = ?)",
        [project, project],
    )
    return [str(row[0]) for row in rows]


# -- evaluation runs ---------------------------------------------------------------------------
RunIntervals = dict[str, list[Any]]


def run_intervals(tx: Tx, blobs: BlobStore, run_ids: Iterable[int]) -> RunIntervals:
    """The intervals of the overall figures of each run's evaluation file (its confusion matrix),
    as ``$ri_*`` arrays: run, metric, slice, n, lower, upper, method."""
    out: RunIntervals = {k: [] for k in ("run", "metric", "slice", "n", "lower", "upper", "method")}
    ids = sorted({int(r) for r in run_ids})
    if not ids:
        return out
    files = tx.rows(
        "SELECT run_id, blob_hash FROM run_files WHERE role = 'evaluation.json' "
        "AND run_id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    )
    for run_id, digest in files:
        for (slice_name, metric), interval in _evaluation_intervals(blobs, str(digest)).items():
            out["run"].append(int(run_id))
            out["metric"].append(metric)
            out["slice"].append(slice_name)
            out["n"].append(interval.n)
            out["lower"].append(interval.lower)
            out["upper"].append(interval.upper)
            out["method"].append(interval.method)
    return out


def _evaluation_intervals(blobs: BlobStore, digest: str) -> dict[tuple[str, str], Interval]:
    return _cached_intervals(str(blobs.root), digest)


@functools.lru_cache(maxsize=256)
def _cached_intervals(root: str, digest: str) -> dict[tuple[str, str], Interval]:
    """An evaluation file's figures with intervals by (slice, metric), content-addressed (cached
    by its hash): from its confusion matrix overall, from ``slice_confusion`` per slice and from
    ``latency_timings`` (per-item milliseconds) when the file has them."""
    try:
        evaluation = json.loads(BlobStore(Path(root)).read_bytes(digest))
    except (NotFound, ValueError, OSError):
        return {}  # a damaged file is no interval; `loopline verify` names it
    classes = [str(c) for c in evaluation.get("classes") or []]
    tables = {"": evaluation.get("confusion"), **(evaluation.get("slice_confusion") or {})}
    out: dict[tuple[str, str], Interval] = {}
    for slice_name, table in tables.items():
        if table and classes:
            for metric, interval in confusion_intervals(np.asarray(table, float), classes).items():
                out[(str(slice_name), metric)] = interval
    for metric, interval in latency_intervals(evaluation.get("latency_timings") or []).items():
        out[("", metric)] = interval
    return out


# -- a verification's figures ------------------------------------------------------------------
def figure_intervals(
    truth: Sequence[int],
    probabilities: np.ndarray,
    classes: Sequence[str],
    figures: Mapping[str, float],
    span_counts: Mapping[str, tuple[float, float, float]] | None = None,
) -> dict[str, Interval]:
    """Every classification figure of one sample with its interval. ``truth`` holds class
    indexes; ``span_counts`` maps a span type to (correct, predicted, gold) spans."""
    y = np.asarray(truth, dtype=int)
    predicted = probabilities.argmax(axis=1) if len(y) else np.zeros(0, dtype=int)
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (y, predicted), 1)
    out = {k: v for k, v in confusion_intervals(confusion, classes).items() if k in figures}
    for name in BOOTSTRAP_STATISTICS:
        if name in figures:
            out[name] = _bootstrapped(name, y, probabilities, classes)
    for kind, (correct, found, gold) in (span_counts or {}).items():
        out[f"span_precision.{kind}"] = wilson(correct, found)
        out[f"span_recall.{kind}"] = wilson(correct, gold)
        out[f"span_f1.{kind}"] = _span_f1(correct, found, gold)
    out["n"] = Interval(float(len(y)), None, None, "exact")
    return {k: v for k, v in out.items() if k in figures or k == "n"}


def _bootstrapped(
    name: str, y: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]
) -> Interval:
    """AUC, log loss or calibration error re-measured on item resamples (fewer for big samples):
    each block of resamples as item weights, in one pass of NumPy (the same figures
    scikit-learn's metrics give per resample, ~100× sooner)."""
    n = len(y)
    if n == 0:
        return Interval(0, None, None, "bootstrap")
    measure = _WEIGHTED[name](y, probabilities, len(classes))
    blocks = bootstrap_weights(n, resamples=min(resamples_for(n), 200))
    return interval_of(np.concatenate([measure(block) for block in blocks]), n)


Weighted = Callable[[np.ndarray], np.ndarray]


def _weighted_log_loss(y: np.ndarray, probabilities: np.ndarray, _: int) -> Weighted:
    clipped = np.clip(probabilities, 1e-7, 1)
    normed = clipped / clipped.sum(axis=1, keepdims=True)
    eps = np.finfo(normed.dtype).eps  # as scikit-learn's log_loss clips
    loss = -np.log(np.clip(normed[np.arange(len(y)), y], eps, 1 - eps))
    return lambda weights: weights @ loss / weights.sum(axis=1)


def _weighted_calibration_error(y: np.ndarray, probabilities: np.ndarray, _: int) -> Weighted:
    """``expected_calibration_error`` (10 bins of confidence, (low, high]) with item weights."""
    confidence = probabilities.max(axis=1)
    gap = (probabilities.argmax(axis=1) == y) - confidence
    edges = np.linspace(0, 1, 11)
    bins = np.searchsorted(edges, confidence, side="left") - 1  # (edges[b], edges[b + 1]]
    inside = (bins >= 0) & (bins < 10)
    table = np.zeros((len(y), 10))
    table[np.flatnonzero(inside), bins[inside]] = gap[inside]
    return lambda weights: np.abs(weights @ table).sum(axis=1) / weights.sum(axis=1)


def _weighted_roc_auc(y: np.ndarray, probabilities: np.ndarray, n_classes: int) -> Weighted:
    """Binary AUC of the second class, or the one-vs-rest macro AUC over the classes a resample
    holds (at least three), each resample's scores renormalised over its classes."""
    if n_classes == 2:
        return lambda weights: weighted_auc(y == 1, probabilities[:, 1], weights)
    onehot = np.eye(n_classes)[y]

    def measure(weights: np.ndarray) -> np.ndarray:
        out = np.full(len(weights), np.nan)
        held = (weights @ onehot) > 0
        for present in {tuple(np.flatnonzero(row)) for row in held}:
            if len(present) < 3:
                continue
            rows = np.flatnonzero((held == np.isin(np.arange(n_classes), present)).all(axis=1))
            columns = list(present)
            scores = probabilities[:, columns] / np.clip(
                probabilities[:, columns].sum(axis=1, keepdims=True), 1e-9, None
            )
            per_class = [
                weighted_auc(y == c, scores[:, k], weights[rows]) for k, c in enumerate(columns)
            ]
            out[rows] = np.mean(per_class, axis=0)
        return out

    return measure


_WEIGHTED: dict[str, Callable[[np.ndarray, np.ndarray, int], Weighted]] = {
    "log_loss": _weighted_log_loss,
    "calibration_error": _weighted_calibration_error,
    "roc_auc": _weighted_roc_auc,
}


def _span_f1(correct: float, found: float, gold: float) -> Interval:
    """Span F1 = 2·correct ÷ (found + gold): a bootstrap of the spans as a table of correct,
    spurious and missed spans."""

    table = np.array([correct, max(found - correct, 0.0), max(gold - correct, 0.0)])

    def f1(t: np.ndarray) -> float:
        total = 2 * t[0] + t[1] + t[2]
        return float(2 * t[0] / total) if total else float("nan")

    interval = bootstrap_counts(table, f1, resamples=400)
    return Interval(gold, interval.lower, interval.upper, "bootstrap")


def span_counts(
    gold: Sequence[Sequence[Any]], predicted: Sequence[Sequence[Any]], types: Sequence[str]
) -> dict[str, tuple[float, float, float]]:
    """Per span type: (correct, predicted, gold) spans, matched as ``span_metrics`` matches them
    (same item, start and end)."""
    out: dict[str, tuple[float, float, float]] = {}
    for kind in types:
        truth = {
            (i, s.start, s.end) for i, spans in enumerate(gold) for s in spans if s.type == kind
        }
        found = {
            (i, s.start, s.end)
            for i, spans in enumerate(predicted)
            for s in spans
            if s.type == kind
        }
        if truth or found:
            out[kind] = (float(len(truth & found)), float(len(found)), float(len(truth)))
    return out


def latency_intervals(timings: Sequence[float]) -> dict[str, Interval]:
    """p50/p95/p99 of per-item timings, each with a bootstrap interval."""
    if not timings:
        return {}
    return {f"latency_p{q}_ms": bootstrap_quantile(timings, q) for q in (50, 95, 99)}
