"""What the monitoring page shows, prepared from the recorded figures (and, for one feature's
drill-down, one small query over the window's log rows)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.accounts.access import readable
from core.errors import InvalidInput, NotFound
from core.monitoring.alerts import list_alerts
from core.monitoring.drift import SIGNIFICANCE
from core.monitoring.log import LogReader, segment_folders, segments
from core.monitoring.models import Alert, FeatureReference
from core.monitoring.reference import ensure_reference
from core.monitoring.service import bucket_sql, resolve_model
from core.monitoring.stats import sturges_edges
from core.monitoring.windows import latest_windows, load_metrics, recorded_grains
from core.monitoring.words import window_text
from core.registry.service import promotion_history
from core.requirements.rules import default_min_n
from core.stats import MIN_RESAMPLES, Interval, bootstrap_quantile, wilson_rate
from core.store import Workspace

TOP_CATEGORIES = 15
PROPORTIONS = ("accuracy", "estimated.accuracy", "error_rate")  # Wilson over their own n


@dataclass(frozen=True)
class WindowFigure:
    """One figure of one window, as a report states it: its window, value, n and interval, and
    whether it rests on enough items (``minimum``) to be worth stating at all."""

    metric: str
    grain: str
    window: datetime | None
    value: float | None
    n: int | None
    interval: Interval | None
    minimum: int = 0

    @property
    def enough(self) -> bool:
        return self.value is not None and (self.n or 0) >= self.minimum

    @property
    def when(self) -> str:
        """``week of 2026-09-21``, ``2026-09-21`` (a day), ``2026-09-21 13:00`` (an hour)."""
        return "no window" if self.window is None else window_text(self.grain, self.window)

    def range_text(self, digits: int = 3) -> str:
        """``95% CI 0.871–0.940`` (empty when there is none)."""
        found = self.interval
        if found is None or found.lower is None or found.upper is None:
            return ""
        return f"{found.confidence:.0%} CI {found.lower:.{digits}f}–{found.upper:.{digits}f}"


@dataclass(frozen=True)
class ModelChange:
    window: datetime
    version: int | None
    label: str


@dataclass(frozen=True)
class Dashboard:
    project: str
    grain: str
    grains: tuple[str, ...]
    versions: tuple[int, ...]
    overall: pd.DataFrame  # index: window start; columns: metrics (overall slice)
    drift: pd.DataFrame  # index: feature; columns: window start; PSI where the test is
    # significant, else 0 (text fields: share of unseen tokens)
    slices: pd.DataFrame  # long: window_start, metric, slice, value, n
    changes: tuple[ModelChange, ...]
    alerts: tuple[Alert, ...]
    features: tuple[str, ...] = field(default=())
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)  # like overall: each figure's n
    latency_p95: Interval | None = None  # the latest window's p95 with its bootstrap interval

    @property
    def empty(self) -> bool:
        return self.overall.empty

    def latest(self, metric: str, min_n: int = 0) -> tuple[datetime | None, float | None]:
        """The latest window whose figure rests on at least ``min_n`` items, and its value."""
        if metric not in self.overall:
            return None, None
        series = self.overall[metric].dropna()
        if min_n and metric in self.counts:
            enough = self.counts[metric].reindex(series.index).fillna(0) >= min_n
            series = series[enough]
        if series.empty:
            return None, None
        return series.index[-1].to_pydatetime(), float(series.iloc[-1])

    def figure(self, metric: str, minimum: int | None = None) -> WindowFigure:
        """``metric`` in the latest window that has it, with its n and interval (Wilson for a
        proportion; the stored bootstrap for latency p95); ``minimum``: the requirement's default
        minimum sample for the metric unless given."""
        least = default_min_n(metric.removeprefix("estimated.")) if minimum is None else minimum
        when, value = self.latest(metric)
        n = self.count_at(metric, when)
        interval = None
        if value is not None and n and metric in PROPORTIONS:
            interval = wilson_rate(value, n)
        elif metric == "latency_p95_ms" and self.latency_p95 is not None:
            interval = self.latency_p95
        return WindowFigure(metric, self.grain, when, value, n, interval, least)

    def count_at(self, metric: str, window: datetime | None) -> int | None:
        """How many items ``metric``'s figure rests on in ``window`` (None if unknown)."""
        if window is None or metric not in self.counts:
            return None
        value = self.counts[metric].get(pd.Timestamp(window))
        return None if value is None or pd.isna(value) else int(value)


