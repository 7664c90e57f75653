"""Drift statistics from counts, with Evidently's and SciPy's definitions.

Every statistic here works on *counts* (a reference distribution stored once per model version, and
a window's histogram computed in SQL), never on raw rows:

- **PSI** (population stability index): over Sturges equal-width bins of the combined range when
  the reference has more than 20 distinct values, else per value (and always per value for
  categories); empty buckets get Evidently's epsilon (0.0001, or a millionth of the smallest
  non-empty share when that is below 0.0001).
- **JS**: ``scipy.spatial.distance.jensenshannon`` (natural log) over the same buckets, unfilled.
- **chi2_p**: ``scipy.stats.chi2_contingency`` on the 2 × k table of counts (reference, current);
  categories empty on both sides are dropped. (Evidently's ``chisquare`` is a goodness-of-fit test
  against the reference shares, undefined for categories the reference never saw; the contingency
  test is the two-sample test of the same hypothesis and handles them.)
- **ks / ks_p**: the two-sample Kolmogorov–Smirnov statistic, evaluated on a fine grid (each
  Sturges bin split into sub-bins) or exactly per value; the p-value is SciPy's asymptotic
  two-sided formula (``kstwo.sf(D, round(n·m/(n+m)))``, what ``ks_2samp`` uses above 10,000
  values per side). The grid's error is bounded and reported: see :func:`ks_from_grid`.

A numeric reference is a :class:`Distribution`: knots with the exact number of reference values
below and up to each. With at most ``EXACT_LIMIT`` distinct values the knots are all of them and
every count is exact; above that the knots are ``EXACT_LIMIT`` quantiles plus the ``TAIL_EXACT``
smallest and largest values (a sketch: the sparse tails, where a bin holds few values, stay
exact) and counts between knots are interpolated linearly (error at most the mass between two
knots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 0.0001
PER_VALUE_LIMIT = 20  # Evidently bins a numeric column with more distinct reference values
EXACT_LIMIT = 8192  # distinct values kept exactly; above it, this many quantile knots
TAIL_EXACT = 1024  # … plus this many of the smallest and of the largest values, exactly
GRID_CELLS = 8192  # fine cells over the combined range for the KS statistic
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
        data = np.sort(np.asarray(values, dtype=float))
        data = data[~np.isnan(data)]
        if data.size == 0:
            empty = np.zeros(0)
            return cls(0, empty, empty, empty, True)
        unique, first = np.unique(data, return_index=True)
        if unique.size <= limit:
            upto = np.append(first[1:], data.size)
            return cls(int(data.size), unique, first.astype(float), upto.astype(float), True)
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
    """SciPy's asymptotic two-sided p-value for a two-sample KS statistic."""
    from scipy.stats import kstwo

    if n_reference == 0 or n_current == 0:
        return float("nan")
    m, n = sorted((float(n_reference), float(n_current)), reverse=True)
    return float(np.clip(kstwo.sf(statistic, np.round(m * n / (m + n))), 0.0, 1.0))


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


def grid_cells(
    edges: np.ndarray, reference_counts: np.ndarray, total: int = GRID_CELLS
) -> np.ndarray:
    """How many sub-cells each bin gets: a few each, the rest by the reference's mass in it."""
    bins = len(edges) - 1
    base = max(1, min(16, total // (4 * bins)))
    mass = reference_counts / max(1.0, float(reference_counts.sum()))
    return np.asarray(base + np.floor((total - base * bins) * mass), dtype=np.int64)


def grid_edges(edges: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Bin ``i`` of ``edges`` split into ``cells[i]`` equal sub-cells (the grid SQL counts on)."""
    parts = [
        edges[i] + (edges[i + 1] - edges[i]) * np.arange(int(cells[i])) / int(cells[i])
        for i in range(len(edges) - 1)
    ]
    return np.append(np.concatenate(parts), edges[-1])


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float
    error_bound: float  # the exact statistic lies in [statistic, statistic + error_bound]


def ks_from_grid(
    reference: Distribution,
    points: np.ndarray,
    current_counts: np.ndarray,
    cell_min: np.ndarray | None = None,
    cell_max: np.ndarray | None = None,
) -> KsResult:
    """KS statistic evaluated at grid ``points`` (cell edges) from the current counts per cell.

    Within a cell both CDFs only rise, so with d = F_ref − F_cur at the cell's edges a and b and
    the masses Δr, Δc in the cell, |d| inside is at most max(min(d_a + Δr, d_b + Δc),
    min(−d_a + Δc, −d_b + Δr)); a cell whose current values (``cell_min``/``cell_max``) and
    exact reference values are one and the same value adds nothing. The bound adds the reference
    sketch's own error.
    """
    n_cur = float(current_counts.sum())
    if reference.n == 0 or n_cur == 0:
        return KsResult(float("nan"), float("nan"), 0.0)
    ref_below = reference.count_below(points)
    ref = ref_below / reference.n
    ref[-1] = 1.0
    cur = np.concatenate([[0.0], np.cumsum(current_counts)]) / n_cur
    d = ref - cur
    low = float(np.max(np.abs(d)))
    dr, dc = np.diff(ref), np.diff(cur)
    above = np.minimum(d[:-1] + dr, d[1:] + dc)
    beneath = np.minimum(-d[:-1] + dc, -d[1:] + dr)
    inside = np.maximum(above, beneath)
    if cell_min is not None and cell_max is not None and reference.exact:
        single = (current_counts > 0) & (cell_min == cell_max)
        value = np.where(single, cell_min, points[:-1])
        ends = ref_below.copy()
        ends[-1] = reference.n
        alone = (
            single
            & (reference.count_below(value) == ends[:-1])
            & (reference.count_upto(value) == ends[1:])
        )
        inside = np.where(alone, np.maximum(np.abs(d[:-1]), np.abs(d[1:])), inside)
    high = max(low, float(np.max(inside)))
    bound = high - low + reference.max_error / reference.n
    return KsResult(low, ks_p(low, reference.n, int(n_cur)), bound)


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
