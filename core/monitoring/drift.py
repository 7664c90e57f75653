"""Window drift in SQL: the log's windows against a stored reference, every window in one pass.

Per numeric feature one summary query (count, min, max per window) fixes each window's Sturges
bins over the combined range; one histogram query then counts each window's values per Sturges
bin (with ``np.histogram``'s edge rules) and per sub-cell of a fine grid (for KS). Categories are
counted per value; text fields per token against the reference vocabulary. The reference side is
read from the stored distribution, so no reference row is touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from core.monitoring.log import LogReader
from core.monitoring.models import FeatureDrift, FeatureReference, Reference
from core.monitoring.reference import TOKENS
from core.monitoring.stats import (
    DRIFT_THRESHOLDS,
    category_drift,
    grid_cells,
    grid_edges,
    jensen_shannon,
    ks_exact,
    ks_from_grid,
    psi,
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
    con = reader.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE drift_windows AS SELECT unnest(?::TIMESTAMP[]) AS w",
        [list(windows)],
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW drift_rows AS SELECT {bucket} AS w, * FROM predictions "
        f"WHERE {bucket} IN (SELECT w FROM drift_windows)"
    )
    binned = [
        r for r in chosen if r.feature.kind == "numeric" and not r.per_value and r.distribution
    ]
    for by_window in _numeric(reader, binned, prefix).values():
        for window, result in by_window.items():
            out[window].append(result)
    counted = [r for r in chosen if r.feature.kind == "category" or r.per_value]
    for ref in counted:
        for window, result in _counted(reader, ref, prefix).items():
            out[window].append(result)
    for ref in [r for r in chosen if r.feature.kind == "vocabulary"]:
        for window, result in _novelty(reader, ref, prefix).items():
            out[window].append(result)
    return out


def _significant(statistics: dict[str, float]) -> bool:
    """The feature's test rejects "same distribution" (KS for numbers, chi-square for categories):
    a large PSI on a handful of rows is noise, not drift."""
    p = statistics.get("ks_p", statistics.get("chi2_p"))
    return p is None or (p == p and p < SIGNIFICANCE)


def _drifted(statistics: dict[str, float]) -> bool:
    value = statistics.get("psi")
    return value is not None and value >= DRIFT_THRESHOLDS["psi"] and _significant(statistics)


def _numeric(
    reader: LogReader, features: Sequence[FeatureReference], prefix: str
) -> dict[str, dict[datetime, FeatureDrift]]:
    if not features:
        return {}
    con = reader.con
    parts = ", ".join(
        f"count({r.feature.sql(prefix)}), min({r.feature.sql(prefix)}), max({r.feature.sql(prefix)})"
        for r in features
    )
    summary = con.execute(f"SELECT w, {parts} FROM drift_rows GROUP BY w").fetchall()
    results: dict[str, dict[datetime, FeatureDrift]] = {}
    for index, ref in enumerate(features):
        dist = ref.distribution
        assert dist is not None
        windows: dict[str, list[Any]] = defaultdict(list)
        bins: dict[str, list[Any]] = defaultdict(list)
        plans: dict[datetime, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        for row in summary:
            count, low, high = row[1 + 3 * index : 4 + 3 * index]
            if not count or dist.n == 0:
                continue
            lo, hi = min(dist.minimum, float(low)), max(dist.maximum, float(high))
            edges = sturges_edges(lo, hi, dist.n + int(count), ref.feature.integer)
            ref_counts = dist.histogram(edges)
            cells = grid_cells(edges, ref_counts)
            plans[row[0]] = (edges, ref_counts, cells, int(count))
            for key, value in (
                ("w", row[0]),
                ("lo", float(edges[0])),
                ("hi", float(edges[-1])),
                ("s", len(edges) - 1),
            ):
                windows[key].append(value)
            for i in range(len(edges) - 1):
                for key, value in (
                    ("w", row[0]),
                    ("i", i),
                    ("el", float(edges[i])),
                    ("eh", float(edges[i + 1])),
                    ("m", int(cells[i])),
                    ("mp", int(cells[i - 1]) if i else 1),
                ):
                    bins[key].append(value)
        if not plans:
            continue
        con.execute(
            "CREATE OR REPLACE TEMP TABLE drift_params AS SELECT unnest(?::TIMESTAMP[]) AS w, "
            "unnest(?::DOUBLE[]) AS lo, unnest(?::DOUBLE[]) AS hi, unnest(?::BIGINT[]) AS s",
            [windows[k] for k in ("w", "lo", "hi", "s")],
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE drift_bins AS SELECT unnest(?::TIMESTAMP[]) AS w, "
            "unnest(?::BIGINT[]) AS i, unnest(?::DOUBLE[]) AS el, unnest(?::DOUBLE[]) AS eh, "
            "unnest(?::BIGINT[]) AS m, unnest(?::BIGINT[]) AS mp",
            [bins[k] for k in ("w", "i", "el", "eh", "m", "mp")],
        )
        expr = ref.feature.sql(prefix)
        # np.histogram's rule: index from the range, then corrected against the bin's own edges
        cells_found = con.execute(
            f"""
            WITH a AS (
                SELECT d.w, d.x, p.s,
                       least(greatest(floor((d.x - p.lo) / (p.hi - p.lo) * p.s)::BIGINT, 0), p.s - 1) AS i0
                FROM (SELECT w, {expr} AS x FROM drift_rows WHERE x IS NOT NULL AND isfinite(x)) d
                JOIN drift_params p USING (w)
            ), b AS (
                SELECT a.w, x,
                    CASE WHEN x < el THEN i0 - 1 WHEN x >= eh AND i0 < s - 1 THEN i0 + 1 ELSE i0 END AS i,
                    CASE WHEN x < el THEN mp - 1 WHEN x >= eh AND i0 < s - 1 THEN 0
                         ELSE least(greatest(floor((x - el) / (eh - el) * m)::BIGINT, 0), m - 1) END AS j
                FROM a JOIN drift_bins b ON b.w = a.w AND b.i = a.i0
            )
            SELECT w, i, j, count(*) AS c, min(x) AS lo, max(x) AS hi FROM b GROUP BY ALL
            """
        ).fetchnumpy()
        results[ref.feature.name] = _numeric_results(ref, plans, cells_found)
    return results


def _numeric_results(
    ref: FeatureReference,
    plans: dict[datetime, tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    found: dict[str, Any],
) -> dict[datetime, FeatureDrift]:
    dist = ref.distribution
    assert dist is not None
    windows = np.asarray(found["w"])
    out: dict[datetime, FeatureDrift] = {}
    for window, (edges, ref_counts, cells, count) in plans.items():
        mask = windows == np.datetime64(window)
        offsets = np.concatenate([[0], np.cumsum(cells)])
        index = offsets[np.asarray(found["i"])[mask]] + np.asarray(found["j"])[mask]
        total = int(offsets[-1])
        counts = np.zeros(total)
        low = np.full(total, np.nan)
        high = np.full(total, np.nan)
        np.add.at(counts, index, np.asarray(found["c"], dtype=float)[mask])
        low[index] = np.asarray(found["lo"], dtype=float)[mask]
        high[index] = np.asarray(found["hi"], dtype=float)[mask]
        bins = np.add.reduceat(counts, offsets[:-1])
        r, c = ref_counts / dist.n, bins / max(1.0, bins.sum())
        ks = ks_from_grid(dist, grid_edges(edges, cells), counts, low, high)
        statistics = {
            "psi": psi(r, c),
            "js": jensen_shannon(r, c),
            "ks": ks.statistic,
            "ks_p": ks.p_value,
            "ks_error": ks.error_bound,
        }
        out[window] = FeatureDrift(
            ref.feature.name, "numeric", statistics, count, _drifted(statistics)
        )
    return out


def _counted(reader: LogReader, ref: FeatureReference, prefix: str) -> dict[datetime, FeatureDrift]:
    expr = ref.feature.sql(prefix)
    rows = reader.rows(
        f"SELECT w, {expr} AS v, count(*) FROM drift_rows WHERE v IS NOT NULL GROUP BY ALL"
    )
    per_window: dict[datetime, dict[Any, float]] = defaultdict(dict)
    for window, value, count in rows:
        per_window[window][value] = float(count)
    out: dict[datetime, FeatureDrift] = {}
    if ref.feature.kind == "numeric":
        assert ref.distribution is not None
        reference = ref.distribution.value_counts()
        for window, current in per_window.items():
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
            out[window] = FeatureDrift(
                ref.feature.name, "numeric", statistics, int(c.sum()), _drifted(statistics)
            )
        return out
    for window, current in per_window.items():
        names = sorted(set(ref.categories) | {str(k) for k in current})
        r = np.array([ref.categories.get(k, 0.0) for k in names])
        c = np.array([current.get(k, 0.0) for k in names])
        statistics = category_drift(names, r, c)
        out[window] = FeatureDrift(
            ref.feature.name, "category", statistics, int(c.sum()), _drifted(statistics)
        )
    return out


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
        scores = [r.statistics["psi"] for r in scored if _significant(dict(r.statistics))]
        out["drift.score"] = float(np.nanmax(scores)) if scores else 0.0
    if inputs:
        out["drift.share"] = float(np.mean([r.drifted for r in inputs]))
    return out