def dashboard(
    ws: Workspace,
    project: str,
    grain: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: int | None = None,
) -> Dashboard:
    """The recorded windows of a project (optionally a time range and one model version)."""
    readable(ws, None, "monitoring.read", project)
    grains = tuple(recorded_grains(ws, project))
    chosen = grain or (grains[0] if grains else "day")
    everything = load_metrics(ws, project, chosen, since=since, until=until)
    versions = tuple(sorted({int(v) for v in everything["model_version"].dropna()}))
    frame = (
        everything
        if model_version is None
        else everything[everything["model_version"] == model_version]
    )
    overall_rows = frame[frame["slice"] == ""]
    overall = _wide(overall_rows, "window_start", "metric", "value")
    overall.index = pd.to_datetime(overall.index)
    counts = _wide(overall_rows, "window_start", "metric", "n")
    counts.index = pd.to_datetime(counts.index)
    drift = _drift_matrix(overall_rows)
    reasons = {
        p.artifact_id: p.reason for p in promotion_history(ws, project) if p.alias == "production"
    }
    changes: list[ModelChange] = []
    served = everything.drop_duplicates("window_start")[
        ["window_start", "model_id", "model_version"]
    ]
    previous = None
    for start, model_id, version in served.itertuples(index=False):
        if previous is not None and model_id != previous:
            key = int(model_id) if isinstance(model_id, str) and model_id.isdigit() else None
            reason = reasons.get(key) if key is not None else None
            label = f"v{int(version)}" if not pd.isna(version) else "another model"
            changes.append(
                ModelChange(
                    pd.Timestamp(start).to_pydatetime(),
                    None if pd.isna(version) else int(version),
                    f"{label}: {reason}" if reason else f"{label} serves",
                )
            )
        previous = model_id
    return Dashboard(
        project,
        chosen,
        grains,
        versions,
        overall,
        drift,
        frame[frame["slice"] != ""][["window_start", "metric", "slice", "value", "n"]],
        tuple(changes),
        tuple(_alerts_of(list_alerts(ws, project), frame, model_version)),
        tuple(drift.index),
        counts,
        _latency_p95(ws, project, chosen, overall),
    )


def _latency_p95(ws: Workspace, project: str, grain: str, overall: pd.DataFrame) -> Interval | None:
    """The latest window's p95 latency with a seeded bootstrap interval over its timed items."""
    if "latency_p95_ms" not in overall or overall["latency_p95_ms"].dropna().empty:
        return None
    window = overall["latency_p95_ms"].dropna().index[-1].to_pydatetime()
    folder, _ = segment_folders(ws.root, project)
    return _window_p95(ws.root, project, grain, window, tuple(segments(folder)))


@functools.lru_cache(maxsize=64)
def _window_p95(
    root: Path, project: str, grain: str, window: datetime, logged: tuple[str, ...]
) -> Interval | None:
    """Once per window and set of log segments (``logged``): the page asks on every rerun."""
    with LogReader(root, project) as reader:
        if not reader.has("latency_ms"):
            return None
        timings = np.asarray(
            reader.con.execute(
                f"SELECT latency_ms FROM predictions WHERE {bucket_sql(grain)} = ? "
                "AND latency_ms IS NOT NULL",
                [window],
            ).fetchnumpy()["latency_ms"],
            dtype=float,
        )
    return bootstrap_quantile(timings, 95, resamples=MIN_RESAMPLES) if len(timings) else None


