"""Window drift: the log's windows against a stored reference.

The reference side is read from the stored distribution, so no reference row is touched. The
window side costs one read of each numeric column (its values, sorted per window: Sturges bins
and the KS statistic are then ``searchsorted`` over the reference's edges and knots) and one
``GROUPING SETS`` query counting every category (and every numeric feature compared per value)
of every window in a single scan; text fields count their tokens against the reference
vocabulary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from core.monitoring.log import LogReader
from core.monitoring.models import FeatureDrift, FeatureReference, Reference
from core.monitoring.reference import COLUMNS_PER_READ, GROUPS_PER_QUERY, TOKENS
from core.monitoring.stats import (
    DRIFT_THRESHOLDS,
    category_drift,
    finite,
    jensen_shannon,
    ks_at_knots,
    ks_exact,
    psi,
    sorted_histogram,
    sturges_edges,
)

NOVELTY_DRIFT = 0.1  # novelty this far above the held-out reference's counts as drifted
SIGNIFICANCE = 0.05  # a feature's PSI counts only when its test's p-value is below this


def available(
    reader: LogReader, reference: Reference, prefix: str = "f_"
) -> list[FeatureReference]:
    """The reference's features that the log holds."""
    out = []
    for ref in reference.features.values():
        column = "prediction" if ref.feature.column == "prediction" else prefix + ref.feature.column
        if reader.has(column):
            out.append(ref)
    return out


def window_drift(
    reader: LogReader,
    bucket: str,
    windows: Sequence[datetime],
    reference: Reference,
    *,
    prefix: str = "f_",
    features: Sequence[FeatureReference] | None = None,
) -> dict[datetime, list[FeatureDrift]]:
    """Drift of every available feature in each of ``windows`` (``bucket``: the window SQL)."""
    chosen = list(features) if features is not None else available(reader, reference, prefix)
    out: dict[datetime, list[FeatureDrift]] = defaultdict(list)
    if not windows or not chosen:
        return out
    windows = list(dict.fromkeys(windows))
    reader.con.execute(
        "CREATE OR REPLACE TEMP TABLE drift_windows AS "
        "SELECT unnest(?::TIMESTAMP[]) AS w, unnest(range(?::BIGINT)) AS wi",
        [windows, len(windows)],
    )
    reader.con.execute(
        "CREATE OR REPLACE TEMP VIEW drift_rows AS SELECT d.w, d.wi, p.* FROM predictions p "
        f"JOIN drift_windows d ON {bucket} = d.w"
    )
    binned = [
        r for r in chosen if r.feature.kind == "numeric" and not r.per_value and r.distribution
    ]
    for first in range(0, len(binned), COLUMNS_PER_READ):
        batch = binned[first : first + COLUMNS_PER_READ]
        for ref, index, values in _sorted_values(reader, batch, prefix, len(windows)):
            out[windows[index]].append(_binned(ref, values))
    counted = [r for r in chosen if r.feature.kind == "category" or r.per_value]
    for (index, position), current in _counts(reader, counted, prefix).items():
        out[windows[index]].append(_counted(counted[position], current))
    for ref in [r for r in chosen if r.feature.kind == "vocabulary"]:
        for window, result in _novelty(reader, ref, prefix).items():
            out[window].append(result)
    return out


def significant(statistics: Mapping[str, Any]) -> bool:
    """The feature's test rejects "same distribution" (KS for numbers, chi-square for categories):
    a large PSI on a handful of rows is noise, not drift."""
    p = statistics.get("ks_p", statistics.get("chi2_p"))
    return p is None or (p == p and p < SIGNIFICANCE)


def _drifted(statistics: dict[str, float]) -> bool:
    value = statistics.get("psi")
    return value is not None and value >= DRIFT_THRESHOLDS["psi"] and significant(statistics)


def _sorted_values(
    reader: LogReader, refs: Sequence[FeatureReference], prefix: str, windows: int
) -> Iterator[tuple[FeatureReference, int, np.ndarray]]:
    """Each window's finite values of a few numeric features, read in one scan and sorted:
    ``(feature, window index, values)``."""
    columns = ", ".join(f"{r.feature.sql(prefix)} AS x{i}" for i, r in enumerate(refs))
    several = windows > 1
    found = reader.con.execute(
        f"SELECT {'wi, ' if several else ''}{columns} FROM drift_rows"
    ).fetchnumpy()
    order = starts = None
    if several:  # rows grouped by window: a stable sort of the window index
        index = np.asarray(found["wi"], dtype=np.int64)
        order = np.argsort(index, kind="stable")
        starts = np.searchsorted(index[order], np.arange(windows + 1))
    for i, ref in enumerate(refs):
        column = found.pop(f"x{i}")
        for window in range(windows):
            part = column
            if order is not None and starts is not None:
                part = column[order[starts[window] : starts[window + 1]]]
            values = finite(part)  # the scan's array or a copy of its window: ours to sort
            values.sort()
            if values.size:
                yield ref, window, values


