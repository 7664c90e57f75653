"""Drawing monitoring: tiles, latency, class mix, realized vs estimated accuracy, the drift
heatmap with model changes, a feature's reference vs current distribution, an alert's evidence."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components.tables import shown
from app.components.words import plural
from core.api import Monitoring
from core.api.types import Alert, Dashboard, FeatureDistribution

MIN_LABELED = 30  # a realized accuracy on fewer labels is not worth a tile
SEVERITY_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _marks(figure: go.Figure, view: Dashboard) -> None:
    """Vertical lines where another model version started serving."""
    for change in view.changes:
        figure.add_vline(x=change.window, line_dash="dot", line_color="#6e7781")
        figure.add_annotation(
            x=change.window,
            y=1.02,
            yref="paper",
            text=change.label[:40],
            showarrow=False,
            font={"size": 10, "color": "#57606a"},
            xanchor="left",
        )


def tiles(view: Dashboard) -> None:
    volume = view.overall["volume"].sum() if "volume" in view.overall else 0
    columns = st.columns([1, 1, 1.5, 1])
    columns[0].metric("Predictions", f"{volume:,.0f}", help="in the windows shown")
    when, p95 = view.latest("latency_p95_ms")
    columns[1].metric(
        "Latency p95",
        "—" if p95 is None else f"{p95:.1f} ms",
        help=f"latest window {when:%Y-%m-%d}" if when else None,
    )
    realized_at, realized = view.latest("accuracy", min_n=MIN_LABELED)
    if realized is None:  # no window has enough feedback yet: the latest with any
        realized_at, realized = view.latest("accuracy")
    labels = view.count_at("accuracy", realized_at)
    _, estimated = view.latest("estimated.accuracy")
    columns[2].metric(
        "Accuracy (realized / estimated)",
        f"{'—' if realized is None else f'{realized:.3f}'} / {'—' if estimated is None else f'{estimated:.3f}'}",
        delta=None
        if realized_at is None
        else f"realized: {realized_at:%Y-%m-%d}"
        + ("" if labels is None else f" · {labels:,} labels"),
        delta_color="off",
        delta_arrow="off",
        help=f"realized: from feedback, the latest window with {MIN_LABELED}+ labels (else the "
        "latest with any); estimated: from calibrated confidence (CBPE), the latest window",
    )
    open_alerts = [a for a in view.alerts if a.status == "open"]
    incidents = [i for i in Monitoring.group_alerts(view.alerts) if i.status == "open"]
    critical = sum(a.severity == "critical" for a in open_alerts)
    columns[3].metric(
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


def _lines(view: Dashboard, metrics: dict[str, str], title: str, yaxis: str, key: str) -> None:
    present = {m: label for m, label in metrics.items() if m in view.overall}
    if not present:
        return
    figure = go.Figure()
    for metric, label in present.items():
        series = view.overall[metric].dropna()
        figure.add_trace(
            go.Scatter(x=series.index, y=series.values, name=label, mode="lines+markers")
        )
    _marks(figure, view)
    figure.update_layout(
        title=title, height=300, margin=_MARGIN, yaxis_title=yaxis, legend={"orientation": "h"}
    )
    st.plotly_chart(figure, key=key)


def latency_chart(view: Dashboard) -> None:
    _lines(
        view,
        {"latency_p50_ms": "p50", "latency_p95_ms": "p95", "latency_p99_ms": "p99"},
        "Latency per prediction",
        "ms",
        "monitoring.latency",
    )


def accuracy_chart(view: Dashboard) -> None:
    _lines(
        view,
        {"accuracy": "realized (feedback)", "estimated.accuracy": "estimated (CBPE)"},
        "Accuracy: realized vs estimated",
        "accuracy",
        "monitoring.accuracy",
    )


def class_mix_chart(view: Dashboard) -> None:
    shares = [c for c in view.overall.columns if c.startswith("class_share.")]
    if not shares:
        return
    figure = go.Figure()
    for column in shares:
        figure.add_trace(
            go.Scatter(
                x=view.overall.index,
                y=view.overall[column],
                name=column.split(".", 1)[1],
                stackgroup="mix",
                mode="lines",
            )
        )
    _marks(figure, view)
    figure.update_layout(
        title="Predicted class mix",
        height=300,
        margin=_MARGIN,
        yaxis_tickformat=".0%",
        legend={"orientation": "h"},
    )
    st.plotly_chart(figure, key="monitoring.mix")


def drift_heatmap(view: Dashboard) -> None:
    if view.drift.empty:
        st.info("No drift recorded in these windows.")
        return
    matrix = view.drift
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=pd.to_datetime(matrix.columns),
            y=list(matrix.index),
            colorscale="OrRd",
            zmin=0,
            zmax=1.0,  # PSI above 1 is a large shift already; a cap keeps moderate drift visible
            colorbar={"title": "PSI ≥ 1" if float(matrix.max().max()) > 1 else "PSI"},
            hovertemplate="%{y}<br>%{x}<br>%{z:.3f}<extra></extra>",
        )
    )
    _marks(figure, view)
    figure.update_layout(
        title="Drift per feature: PSI where significant (text: unseen tokens)",
        height=80 + 24 * len(matrix),
        margin=_MARGIN,
        yaxis_autorange="reversed",
    )
    st.plotly_chart(figure, key="monitoring.heatmap")


def distribution_chart(found: FeatureDistribution) -> None:
    stats = ", ".join(f"{k} {v:.3g}" for k, v in found.statistics.items())
    st.caption(
        f"Window {found.window:%Y-%m-%d %H:%M} vs model v{found.model_version}'s training data · {stats}"
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


def alert_evidence(alert: Alert, *, timeline: bool = True) -> None:
    """What the alert measured against which bound, its figures and drifted features, and (with
    ``timeline``) its notes."""
    st.write(alert.describe())
    figures = alert.evidence.get("figures") or {}
    if figures:
        st.caption(" · ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    drift = alert.evidence.get("drift") or []
    if drift:
        st.dataframe(
            shown(pd.DataFrame(drift).set_index("feature")),
            width="stretch",
            height=min(240, 35 * (len(drift) + 1) + 3),
        )
    for who, note, at in alert.acks if timeline else ():
        st.caption(f"✔ {who}, {at:%Y-%m-%d %H:%M}: {note}")
