"""Render helpers for the traceability page: the matrix (a styled table with nested rows and a
heatmap), evidence per slice, and status history over time and per model version. No SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core.api.types import EvidenceDetail, HistoryEntry, Matrix, SliceValue, Status

STATUS_ORDER = ("met", "no_evidence", "inconclusive", "suspect", "violated")
COLORS = {
    "met": "#2b9348",
    "no_evidence": "#adb5bd",
    "inconclusive": "#6c63ff",
    "suspect": "#f4a261",
    "violated": "#d62828",
}
TINTS = {
    "met": "#d8f3dc",
    "no_evidence": "#eceff3",
    "inconclusive": "#e4e2ff",
    "suspect": "#fde8d4",
    "violated": "#fbd5d5",
}
ICONS = {
    "met": "🟢",
    "no_evidence": "⚪",
    "inconclusive": "🟣",
    "suspect": "🟠",
    "violated": "🔴",
    "removed": "✖️",
}
LABELS = {
    "met": "met",
    "no_evidence": "no evidence",
    "inconclusive": "inconclusive",
    "suspect": "suspect",
    "violated": "violated",
}


def sample_text(status: Status | None) -> str:
    """``n = 319, 95% CI 0.612–0.705`` and the open alert that keeps it from being met."""
    if status is None:
        return ""
    alert = f" · alert #{status.alert_id} open" if status.alert_id is not None else ""
    return status.interval_text + alert


def label(status: Status | str | None) -> str:
    key = status.status if isinstance(status, Status) else status
    if key is None:
        return "⚪ not computed"
    return f"{ICONS.get(key, '')} {LABELS.get(key, key)}"


def matrix_frame(matrix: Matrix) -> pd.DataFrame:
    """The matrix as nested rows: each system requirement, then its ML requirements below it."""
    rows: list[dict[str, Any]] = []
    for row in matrix.rows:
        system, found = row.requirement, row.status
        indent = "\u2003" * row.depth
        rows.append(
            {
                "requirement": f"{indent}{system.requirement_id} · {system.title}",
                "status": label(found),
                "value vs threshold": (
                    f"via {found.via}: {found.value_text}" if found and found.via else ""
                ),
                "n and 95% interval": sample_text(found) if found and found.via else "",
                "check": "",
                "evidence": "",
                "measured on": "",
                "_status": found.status if found else "no_evidence",
                "_level": "system",
            }
        )
        for item, status in row.ml:
            rows.append(
                {
                    "requirement": f"{indent}\u2003↳ {item.requirement_id} · {item.title}",
                    "status": label(status),
                    "value vs threshold": status.value_text if status else "—",
                    "n and 95% interval": sample_text(status),
                    "check": item.check_text,
                    "evidence": item.evidence_text,
                    "measured on": (status.evidence_ref or "") if status else "",
                    "_status": status.status if status else "no_evidence",
                    "_level": "ml",
                }
            )
    return pd.DataFrame(rows)


def styled_matrix(frame: pd.DataFrame) -> Any:
    """Cells tinted by status; system rows bold."""
    shown = frame.drop(columns=["_status", "_level"])

    def paint(row: pd.Series) -> list[str]:
        key = frame.loc[row.name, "_status"]
        weight = "font-weight: 600;" if frame.loc[row.name, "_level"] == "system" else ""
        tint = f"background-color: {TINTS.get(key, '#fff')};"
        return [
            weight
            + (tint if column in ("status", "value vs threshold", "n and 95% interval") else "")
            for column in shown.columns
        ]

    return shown.style.apply(paint, axis=1)


def matrix_heatmap(matrix: Matrix, max_columns: int = 60, max_rows: int = 80) -> go.Figure:
    """System requirements (rows, as a tree) × ML requirements (columns), coloured by status; the
    hover shows the check, the value against the threshold and the evidence."""
    columns: list[str] = []
    for row in matrix.rows[:max_rows]:
        for item, _ in row.ml:
            if item.requirement_id not in columns:
                columns.append(item.requirement_id)
    columns = columns[:max_columns]
    z: list[list[float | None]] = []
    hover: list[list[str]] = []
    labels: list[str] = []
    for row in matrix.rows[:max_rows]:
        mine = {item.requirement_id: (item, status) for item, status in row.ml}
        labels.append(("\u2003" * row.depth) + row.requirement.requirement_id)
        z_row: list[float | None] = []
        hover_row: list[str] = []
        for rid in columns:
            if rid not in mine:
                z_row.append(None)
                hover_row.append("")
                continue
            item, status = mine[rid]
            key = status.status if status else "no_evidence"
            z_row.append(float(STATUS_ORDER.index(key)))
            hover_row.append(
                f"<b>{row.requirement.requirement_id} ← {rid}</b><br>{item.check_text}<br>"
                f"{LABELS[key]}: {status.value_text if status else '—'}<br>"
                f"{sample_text(status)}<br>"
                f"{(status.evidence_ref or '') if status else ''}"
            )
        z.append(z_row)
        hover.append(hover_row)
    figure = _status_heatmap(
        z, columns, labels, text=hover, hovertemplate="%{text}<extra></extra>", hoverinfo="text"
    )
    figure.update_layout(
        height=max(220, 34 * len(labels) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"side": "top"},
        plot_bgcolor="white",
    )
    return figure


def slice_chart(values: Sequence[SliceValue], metric: str) -> go.Figure:
    """The evidence's value on each slice against the (effective) threshold."""
    shown = [v for v in values if v.value is not None]
    figure = go.Figure(
        go.Bar(
            x=[v.slice or "overall" for v in shown],
            y=[v.value for v in shown],
            marker_color=[
                "#6b7689" if v.reference else COLORS.get(v.verdict or "", COLORS["no_evidence"])
                for v in shown
            ],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(v.upper - v.value) if v.upper is not None else 0 for v in shown],
                "arrayminus": [(v.value - v.lower) if v.lower is not None else 0 for v in shown],
            },
            text=[
                f"{v.value:.3f}"
                + (" (estimated)" if v.estimated else "")
                + (f" · n = {v.n:,.0f}" if v.n is not None else "")
                for v in shown
            ],
            textposition="outside",
            name=metric,
            width=min(0.8, 0.25 * len(shown)) if shown else None,
        )
    )
    limits = [v.threshold for v in values if v.threshold is not None]
    if limits:
        figure.add_hline(
            y=limits[0], line_dash="dash", line_color="#1d2433", annotation_text="threshold"
        )
    figure.update_layout(
        height=280, margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis_title=metric
    )
    return figure


