"""Reading what monitoring recorded: metrics per window, the latest windows, drift tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from core.monitoring.log import GRAINS, check_grain
from core.monitoring.models import Window
from core.store import Workspace

Progress = Callable[[str, float], None]
LATE_MARGIN = timedelta(minutes=5)  # a segment is finished within seconds of its records


def load_metrics(
    ws: Workspace,
    project: str,
    grain: str = "day",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: int | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Recorded figures, one row per (window, metric, slice), oldest window first."""
    check_grain(grain)
    clauses = ["project = ?", "grain = ?"]
    params: list[Any] = [project, grain]
    for clause, value in (
        ("window_start >= ?", since),
        ("window_start < ?", until),
        ("model_version = ?", model_version),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if metrics:
        clauses.append("metric IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(metrics))
    with ws.store.read() as tx:
        frame = tx.execute(
            "SELECT window_start, window_end, model_id, model_version, metric, slice, value, n, kind "
            f"FROM monitor_metrics WHERE {' AND '.join(clauses)} ORDER BY window_start, metric, slice",
            params,
        ).cursor.fetchdf()
    return frame


def recorded_grains(ws: Workspace, project: str) -> list[str]:
    with ws.store.read() as tx:
        found = {
            r[0]
            for r in tx.rows(
                "SELECT DISTINCT grain FROM monitor_metrics WHERE project = ?", [project]
            )
        }
    return [g for g in GRAINS if g in found]


def latest_windows(
    ws: Workspace, project: str, grain: str = "day", count: int = 14
) -> list[Window]:
    """The latest ``count`` recorded windows, oldest first, with every figure."""
    check_grain(grain)
    with ws.store.read() as tx:
        starts = [
            r[0]
            for r in tx.rows(
                "SELECT DISTINCT window_start FROM monitor_metrics WHERE project = ? AND grain = ? "
                "ORDER BY window_start DESC LIMIT ?",
                [project, grain, count],
            )
        ]
    if not starts:
        return []
    frame = load_metrics(ws, project, grain, since=min(starts))
    return windows_from_frame(project, grain, frame)


def windows_from_frame(project: str, grain: str, frame: pd.DataFrame) -> list[Window]:
    out = []
    for start, part in frame.groupby("window_start", sort=True):
        first = part.iloc[0]
        model_id = first["model_id"]
        version = first["model_version"]
        out.append(
            Window(
                project,
                grain,
                pd.Timestamp(str(start)).to_pydatetime(),
                pd.Timestamp(first["window_end"]).to_pydatetime(),
                int(model_id) if isinstance(model_id, str) and model_id.isdigit() else None,
                None if pd.isna(version) else int(version),
                {
                    (str(m), str(s)): (
                        None if pd.isna(v) else float(v),
                        None if pd.isna(n) else int(n),
                    )
                    for m, s, v, n in zip(
                        part["metric"], part["slice"], part["value"], part["n"], strict=True
                    )
                },
            )
        )
    return out


def drift_table(window: Window) -> dict[str, dict[str, float]]:
    """Per feature, the drift statistics recorded for a window (``drift.<stat>.<feature>``)."""
    out: dict[str, dict[str, float]] = {}
    for (metric, slice_name), (value, _) in window.metrics.items():
        if slice_name or not metric.startswith("drift.") or metric.count(".") < 2 or value is None:
            continue
        _, statistic, feature = metric.split(".", 2)
        out.setdefault(feature, {})[statistic] = value
    return dict(
        sorted(out.items(), key=lambda item: -(item[1].get("psi") or item[1].get("novelty") or 0.0))
    )


def window_starts(ws: Workspace, project: str, grain: str) -> list[datetime]:
    """Every recorded window of a project at a grain, oldest first."""
    check_grain(grain)
    with ws.store.read() as tx:
        return [
            r[0]
            for r in tx.rows(
                "SELECT DISTINCT window_start FROM monitor_metrics WHERE project = ? AND grain = ? "
                "ORDER BY window_start",
                [project, grain],
            )
        ]