def _wide(rows: pd.DataFrame, index: str | list[str], columns: str, values: str) -> pd.DataFrame:
    """``pivot_table(..., aggfunc="first")`` (the first non-missing value of each cell) at a
    fraction of its cost: drop the missing values and the later duplicates, then pivot."""
    keys = [index] if isinstance(index, str) else index
    kept = rows.dropna(subset=[values]).drop_duplicates([*keys, columns])
    if kept.empty:
        return pd.DataFrame()
    wide = kept.pivot(index=index, columns=columns, values=values).sort_index()
    wide.columns.name = columns
    return wide


def _alerts_of(alerts: list[Alert], frame: pd.DataFrame, model_version: int | None) -> list[Alert]:
    """Every alert of the project, or with a model version chosen, the alerts about that model
    (an alert belongs to the production model that served its windows)."""
    if model_version is None:
        return alerts
    models = {str(m) for m in frame["model_id"].dropna()}
    return [a for a in alerts if a.model_id is not None and str(a.model_id) in models]


def _drift_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """Feature × window: PSI where the feature's test says it changed (p < 0.05), else 0 — a
    PSI on a few dozen rows is mostly noise; text fields: the share of unseen tokens."""
    found = rows[rows["metric"].str.match(r"^drift\.(psi|novelty|ks_p|chi2_p)\.")].copy()
    found["statistic"] = found["metric"].str.split(".", n=2).str[1]
    found["feature"] = found["metric"].str.split(".", n=2).str[2]
    wide = _wide(found, ["feature", "window_start"], "statistic", "value")
    if wide.empty:
        return pd.DataFrame()
    p = wide.get("ks_p", pd.Series(np.nan, index=wide.index)).fillna(
        wide.get("chi2_p", pd.Series(np.nan, index=wide.index))
    )
    psi = wide.get("psi", pd.Series(np.nan, index=wide.index))
    value = psi.where(p.isna() | (p < SIGNIFICANCE), 0.0)
    if "novelty" in wide:
        value = value.fillna(wide["novelty"])
    matrix = value.unstack("window_start")
    return matrix.loc[matrix.max(axis=1).sort_values(ascending=False).index]


@dataclass(frozen=True)
class FeatureDistribution:
    """Reference vs current shares of one feature in one window (bins, values or tokens)."""

    feature: str
    kind: str
    window: datetime
    labels: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    statistics: dict[str, float]
    model_version: int | None


def feature_distribution(
    ws: Workspace, project: str, feature: str, grain: str, window: datetime
) -> FeatureDistribution:
    """The drill-down: how the window's values of ``feature`` sit against the training data."""
    readable(ws, None, "monitoring.read", project)
    frame = load_metrics(
        ws, project, grain, since=window, until=window + pd.Timedelta(microseconds=1)
    )
    if frame.empty:
        raise NotFound(
            f"No recorded {grain} window of {project} starts at {window:%Y-%m-%d %H:%M}."
        )
    ref = _feature_reference(ws, frame, feature, window)
    prefix = f"drift.{{}}.{feature}"
    statistics = {
        s: float(v)
        for s in ("psi", "js", "ks", "ks_p", "chi2_p", "novelty")
        for v in frame.loc[frame["metric"] == prefix.format(s), "value"].dropna()
    }
    version = (
        None if pd.isna(frame["model_version"].iloc[0]) else int(frame["model_version"].iloc[0])
    )
    kind = ref.feature.kind
    if kind == "vocabulary":
        return FeatureDistribution(
            feature, "vocabulary", window, (), np.zeros(0), np.zeros(0), statistics, version
        )
    current = _window_counts(ws, project, ref, grain, window)
    if kind == "category" or ref.per_value:
        shares = _value_shares(ref, current)
    else:
        kind, shares = "numeric", _bin_shares(ref, current)
    return FeatureDistribution(feature, kind, window, *shares, statistics, version)


Shares = tuple[tuple[str, ...], np.ndarray, np.ndarray]  # labels, reference and current shares