def history_timeline(history: Sequence[HistoryEntry]) -> go.Figure:
    """Each requirement's status over time: a marker at every change, coloured by the new status."""
    figure = go.Figure()
    for key in STATUS_ORDER:
        entries = [h for h in history if h.status == key]
        if entries:
            figure.add_trace(
                go.Scatter(
                    x=[h.at for h in entries],
                    y=[h.requirement_id for h in entries],
                    mode="markers",
                    name=LABELS[key],
                    marker={"color": COLORS[key], "size": 13, "symbol": "square"},
                    text=[f"{h.cause}<br>{h.evidence_ref or ''}" for h in entries],
                    hovertemplate="%{y}: %{x}<br>%{text}<extra></extra>",
                )
            )
    ids = sorted({h.requirement_id for h in history}, key=_natural)
    figure.update_layout(
        height=max(240, 26 * len(ids) + 90),
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        yaxis={"categoryorder": "array", "categoryarray": ids[::-1]},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def per_version_heatmap(history: Sequence[HistoryEntry]) -> go.Figure | None:
    """Requirement × production model version: the last status each requirement had with it."""
    last: dict[tuple[str, int], str] = {}
    for entry in sorted(history, key=lambda h: h.at):
        if entry.model_version is not None and entry.status in STATUS_ORDER:
            last[(entry.requirement_id, int(entry.model_version))] = entry.status
    if not last:
        return None
    ids = sorted({k[0] for k in last}, key=_natural)
    versions = sorted({k[1] for k in last})
    z = [
        [(float(STATUS_ORDER.index(last[(r, v)])) if (r, v) in last else None) for v in versions]
        for r in ids
    ]
    text = [[LABELS.get(last.get((r, v), ""), "") for v in versions] for r in ids]
    figure = _status_heatmap(
        z,
        [f"v{v}" for v in versions],
        ids,
        text=text,
        hovertemplate="%{y} with model %{x}: %{text}<extra></extra>",
        texttemplate="%{text}",
    )
    figure.update_layout(
        height=max(220, 28 * len(ids) + 60), margin={"l": 10, "r": 10, "t": 20, "b": 10}
    )
    return figure


def _status_heatmap(
    z: Sequence[Sequence[float | None]], x: Sequence[str], y: Sequence[str], **text: Any
) -> go.Figure:
    """Cells coloured by status (a stepped scale over STATUS_ORDER), first row on top."""
    scale = []
    for index, key in enumerate(STATUS_ORDER):
        low, high = index / len(STATUS_ORDER), (index + 1) / len(STATUS_ORDER)
        scale += [[low, COLORS[key]], [high, COLORS[key]]]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            colorscale=scale,
            zmin=-0.5,
            zmax=len(STATUS_ORDER) - 0.5,
            xgap=3,
            ygap=3,
            showscale=False,
            **text,
        )
    )
    figure.update_layout(yaxis={"autorange": "reversed"})
    return figure


def evidence_rows(detail: EvidenceDetail) -> list[dict[str, Any]]:
    """The artifacts behind a status, as table rows."""
    status = detail.status
    rows = [
        {"evidence": name.replace("_", " "), "artifact": artifact.ref, "id": artifact.artifact_id}
        for name, artifact in detail.artifacts.items()
    ]
    if status is not None and status.window_from is not None:
        rows.append(
            {
                "evidence": "monitoring window",
                "artifact": f"{status.window_from:%Y-%m-%d} – {status.window_to:%Y-%m-%d}"
                + (" (estimated)" if status.estimated else " (realized)"),
                "id": None,
            }
        )
    return rows


def _natural(text: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))