def _binned(ref: FeatureReference, values: np.ndarray) -> FeatureDrift:
    """PSI and JS over the Sturges bins of the combined range, KS at the reference's knots."""
    dist = ref.distribution
    assert dist is not None and dist.n
    low, high = min(dist.minimum, float(values[0])), max(dist.maximum, float(values[-1]))
    edges = sturges_edges(low, high, dist.n + values.size, ref.feature.integer)
    r, c = dist.histogram(edges) / dist.n, sorted_histogram(values, edges) / values.size
    ks = ks_at_knots(dist, values)
    statistics = {
        "psi": psi(r, c),
        "js": jensen_shannon(r, c),
        "ks": ks.statistic,
        "ks_p": ks.p_value,
        "ks_error": ks.error_bound,
    }
    return FeatureDrift(ref.feature.name, "numeric", statistics, values.size, _drifted(statistics))


def _counts(
    reader: LogReader, refs: Sequence[FeatureReference], prefix: str
) -> dict[tuple[int, int], dict[Any, float]]:
    """Counts per value of each feature in each window, keyed by (window index, position of
    the feature in ``refs``): one scan per 32 features."""
    out: dict[tuple[int, int], dict[Any, float]] = defaultdict(dict)
    for first in range(0, len(refs), GROUPS_PER_QUERY):
        chunk = refs[first : first + GROUPS_PER_QUERY]
        names = [f"v{i}" for i in range(len(chunk))]
        columns = ", ".join(
            f"{r.feature.sql(prefix)} AS {n}" for r, n in zip(chunk, names, strict=True)
        )
        sets = ", ".join(f"(wi, {n})" for n in names)
        rows = reader.rows(
            f"SELECT GROUPING({', '.join(names)}), wi, {', '.join(names)}, count(*) "
            f"FROM (SELECT wi, {columns} FROM drift_rows) GROUP BY GROUPING SETS ({sets})"
        )
        full = (1 << len(chunk)) - 1
        which = {full ^ (1 << (len(chunk) - 1 - i)): i for i in range(len(chunk))}
        for mask, window, *values, count in rows:
            i = which[mask]
            if values[i] is not None:
                out[(int(window), first + i)][values[i]] = float(count)
    return out


def _counted(ref: FeatureReference, current: dict[Any, float]) -> FeatureDrift:
    """Drift of a category, or of a number with at most 20 distinct reference values, per value."""
    if ref.feature.kind == "numeric":
        assert ref.distribution is not None
        reference = ref.distribution.value_counts()
        keys = sorted(set(reference) | set(current))
        r = np.array([reference.get(k, 0.0) for k in keys])
        c = np.array([current.get(k, 0.0) for k in keys])
        ks = ks_exact(r, c)
        statistics = {
            "psi": psi(r / r.sum(), c / c.sum()),
            "js": jensen_shannon(r / r.sum(), c / c.sum()),
            "ks": ks.statistic,
            "ks_p": ks.p_value,
            "ks_error": 0.0,
        }
        return FeatureDrift(
            ref.feature.name, "numeric", statistics, int(c.sum()), _drifted(statistics)
        )
    names = sorted(set(ref.categories) | {str(k) for k in current})
    r = np.array([ref.categories.get(k, 0.0) for k in names])
    c = np.array([current.get(k, 0.0) for k in names])
    statistics = category_drift(names, r, c)
    return FeatureDrift(
        ref.feature.name, "category", statistics, int(c.sum()), _drifted(statistics)
    )


def _novelty(reader: LogReader, ref: FeatureReference, prefix: str) -> dict[datetime, FeatureDrift]:
    con = reader.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE vocabulary AS SELECT unnest(?::VARCHAR[]) AS token",
        [list(ref.categories)],
    )
    rows = con.execute(
        f"SELECT t.w, count(*), count(*) FILTER (WHERE v.token IS NULL) FROM (SELECT w, "
        f"unnest(regexp_extract_all({ref.feature.sql(prefix)}, '{TOKENS}')) AS token "
        "FROM drift_rows) t LEFT JOIN vocabulary v USING (token) GROUP BY t.w"
    ).fetchall()
    baseline = float(ref.details.get("held_out_novelty") or 0.0)
    out: dict[datetime, FeatureDrift] = {}
    for window, tokens, unseen in rows:
        share = float(unseen / tokens) if tokens else float("nan")
        statistics = {"novelty": share, "novelty_reference": baseline}
        out[window] = FeatureDrift(
            ref.feature.name,
            "vocabulary",
            statistics,
            int(tokens),
            bool(tokens) and share - baseline >= NOVELTY_DRIFT,
        )
    return out


def drift_summary(results: Sequence[FeatureDrift]) -> dict[str, float]:
    """``drift.score``: the largest PSI among the inputs whose test is significant (p < 0.05; 0
    when none is); ``drift.share``: the share of inputs that drifted."""
    inputs = [r for r in results if r.feature != "prediction"]
    scored = [r for r in inputs if "psi" in r.statistics]
    out: dict[str, float] = {}
    if scored:
        scores = [r.statistics["psi"] for r in scored if significant(r.statistics)]
        out["drift.score"] = float(np.nanmax(scores)) if scores else 0.0
    if inputs:
        out["drift.share"] = float(np.mean([r.drifted for r in inputs]))
    return out
