"""Inter-annotator agreement: Cohen's kappa per pair, Krippendorff's alpha overall and per class,
span agreement by exact and by overlapping match."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, permutations
from typing import Any

import numpy as np

from core.labeling.models import Annotation
from core.spans.detect import Span, overlaps
from core.stats import CONFIDENCE, SEED, Interval, resamples_for


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Agreement of two raters on the same items, corrected for chance."""
    if len(first) != len(second) or not first:
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    one, two = Counter(first), Counter(second)
    expected = sum(one[c] * two[c] for c in one) / (n * n)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(units: Mapping[Any, Sequence[Any]]) -> float | None:
    """Nominal alpha over units (items) with the values each coder gave; units with one value are
    not pairable and left out. None when no unit has two values."""
    coincidence: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for values in units.values():
        m = len(values)
        if m < 2:
            continue
        for a, b in permutations(range(m), 2):
            coincidence[(values[a], values[b])] += 1.0 / (m - 1)
    if not coincidence:
        return None
    totals: dict[Hashable, float] = defaultdict(float)
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    disagree_observed = sum(w for (c, k), w in coincidence.items() if c != k)
    disagree_expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if disagree_expected == 0:
        return 1.0
    return 1.0 - (n - 1) * disagree_observed / disagree_expected


def alpha_interval(
    units: Mapping[Any, Sequence[Any]], *, seed: int = SEED, confidence: float = CONFIDENCE
) -> Interval:
    """Percentile bootstrap of nominal alpha over the pairable units (items resampled with
    replacement; seeded, ``resamples_for`` bounds its cost). Each unit's share of the
    coincidence matrix is computed once, so a resample is a weighted sum, not a recount: the
    same alpha as :func:`krippendorff_alpha` on the resampled units."""
    pairable = [values for values in units.values() if len(values) >= 2]
    n = len(pairable)
    if n == 0:
        return Interval(0, None, None, "bootstrap", confidence)
    shares, width = _coincidence_shares(pairable)
    rng = np.random.default_rng(seed)
    resamples = resamples_for(n)
    picks = rng.integers(0, n, (resamples, n)) + np.arange(resamples)[:, None] * n
    counts = np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n)
    coincidence = (counts @ shares).reshape(-1, width, width)
    totals = coincidence.sum(axis=2)
    total = totals.sum(axis=1)
    observed = total - np.trace(coincidence, axis1=1, axis2=2)
    expected = total**2 - (totals**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alphas = np.where(expected > 0, 1.0 - (total - 1) * observed / expected, 1.0)
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(alphas, [tail, 1 - tail])
    return Interval(n, float(lower), float(upper), "bootstrap", confidence)


def _coincidence_shares(pairable: Sequence[Sequence[Any]]) -> tuple[np.ndarray, int]:
    """Per unit, its flattened share of the values-by-values coincidence matrix."""
    values = sorted({str(v) for unit in pairable for v in unit})
    index = {v: i for i, v in enumerate(values)}
    width = len(values)
    shares = np.zeros((len(pairable), width * width))
    for row, unit in enumerate(pairable):
        codes = [index[str(v)] for v in unit]
        weight = 1.0 / (len(codes) - 1)
        for a, b in permutations(range(len(codes)), 2):
            shares[row, codes[a] * width + codes[b]] += weight
    return shares, width


def span_matches(first: Sequence[Span], second: Sequence[Span], mode: str) -> int:
    """One-to-one matches between two annotators' spans: identical, or same type and overlapping."""
    if mode == "exact":
        return len(
            {(s.type, s.start, s.end) for s in first} & {(s.type, s.start, s.end) for s in second}
        )
    used: set[int] = set()
    count = 0
    for span in first:
        for index, other in enumerate(second):
            if index not in used and overlaps(span, other):
                used.add(index)
                count += 1
                break
    return count


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    items: int
    kappa: float
    agreement: float


@dataclass(frozen=True)
class AgreementReport:
    items_compared: int
    alpha: float | None
    alpha_by_class: Mapping[str, float | None]
    pairs: tuple[PairAgreement, ...]
    span_exact_f1: float | None
    span_overlap_f1: float | None
    alpha_by_group: Mapping[str, float | None] = field(default_factory=dict)
    disagreements: int = 0
    alpha_interval: Interval | None = None  # bootstrap over the items compared


def agreement(
    annotations: Sequence[Annotation],
    classes: Sequence[str],
    groups: Mapping[str, str] | None = None,
) -> AgreementReport:
    """Agreement over the current labeled answers; ``groups`` maps item id to a slice value."""
    by_item: dict[str, dict[str, Annotation]] = defaultdict(dict)
    for a in annotations:
        if a.status == "labeled" and a.label is not None:
            by_item[a.item_id][a.annotator] = a
    shared = {item: answers for item, answers in by_item.items() if len(answers) >= 2}
    units = {item: [a.label for a in answers.values()] for item, answers in shared.items()}
    per_class = {
        c: krippendorff_alpha({item: [v == c for v in values] for item, values in units.items()})
        for c in classes
    }
    pairs: list[PairAgreement] = []
    annotators = sorted({name for answers in shared.values() for name in answers})
    for first, second in combinations(annotators, 2):
        common = [answers for answers in shared.values() if first in answers and second in answers]
        if common:
            a_labels = [answers[first].label for answers in common]
            b_labels = [answers[second].label for answers in common]
            same = sum(x == y for x, y in zip(a_labels, b_labels, strict=True)) / len(common)
            pairs.append(
                PairAgreement(first, second, len(common), cohen_kappa(a_labels, b_labels), same)
            )
    matched = {"exact": 0, "overlap": 0}
    total = 0
    for answers in shared.values():
        for x, y in combinations(answers.values(), 2):
            if x.spans or y.spans:
                total += len(x.spans) + len(y.spans)
                for mode in matched:
                    matched[mode] += span_matches(x.spans, y.spans, mode)
    by_group: dict[str, float | None] = {}
    if groups:
        grouped: dict[str, dict[str, list[str | None]]] = defaultdict(dict)
        for item, values in units.items():
            grouped[groups.get(item, "(none)")][item] = values
        by_group = {g: krippendorff_alpha(u) for g, u in sorted(grouped.items())}
    return AgreementReport(
        items_compared=len(units),
        alpha=krippendorff_alpha(units),
        alpha_interval=alpha_interval(units),
        alpha_by_class=per_class,
        pairs=tuple(pairs),
        span_exact_f1=2 * matched["exact"] / total if total else None,
        span_overlap_f1=2 * matched["overlap"] / total if total else None,
        alpha_by_group=by_group,
        disagreements=sum(len(set(v)) > 1 for v in units.values()),
    )
