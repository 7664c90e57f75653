"""Drift statistics from counts, with Evidently's and SciPy's definitions.

Every statistic here compares a reference stored once per model version (a distribution, or counts
per category) with a window's sorted values or counts, never with the reference's rows:

- **PSI** (population stability index): over Sturges equal-width bins of the combined range when
  the reference has more than 20 distinct values, else per value (and always per value for
  categories); empty buckets get Evidently's epsilon (0.0001, or a millionth of the smallest
  non-empty share when that is below 0.0001).
- **JS**: ``scipy.spatial.distance.jensenshannon`` (natural log) over the same buckets, unfilled.
- **chi2_p**: ``scipy.stats.chi2_contingency`` on the 2 × k table of counts (reference, current);
  categories empty on both sides are dropped. (Evidently's ``chisquare`` is a goodness-of-fit test
  against the reference shares, undefined for categories the reference never saw; the contingency
  test is the two-sample test of the same hypothesis and handles them.)
- **ks / ks_p**: the two-sample Kolmogorov–Smirnov statistic, read at the reference's knots
  against the sorted current values (exact for an exact reference, bounded for a sketch: see
  :func:`ks_at_knots`) or exactly per value; the p-value is SciPy's asymptotic two-sided formula
  (``kstwo.sf(D, round(n·m/(n+m)))``, what ``ks_2samp`` uses above 10,000 values per side).

A numeric reference is a :class:`Distribution`: knots with the exact number of reference values
below and up to each. With at most ``EXACT_LIMIT`` distinct values the knots are all of them and
every count is exact; above that the knots are ``EXACT_LIMIT`` quantiles plus the ``TAIL_EXACT``
smallest and largest values (a sketch: the sparse tails, where a bin holds few values, stay
exact) and counts between knots are interpolated linearly (error at most the mass between two
knots).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = 0.0001
PER_VALUE_LIMIT = 20  # Evidently bins a numeric column with more distinct reference values
EXACT_LIMIT = 8192  # distinct values kept exactly; above it, this many quantile knots
TAIL_EXACT = 1024  # … plus this many of the smallest and of the largest values, exactly
SMIRNOV_SUM_ABOVE = 10_000  # effective sample size above which ks_p sums Smirnov's series itself
DRIFT_THRESHOLDS = {"psi": 0.1, "js": 0.1, "ks_p": 0.05, "chi2_p": 0.05}


@dataclass(frozen=True)
class Statistic:
    """A registered drift statistic: which features it applies to and when it says "drifted"."""

    name: str
    title: str
    applies_to: tuple[str, ...]
    threshold: float | None
    higher_is_drift: bool


STATISTICS: dict[str, Statistic] = {
    "psi": Statistic("psi", "Population stability index", ("numeric", "category"), 0.1, True),
    "js": Statistic("js", "Jensen–Shannon distance", ("numeric", "category"), 0.1, True),
    "ks": Statistic("ks", "Kolmogorov–Smirnov statistic", ("numeric",), None, True),
    "ks_p": Statistic("ks_p", "Kolmogorov–Smirnov p-value", ("numeric",), 0.05, False),
    "chi2_p": Statistic("chi2_p", "Chi-square p-value", ("category",), 0.05, False),
    "novelty": Statistic(
        "novelty", "Share of tokens unseen in the reference vocabulary", ("text",), None, True
    ),
}


@dataclass(frozen=True)
class Distribution:
    """A numeric reference: ``below[k]``/``upto[k]`` values lie below / at or below ``knots[k]``."""

    n: int
    knots: np.ndarray
    below: np.ndarray
    upto: np.ndarray
    exact: bool

    @classmethod
    def from_values(cls, values: np.ndarray, limit: int = EXACT_LIMIT) -> Distribution:
        """The distribution of ``values`` (NaNs dropped): one sort; the distinct values are
        where the sorted values change."""
        return cls.from_sorted(np.sort(np.asarray(values, dtype=float)), limit)

    @classmethod
    def from_sorted(cls, data: np.ndarray, limit: int = EXACT_LIMIT) -> Distribution:
        """``from_values`` of values already sorted (NaNs last): a caller that owns its array
        sorts it in place and spares a copy."""
        data = data[: int(np.searchsorted(data, np.nan))]  # NaNs sort last
        if data.size == 0:
            empty = np.zeros(0)
            return cls(0, empty, empty, empty, True)
        changes = np.empty(data.size, dtype=bool)
        changes[0] = True
        np.not_equal(data[1:], data[:-1], out=changes[1:])
        if np.count_nonzero(changes) <= limit:
            first = np.flatnonzero(changes)
            upto = np.append(first[1:], data.size)
            return cls(int(data.size), data[first], first.astype(float), upto.astype(float), True)
        index = np.round(np.linspace(0, data.size - 1, limit)).astype(np.int64)
        tail = min(TAIL_EXACT, data.size // 8)  # the extremes exactly: tail bins hold few values
        index = np.unique(
            np.concatenate([index, np.arange(tail), np.arange(data.size - tail, data.size)])
        )
        knots = np.unique(data[index])
        below = np.searchsorted(data, knots, side="left").astype(float)
        upto = np.searchsorted(data, knots, side="right").astype(float)
        return cls(int(data.size), knots, below, upto, False)

    @property
    def minimum(self) -> float:
        return float(self.knots[0])

    @property
    def maximum(self) -> float:
        return float(self.knots[-1])

    @property
    def distinct(self) -> int | None:
        return int(self.knots.size) if self.exact else None

    @property
    def max_error(self) -> float:
        """The most reference values a count below some point can be off by (0 when exact)."""
        if self.exact or self.knots.size < 2:
            return 0.0
        return float(np.max(self.below[1:] - self.upto[:-1]))

    def count_below(self, points: np.ndarray) -> np.ndarray:
        """How many reference values are strictly below each point."""
        x = np.asarray(points, dtype=float)
        k = np.searchsorted(self.knots, x, side="left")
        out = np.zeros(x.shape, dtype=float)
        inside = (k > 0) & (k < self.knots.size)
        at_knot = np.zeros(x.shape, dtype=bool)
        at_knot[k < self.knots.size] = self.knots[k[k < self.knots.size]] == x[k < self.knots.size]
        out[at_knot] = self.below[k[at_knot]]
        between = inside & ~at_knot
        if between.any():
            kk = k[between]
            left, right = self.knots[kk - 1], self.knots[kk]
            start, end = self.upto[kk - 1], self.below[kk]
            out[between] = start + (end - start) * (x[between] - left) / (right - left)
        out[k >= self.knots.size] = self.n
        return out

    def count_upto(self, points: np.ndarray) -> np.ndarray:
        """How many reference values are at or below each point."""
        x = np.asarray(points, dtype=float)
        below = self.count_below(x)
        k = np.searchsorted(self.knots, x, side="left")
        hit = k < self.knots.size
        hit[hit] = self.knots[k[hit]] == x[hit]
        below[hit] = self.upto[k[hit]]
        return below

    def value_counts(self) -> dict[float, float]:
        """Exact counts per distinct value (only for an exact distribution)."""
        if not self.exact:
            raise ValueError("value counts need an exact distribution")
        return dict(zip(self.knots.tolist(), (self.upto - self.below).tolist(), strict=True))

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """``np.histogram(values, edges)[0]`` (last bin closed); exact for an exact distribution."""
        below = self.count_below(np.asarray(edges, dtype=float))
        counts = np.diff(below)
        counts[-1] = self.n - below[-2]
        return np.asarray(counts)


def finite(values: Any) -> np.ndarray:
    """The finite values of a fetched column (a masked array where the column held NULLs)."""
    data = np.asarray(np.ma.getdata(values), dtype=float)
    keep = np.isfinite(data)
    if np.ma.is_masked(values):
        keep &= ~np.ma.getmaskarray(values)
    return data if keep.all() else data[keep]


def fill_empty(shares: np.ndarray) -> np.ndarray:
    """Evidently's epsilon for empty buckets."""
    shares = np.asarray(shares, dtype=float).copy()
    filled = shares[shares != 0]
    if filled.size == 0:
        return shares
    smallest = float(filled.min())
    shares[shares == 0] = smallest / 10**6 if smallest <= EPSILON else EPSILON
    return shares


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two share vectors over the same buckets (Evidently's ``psi``)."""
    r, c = fill_empty(reference), fill_empty(current)
    return float(np.sum((r - c) * np.log(r / c)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    from scipy.spatial import distance

    if not np.any(reference) or not np.any(current):
        return float("nan")
    return float(distance.jensenshannon(reference, current))


def chi2_p(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """p-value of the chi-square test of homogeneity on the 2 × k table of counts."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, current_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0 if table.shape[1] == 1 else float("nan")
    return float(chi2_contingency(table)[1])


def ks_p(statistic: float, n_reference: int, n_current: int) -> float:
    """SciPy's asymptotic two-sided p-value for a two-sample KS statistic:
    ``kstwo.sf(D, round(n·m/(n+m)))``, what ``ks_2samp(method="asymp")`` returns.

    Where SciPy answers with twice Smirnov's one-sided probability (large n, 2.2 ≤ n·D² < 370)
    its ``smirnov`` sums n terms one by one (0.4 s at n = 500,000); ``_smirnov`` sums the same
    series as one vectorized call, agreeing to about 1e-12 (relative)."""
    from scipy.stats import kstwo

    if n_reference == 0 or n_current == 0:
        return float("nan")
    m, n = sorted((float(n_reference), float(n_current)), reverse=True)
    size = float(np.round(m * n / (m + n)))
    if size > SMIRNOV_SUM_ABOVE and statistic < 0.5 and 2.2 <= size * statistic**2 < 370.0:
        p = 2.0 * _smirnov(int(size), statistic)
    else:
        p = float(kstwo.sf(statistic, size))
    return float(np.clip(p, 0.0, 1.0))


def _smirnov(n: int, x: float) -> float:
    """P(D⁺ₙ ≥ x) by Birnbaum and Tingey's sum x·Σⱼ C(n, j)·pⱼ^(j−1)·(1 − pⱼ)^(n−j), pⱼ = x + j/n,
    each term a binomial probability (``binom.pmf(j, n, pⱼ) / pⱼ``), accurate to the last digits."""
    from scipy.stats import binom

    j = np.arange(int(np.floor(n * (1.0 - x))) + 1, dtype=float)
    p = np.minimum(x + j / n, 1.0)
    return float(x * np.sum(binom.pmf(j, n, p) / p))


def sturges_edges(low: float, high: float, size: int, integer: bool = False) -> np.ndarray:
    """``np.histogram_bin_edges(combined, bins="sturges")`` from the combined data's range and size."""
    first, last = float(low), float(high)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (high - low) / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil((last - first) / width))
    else:
        bins = 1
    return np.linspace(first, last, bins + 1, endpoint=True)


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float
    error_bound: float  # the exact statistic lies in [statistic, statistic + error_bound]


def sorted_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` of sorted values inside the edges (last bin closed)."""
    below = np.searchsorted(values, edges, side="left")
    counts = np.diff(below).astype(float)
    counts[-1] = values.size - below[-2]
    return counts


def ks_at_knots(reference: Distribution, current: np.ndarray) -> KsResult:
    """Two-sample KS statistic of the reference against the *sorted* ``current`` values.

    Both CDFs are read at the reference's knots, just below and at each: the current side
    exactly (``searchsorted``), the reference side exactly too (a knot's counts are exact even in
    a sketch). For an exact reference this is the exact statistic (what ``ks_2samp`` computes):
    between two knots the reference's CDF is flat, so the largest gap lies at an end. For a
    sketch, the gap between two knots is bounded by how much each CDF rises there
    (``_between``); ``error_bound`` is how far that bound lies above the statistic.
    """
    n, m = reference.n, current.size
    if n == 0 or m == 0:
        return KsResult(float("nan"), float("nan"), 0.0)
    ref_below, ref_upto = reference.below / n, reference.upto / n
    cur_below = np.searchsorted(current, reference.knots, side="left") / m
    cur_upto = np.searchsorted(current, reference.knots, side="right") / m
    d_below, d_upto = ref_below - cur_below, ref_upto - cur_upto
    low = float(max(np.max(np.abs(d_below)), np.max(np.abs(d_upto))))
    high = low
    if not reference.exact and reference.knots.size > 1:
        rise_ref = ref_below[1:] - ref_upto[:-1]
        rise_cur = cur_below[1:] - cur_upto[:-1]
        high = max(low, float(np.max(_between(d_upto[:-1], d_below[1:], rise_ref, rise_cur))))
    return KsResult(low, ks_p(low, n, m), high - low)


def _between(d_a: np.ndarray, d_b: np.ndarray, rise_ref: np.ndarray, rise_cur: np.ndarray) -> Any:
    """The largest |F_ref − F_cur| that two nondecreasing CDFs can reach between two points,
    from their gap at each end and how much each rises in between."""
    above = np.minimum(d_a + rise_ref, d_b + rise_cur)
    beneath = np.minimum(-d_a + rise_cur, -d_b + rise_ref)
    return np.maximum(above, beneath)


def ks_exact(reference_counts: np.ndarray, current_counts: np.ndarray) -> KsResult:
    """KS statistic from counts per sorted distinct value (exact)."""
    n_ref, n_cur = float(reference_counts.sum()), float(current_counts.sum())
    if n_ref == 0 or n_cur == 0:
        return KsResult(float("nan"), float("nan"), 0.0)
    d = np.cumsum(reference_counts) / n_ref - np.cumsum(current_counts) / n_cur
    statistic = float(np.max(np.abs(d)))
    return KsResult(statistic, ks_p(statistic, int(n_ref), int(n_cur)), 0.0)


def category_drift(
    keys: list[str], reference_counts: np.ndarray, current_counts: np.ndarray
) -> dict[str, float]:
    """PSI, JS and chi-square p-value of two count vectors over the same category keys."""
    n_ref, n_cur = reference_counts.sum(), current_counts.sum()
    if n_ref == 0 or n_cur == 0:
        return {}
    r, c = reference_counts / n_ref, current_counts / n_cur
    return {
        "psi": psi(r, c),
        "js": jensen_shannon(r, c),
        "chi2_p": chi2_p(reference_counts, current_counts),
    }
