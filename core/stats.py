"""Confidence intervals for the figures used as evidence: a sample size and an interval per figure.

Proportions (accuracy, precision, recall, error and missing rates) get a Wilson score interval,
which stays inside [0, 1] and behaves at 0/n and n/n where the normal approximation does not.
Other statistics (F1, AUC, latency percentiles, …) get a percentile bootstrap: seeded, so the same
evidence gives the same interval, and bounded, so its cost does not grow with the square of the
sample. A figure measured without sampling (a model's size) has no interval.

A foundation module: numpy and the standard library only, nothing of core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
SEED = 20260501  # fixed: a figure's interval is a function of its evidence
MIN_RESAMPLES = 200
MAX_RESAMPLES = 1000
BUDGET = 2_000_000  # items drawn per bootstrap at most (resamples × n), above MIN_RESAMPLES
METHODS = ("wilson", "bootstrap", "exact", "none")


@dataclass(frozen=True)
class Interval:
    """A figure's sample size and its confidence interval (``lower``/``upper`` None: none known)."""

    n: float | None
    lower: float | None
    upper: float | None
    method: str
    confidence: float = CONFIDENCE

    @property
    def known(self) -> bool:
        return self.lower is not None and self.upper is not None

    def text(self, digits: int = 3) -> str:
        """``n = 319, 95% CI 0.612–0.705`` (or what is missing)."""
        size = "n = ?" if self.n is None else f"n = {self.n:,.0f}"
        if self.lower is None or self.upper is None:
            return f"{size}, no interval"
        return f"{size}, {self.confidence:.0%} CI {self.lower:.{digits}f}–{self.upper:.{digits}f}"


