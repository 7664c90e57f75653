"""Drawing monitoring: tiles, a feature's reference vs current distribution and its drift, an
alert's evidence (the overview's four panels are in monitoring_overview.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components.words import plural
from core.api import Monitoring
from core.api.types import Alert, Dashboard, FeatureDistribution


class WindowFigure(Protocol):
    """What a tile reads of ``Dashboard.figure(...)`` (core.monitoring.dashboard.WindowFigure)."""

    value: float | None
    n: int | None
    window: datetime | None
    minimum: int

    @property
    def enough(self) -> bool: ...
    @property
    def when(self) -> str: ...
    def range_text(self, digits: int = 3) -> str: ...


SEVERITY_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
DATE_FORMAT = "%Y-%m-%d"  # every date on the page (hour windows add the time)
HOUR_FORMAT = "%Y-%m-%d %H:%M"


def date_format(grain: str) -> str:
    """The page's one date format for windows of ``grain``."""
    return HOUR_FORMAT if grain == "hour" else DATE_FORMAT


def _dated(figure: go.Figure, grain: str) -> None:
    """The x axis in the page's date format, ticks and hover alike."""
    figure.update_xaxes(tickformat=date_format(grain), hoverformat=date_format(grain))


def tiles(view: Dashboard) -> None:
    """Predictions, latency, realized and estimated accuracy, open alerts: each figure with the
    window it is from, its n and its interval; a realized accuracy on too few labels says so."""
    volume = view.overall["volume"].sum() if "volume" in view.overall else 0
    columns = st.columns([1, 1.2, 1.2, 1.2, 1])
    columns[0].metric(
        "Predictions",
        f"{volume:,.0f}",
        delta=plural(len(view.overall), f"{view.grain} window"),
        delta_color="off",
        delta_arrow="off",
        help="logged by the service in the windows shown (a count: no interval)",
    )
    latency = view.figure("latency_p95_ms")
    columns[1].metric(
        "Latency p95",
        "—" if latency.value is None else f"{latency.value:.1f} ms",
        delta=_facts(latency, "timed requests", digits=1),
        delta_color="off",
        delta_arrow="off",
        help="the latest window's 95th percentile, with a bootstrap interval over its requests",
    )
    realized = view.figure("accuracy")
    columns[2].metric(
        "Realized accuracy",
        _headline(realized, "labels"),
        delta=_facts(realized, "labels"),
        delta_color="off",
        delta_arrow="off",
        help="from feedback (labels that came back) in the latest window, with a Wilson "
        f"interval; below {plural(realized.minimum, 'label')} it is not stated",
    )
    estimated = view.figure("estimated.accuracy")
    columns[3].metric(
        "Estimated accuracy",
        _headline(estimated, "predictions"),
        delta=_facts(estimated, "predictions"),
        delta_color="off",
        delta_arrow="off",
        help="from the model's calibrated confidence (CBPE) on every prediction of the latest "
        "window, before labels arrive; Wilson interval over its n",
    )
    open_alerts = [a for a in view.alerts if a.status == "open"]
    incidents = [i for i in Monitoring.group_alerts(view.alerts) if i.status == "open"]
    critical = sum(a.severity == "critical" for a in open_alerts)
    columns[4].metric(
        "Open alerts",
        len(open_alerts),
        delta=f"in {plural(len(incidents), 'incident')}"
        + (f", {critical} critical" if critical else "")
        if open_alerts
        else None,
        delta_color="off",
        delta_arrow="off",
        help="alerts nobody has acknowledged yet, grouped below into incidents",
    )
    st.caption(windows_caption(view))


def _headline(figure: WindowFigure, things: str) -> str:
    """The value, or ``too few`` below the minimum sample (the tile's delta gives n)."""
    if figure.value is None:
        return "—"
    if not figure.enough:
        return "too few"
    return f"{figure.value:.3f}"


def _facts(figure: WindowFigure, things: str, digits: int = 3) -> str | None:
    """``n = 212 · 0.871–0.940`` (its 95% interval), short enough for a tile; below the minimum
    ``n = 5 · under 30``. The window is named below the tiles (``windows_caption``)."""
    if figure.window is None:
        return None
    if figure.n is None:
        return figure.when
    parts = [f"n = {figure.n:,}"]
    found = figure.range_text(digits)
    if figure.enough and found:
        parts.append(found.split(" CI ", 1)[1])
    elif not figure.enough:
        parts.append(f"under {figure.minimum:,} {things}")
    return " · ".join(parts)


def windows_caption(view: Dashboard) -> str:
    """Which window each tile is from, and what n and the ranges are."""
    figures = {
        "latency": view.figure("latency_p95_ms"),
        "estimated accuracy": view.figure("estimated.accuracy"),
        "realized accuracy": view.figure("accuracy"),
    }
    whens: dict[str, list[str]] = {}
    for name, figure in figures.items():
        if figure.window is not None:
            whens.setdefault(figure.when, []).append(name)
    said = "; ".join(f"{', '.join(names)}: {when}" for when, names in whens.items())
    return (
        f"Latest {view.grain} window — {said}. n is the sample behind each figure; the range "
        "beside it is its 95% interval."
        if said
        else "No window with these figures in the range."
    )


STATISTIC_NAMES = {
    "psi": "PSI",
    "js": "JS",
    "ks": "KS",
    "ks_p": "KS p",
    "chi2_p": "χ² p",
    "novelty": "unseen tokens",
}