def _feature_reference(
    ws: Workspace, frame: pd.DataFrame, feature: str, window: datetime
) -> FeatureReference:
    """The feature's reference in the training data of the model that served the window."""
    model = resolve_model(ws, str(frame["model_id"].iloc[0]))
    if model is None:
        raise NotFound(
            f"The window {window:%Y-%m-%d} was served by a model this workspace does not hold."
        )
    reference = ensure_reference(ws, model)
    if feature not in reference.features:
        raise InvalidInput(
            f"Unknown feature {feature!r}. Expected one of: {', '.join(sorted(reference.features))}."
        )
    return reference.features[feature]


def _window_counts(
    ws: Workspace, project: str, ref: FeatureReference, grain: str, window: datetime
) -> dict[Any, float]:
    """How often each value of the feature was logged in the window."""
    expr = ref.feature.sql()
    with LogReader(ws.root, project) as reader:
        rows = reader.rows(
            f"SELECT {expr} AS v, count(*) FROM predictions WHERE {bucket_sql(grain)} = ? AND v IS NOT NULL GROUP BY v",
            [window],
        )
    return {v: float(c) for v, c in rows}


def _value_shares(ref: FeatureReference, current: dict[Any, float]) -> Shares:
    """Categories (or the values of a feature with few of them): the most common in either."""
    if ref.feature.kind == "category":
        ref_counts = dict(ref.categories)
    else:
        assert ref.distribution is not None
        ref_counts = {str(k): v for k, v in ref.distribution.value_counts().items()}
        current = {str(float(k)): v for k, v in current.items()}
    keys = sorted(set(ref_counts) | {str(k) for k in current})
    r = np.array([ref_counts.get(k, 0.0) for k in keys])
    c = np.array([current.get(k, 0.0) for k in keys])
    order = np.argsort(-(r / max(r.sum(), 1) + c / max(c.sum(), 1)))[:TOP_CATEGORIES]
    return (
        tuple(keys[i] for i in order),
        r[order] / max(r.sum(), 1),
        c[order] / max(c.sum(), 1),
    )


def _bin_shares(ref: FeatureReference, current: dict[Any, float]) -> Shares:
    """A numeric feature: Sturges bins over the reference's and the window's range."""
    dist = ref.distribution
    assert dist is not None
    if not current:
        return (), np.zeros(0), np.zeros(0)
    values = np.array(list(current), dtype=float)
    counts = np.array(list(current.values()))
    edges = sturges_edges(
        min(dist.minimum, values.min()),
        max(dist.maximum, values.max()),
        dist.n + int(counts.sum()),
        ref.feature.integer,
    )
    r = dist.histogram(edges)
    c = np.histogram(values, edges, weights=counts)[0]
    labels = tuple(f"{edges[i]:.4g}…{edges[i + 1]:.4g}" for i in range(len(edges) - 1))
    return labels, r / max(r.sum(), 1), c / max(c.sum(), 1)


@dataclass(frozen=True)
class OpsSummary:
    """The Home page's Operations stage: the latest window and what stands open."""

    grain: str | None
    latest_window: datetime | None
    volume: float | None
    latency_p95_ms: float | None
    accuracy: float | None
    estimated_accuracy: float | None
    drift_score: float | None
    open_alerts: int
    critical_alerts: int


def ops_summary(ws: Workspace, project: str) -> OpsSummary:
    """The latest recorded window of the finest grain monitored, and the open alerts."""
    grains = recorded_grains(ws, project)
    alerts = list_alerts(ws, project, status="open")
    critical = sum(a.severity == "critical" for a in alerts)
    if not grains:
        return OpsSummary(None, None, None, None, None, None, None, len(alerts), critical)
    grain = "day" if "day" in grains else grains[0]
    (window,) = latest_windows(ws, project, grain, 1)
    return OpsSummary(
        grain,
        window.start,
        window.value("volume"),
        window.value("latency_p95_ms"),
        window.value("accuracy"),
        window.value("estimated.accuracy"),
        window.value("drift.score"),
        len(alerts),
        critical,
    )