def z_value(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile: 1.960 for 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, n: float, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of ``successes`` out of ``n`` (no continuity correction: the
    interval scipy's ``binomtest(...).proportion_ci(method='wilson')`` gives)."""
    if n <= 0:
        return Interval(n, None, None, "wilson", confidence)
    z = z_value(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lower, upper = max(0.0, centre - half), min(1.0, centre + half)
    return Interval(n, float(lower), float(upper), "wilson", confidence)


def wilson_rate(rate: float, n: float, confidence: float = CONFIDENCE) -> Interval:
    """Wilson for a proportion given as a rate of ``n`` (successes = rate × n)."""
    return wilson(rate * n, n, confidence)


def resamples_for(n: int) -> int:
    """How many bootstrap resamples a sample of ``n`` gets: 1,000, fewer for large samples so
    resamples × n stays within the budget, never fewer than 200."""
    return int(min(MAX_RESAMPLES, max(MIN_RESAMPLES, BUDGET // max(n, 1))))


def _percentiles(values: Sequence[float] | np.ndarray, confidence: float) -> tuple[float, float]:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    seed: int = SEED,
    resamples: int | None = None,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Percentile bootstrap of ``statistic(indices)``, where ``indices`` picks ``n`` items with
    replacement; resamples whose statistic is not finite are left out."""
    if n <= 0:
        return Interval(n, None, None, "bootstrap", confidence)
    rng = np.random.default_rng(seed)
    count = resamples or resamples_for(n)
    values = [statistic(rng.integers(0, n, n)) for _ in range(count)]
    return interval_of(values, n, confidence)


def bootstrap_weights(
    n: int, *, seed: int = SEED, resamples: int | None = None, chunk: int = 50
) -> Iterator[np.ndarray]:
    """The resamples :func:`bootstrap` draws, as weights: blocks of up to ``chunk`` rows, row
    ``r`` counting how often each of the ``n`` items was drawn in resample ``r`` (the same draws,
    in the same order). A statistic that takes item weights is then computed for a whole block
    at once instead of once per resample."""
    rng = np.random.default_rng(seed)
    count = resamples or resamples_for(n)
    for begin in range(0, count, chunk):
        rows = min(chunk, count - begin)
        block = np.empty((rows, n))
        for row in range(rows):
            block[row] = np.bincount(rng.integers(0, n, n), minlength=n)
        yield block


def interval_of(
    values: Sequence[float] | np.ndarray, n: float, confidence: float = CONFIDENCE
) -> Interval:
    """The percentile interval of bootstrap ``values`` (those not finite left out)."""
    if not np.isfinite(np.asarray(values, dtype=float)).any():
        return Interval(n, None, None, "bootstrap", confidence)
    low, high = _percentiles(values, confidence)
    return Interval(n, low, high, "bootstrap", confidence)


def weighted_auc(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``score`` for ``positive`` items under each row of ``weights`` (items counted
    that many times): the Mann–Whitney statistic with ties counted half, which is the trapezoid
    AUC scikit-learn's ``roc_auc_score`` gives; NaN where a row has no positive or no negative."""
    order = np.argsort(score, kind="mergesort")
    ordered, pos = score[order], positive[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # tie groups
    w = np.atleast_2d(weights)[:, order]
    pos_groups = np.add.reduceat(w * pos, starts, axis=1)
    neg_groups = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(neg_groups, axis=1) - neg_groups  # negatives scored strictly lower
    wins = (pos_groups * (below + 0.5 * neg_groups)).sum(axis=1)
    pairs = pos_groups.sum(axis=1) * neg_groups.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1), np.nan)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int = SEED,
    resamples: int | None = None,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Percentile bootstrap of the mean (the reference case the tests compare with scipy)."""
    data = np.asarray(values, dtype=float)
    return bootstrap(
        lambda picks: float(data[picks].mean()),
        len(data),
        seed=seed,
        resamples=resamples,
        confidence=confidence,
    )


def bootstrap_quantile(
    values: Sequence[float] | np.ndarray,
    q: float,
    *,
    seed: int = SEED,
    resamples: int | None = None,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Percentile bootstrap of a percentile (``q`` in 0–100), e.g. a latency p95."""
    data = np.asarray(values, dtype=float)
    return bootstrap(
        lambda picks: float(np.percentile(data[picks], q)),
        len(data),
        seed=seed,
        resamples=resamples,
        confidence=confidence,
    )


def bootstrap_units(
    units: Sequence[object],
    statistic: Callable[[dict[int, object]], float | None],
    *,
    seed: int = SEED,
    resamples: int | None = None,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Bootstrap of a statistic over units (e.g. items with their annotators' labels, for
    Krippendorff's alpha): each resample maps 0..n-1 to units drawn with replacement, so a unit
    drawn twice counts twice."""
    n = len(units)

    def of(picks: np.ndarray) -> float:
        value = statistic({j: units[int(i)] for j, i in enumerate(picks)})
        return float("nan") if value is None else float(value)

    return bootstrap(of, n, seed=seed, resamples=resamples, confidence=confidence)


def bootstrap_counts(
    counts: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    seed: int = SEED,
    resamples: int | None = None,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Bootstrap of a statistic of a count table (a confusion matrix): the items are resampled
    as a multinomial over the cells, which is the item bootstrap for any statistic of the table
    at a fraction of its cost."""
    table = np.asarray(counts, dtype=float)
    n = round(float(table.sum()))
    if n <= 0:
        return Interval(n, None, None, "bootstrap", confidence)
    rng = np.random.default_rng(seed)
    count = resamples or MAX_RESAMPLES
    draws = rng.multinomial(n, (table / table.sum()).ravel(), size=count)
    values = [statistic(draw.reshape(table.shape)) for draw in draws]
    if not np.isfinite(np.asarray(values, dtype=float)).any():
        return Interval(n, None, None, "bootstrap", confidence)
    low, high = _percentiles(values, confidence)
    return Interval(n, low, high, "bootstrap", confidence)


def f1_of(confusion: np.ndarray, index: int) -> float:
    """F1 of class ``index`` from a confusion matrix (rows true, columns predicted)."""
    tp = confusion[index, index]
    wrong = confusion[index, :].sum() + confusion[:, index].sum() - 2 * tp
    return float(2 * tp / (2 * tp + wrong)) if 2 * tp + wrong else 0.0


def f1_macro_of(confusion: np.ndarray) -> float:
    """Macro F1 over the classes present (truly or predicted) in the matrix."""
    present = [i for i in range(len(confusion)) if confusion[i, :].sum() or confusion[:, i].sum()]
    return float(np.mean([f1_of(confusion, i) for i in present])) if present else 0.0


def confusion_intervals(
    confusion: np.ndarray, classes: Sequence[str], *, prefix: str = "", seed: int = SEED
) -> dict[str, Interval]:
    """Every figure of a confusion matrix (rows true, columns predicted) with its interval:
    accuracy, precision and recall per class (Wilson, over their own denominators), F1 per class
    and macro F1 (bootstrap over the table: one set of draws, each F1 computed for all draws at
    once). Names as the evaluation writes them."""
    table = np.asarray(confusion, dtype=float)
    total = float(table.sum())
    out = {f"{prefix}accuracy": wilson(float(np.trace(table)), total)}
    draws = _table_draws(table, seed, MIN_RESAMPLES * 2)
    f1s = _f1_draws(draws) if draws is not None else None
    for index, name in enumerate(classes):
        tp, actual, predicted = table[index, index], table[index, :].sum(), table[:, index].sum()
        if not actual and not predicted:
            continue
        out[f"{prefix}precision.{name}"] = wilson(tp, predicted)
        out[f"{prefix}recall.{name}"] = wilson(tp, actual)
        out[f"{prefix}f1.{name}"] = _table_interval(f1s, index, total)
    out[f"{prefix}f1_macro"] = _table_interval(f1s, None, total)
    return out


def _table_draws(table: np.ndarray, seed: int, count: int) -> np.ndarray | None:
    """The multinomial resamples :func:`bootstrap_counts` draws for ``table`` (the same ones)."""
    n = round(float(table.sum()))
    if n <= 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, (table / table.sum()).ravel(), size=count)
    return draws.reshape(count, *table.shape).astype(float)


def _f1_draws(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: each class's F1 (:func:`f1_of`) and the macro F1 (:func:`f1_macro_of`)."""
    tp = np.diagonal(draws, axis1=1, axis2=2)
    actual, predicted = draws.sum(axis=2), draws.sum(axis=1)
    denominator = actual + predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)
    present = (actual > 0) | (predicted > 0)
    count = present.sum(axis=1)
    macro = np.where(count > 0, (f1 * present).sum(axis=1) / np.maximum(count, 1), 0.0)
    return f1, macro


def _table_interval(
    f1s: tuple[np.ndarray, np.ndarray] | None, index: int | None, n: float
) -> Interval:
    if f1s is None:
        return Interval(round(n), None, None, "bootstrap", CONFIDENCE)
    values = f1s[1] if index is None else f1s[0][:, index]
    return interval_of(values, round(n))