def window_text(start: datetime, grain: str) -> str:
    """``week of 2026-09-21``, ``2026-09-21`` (a day), ``2026-09-21 13:00`` (an hour)."""
    return f"week of {start:{DATE_FORMAT}}" if grain == "week" else f"{start:{date_format(grain)}}"


def statistics_text(statistics: dict[str, float]) -> str:
    """``PSI 1.702 · JS 0.634 · χ² p < 0.001``: a feature's drift statistics, named as the
    drift table names them."""
    parts = []
    for key, name in STATISTIC_NAMES.items():
        if key in statistics and statistics[key] == statistics[key]:
            value = statistics[key]
            if key.endswith("_p"):
                shown = p_text(value)
                parts.append(f"{name} {shown}" if shown.startswith("<") else f"{name} = {shown}")
            else:
                parts.append(f"{name} {value:.3f}")
    return " · ".join(parts)


def distribution_chart(
    found: FeatureDistribution, grain: str = "day", n: int | None = None
) -> None:
    """A feature's shares in one window (``n`` values, tokens for text) against its training
    data."""
    stats = statistics_text(found.statistics)
    unit = "token" if found.kind == "vocabulary" else "value"
    counted = f" ({plural(n, unit)})" if n is not None else ""
    st.caption(
        f"Window {window_text(found.window, grain)}{counted} vs model v{found.model_version}'s "
        f"training data" + (f" · {stats}" if stats else "")
    )
    if not found.labels:
        st.info("Nothing to draw for this feature in this window.")
        return
    figure = go.Figure(
        [
            go.Bar(
                x=list(found.labels),
                y=found.reference,
                name="reference (training)",
                marker_color="#8c959f",
            ),
            go.Bar(
                x=list(found.labels), y=found.current, name="this window", marker_color="#d1242f"
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        height=320,
        margin=_MARGIN,
        yaxis_tickformat=".0%",
        title=f"{found.feature}: share per {'bin' if found.kind == 'numeric' else 'value'}",
        legend={"orientation": "h"},
    )
    st.plotly_chart(figure, key="monitoring.distribution")


def history_chart(history: pd.Series, name: str, grain: str) -> None:
    """One feature's drift per window, on the page's date axis."""
    figure = go.Figure(go.Scatter(x=history.index, y=history.values, name=name, mode="lines"))
    _dated(figure, grain)
    figure.update_layout(height=180, margin=_MARGIN, yaxis_title=name, showlegend=False)
    st.plotly_chart(figure, key="monitoring.history")


def alert_evidence(alert: Alert, *, timeline: bool = True) -> None:
    """What the alert measured against which bound (with its n), the figures of the window it
    opened on (its own metric stated once, above), the inputs behind it ranked by drift score,
    and (with ``timeline``) its notes."""
    latest = f" (n = {alert.n:,} in its latest window)" if alert.n else ""
    said = alert.sentence()
    st.write(f"{said[:1].upper()}{said[1:]}{latest}.")  # named for people, as the CLI names it
    figures = alert.opening_figures()
    if figures:
        opened = f"{alert.first_window:{date_format(alert.grain)}}"
        st.caption(f"The {alert.grain} it opened on ({opened}): {figures}")
    drift = alert.evidence.get("drift") or []
    if drift:
        drift_table(drift)
    for who, note, at in alert.acks if timeline else ():
        st.caption(f"✔ {who}, {at:%Y-%m-%d %H:%M}: {note}")


NOT_APPLICABLE = "—"  # a statistic that does not apply to an input's kind (core's help says so)
STATISTICS = ("psi", "p", "js", "ks", "novelty")  # numeric columns: NaN where they do not apply


def drift_table(rows: list[dict[str, Any]]) -> None:
    """The inputs of a window ranked by the score that ticks them, every column explained (core
    says where each statistic is computed). Statistics stay numbers, so a column sorts as
    numbers; one that does not apply to an input's kind is NaN, written "—"."""
    table = pd.DataFrame(Monitoring.drift_rows(rows))
    for column in STATISTICS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    st.caption(f"Inputs ranked by drift score; {Monitoring.DRIFT_RULE}.")
    helps = Monitoring.DRIFT_COLUMN_HELP
    number, text = st.column_config.NumberColumn, st.column_config.TextColumn
    st.dataframe(
        # p below 0.001 reads "< 0.001" (a Styler's display text: the cell still sorts as p)
        table.style.format(na_rep=NOT_APPLICABLE).format(
            p_text, subset=["p"], na_rep=NOT_APPLICABLE
        ),
        hide_index=True,
        width="stretch",
        height=min(240, 35 * (len(table) + 1) + 3),
        placeholder=NOT_APPLICABLE,
        column_config={
            "feature": text("feature", help=helps["feature"]),
            "score": number("score", help=helps["score"], format="%.3f"),
            "drifted": st.column_config.CheckboxColumn("drifted", help=helps["drifted"]),
            "n": number("n", help=helps["n"], format="localized"),
            "psi": number("PSI", help=helps["psi"], format="%.3f"),
            "p": number("p", help=helps["p"]),
            "test": text("test", help=helps["test"]),
            "js": number("JS", help=helps["js"], format="%.3f"),
            "ks": number("KS", help=helps["ks"], format="%.3f"),
            "novelty": number("unseen", help=helps["novelty"], format="%.3f"),
        },
    )


def p_text(p: float) -> str:
    """A p-value as a reader takes it in: ``< 0.001`` when tiny, else three decimals."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
