"""Drawing a run comparison: metric deltas, per-slice table, confusion matrices, params, history."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app.components.tables import shown
from core.api.types import LOWER_IS_BETTER, Comparison, SliceFinding

REGRESSION = "background-color: #ffe3e3; font-weight: 600"
FAILED = "background-color: #cf222e; color: #ffffff; font-weight: 700"


def _delta_style(frame: pd.DataFrame) -> pd.DataFrame:
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for column in frame.columns:
        if not str(column).startswith("Δ"):
            continue
        for metric, value in frame[column].items():
            if value is None or pd.isna(value) or abs(value) < 1e-9:
                continue
            better = (value < 0) if metric in LOWER_IS_BETTER else (value > 0)
            styles.loc[metric, column] = (
                "color: #1a7f37" if better else "color: #cf222e; font-weight: 600"
            )
    return styles


def _slice_style(
    frame: pd.DataFrame, failed: set[tuple[str, str]], tolerance: float = 0.02
) -> pd.DataFrame:
    """Light red: more than ``tolerance`` below production; solid red: fails a requirement or a
    gate threshold (``failed`` holds (slice, column) pairs)."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if "production" in frame:
        for column in frame.columns:
            if column == "production":
                continue
            drop = frame["production"] - frame[column]
            styles.loc[drop > tolerance, column] = REGRESSION
    for slice_name, column in failed:
        if slice_name in styles.index and column in styles.columns:
            styles.loc[slice_name, column] = FAILED
    return styles


def slice_table(comparison: Comparison, findings: list[SliceFinding]) -> None:
    """Accuracy per slice, with the cells that fall short marked and explained below."""
    failed = {(f.slice, f.column) for f in findings}
    frame = comparison.slices
    styles = _slice_style(frame, failed)
    display = shown(frame)
    for slice_name, column in failed:
        if slice_name in display.index and column in display.columns:
            display.loc[slice_name, column] = f"✖ {display.loc[slice_name, column]}"
    styler = display.style.apply(lambda _: styles, axis=None)
    st.markdown(
        "**Accuracy per slice** · light red: more than 0.02 below production · "
        "✖ solid red: fails a requirement or a gate threshold"
    )
    st.dataframe(
        styler,
        width="stretch",
        height=min(420, 35 * (len(comparison.slices) + 1) + 3),
        key="experiments.slices",
    )
    if findings:
        st.markdown("\n".join(f"- ✖ **{f.column}** · {f.slice}: {f.text}" for f in findings))


def comparison_view(comparison: Comparison, findings: list[SliceFinding]) -> None:
    st.markdown("**Metrics** · Δ is against the model in production (green better, red worse)")
    st.dataframe(
        shown(comparison.metrics).style.apply(
            lambda _: _delta_style(comparison.metrics), axis=None
        ),
        width="stretch",
    )
    slice_table(comparison, findings)
    if comparison.confusion:
        columns = st.columns(len(comparison.confusion))
        for column, (name, (classes, matrix)) in zip(
            columns, comparison.confusion.items(), strict=True
        ):
            figure = go.Figure(
                go.Heatmap(
                    z=matrix,
                    x=classes,
                    y=classes,
                    colorscale="Blues",
                    showscale=False,
                    text=matrix,
                    texttemplate="%{text}",
                )
            )
            figure.update_layout(
                title=name,
                height=300,
                margin={"l": 10, "r": 10, "t": 40, "b": 10},
                xaxis_title="predicted",
                yaxis_title="true",
                yaxis_autorange="reversed",
            )
            column.plotly_chart(figure, key=f"compare.confusion.{name}")
    if not comparison.params.empty:
        st.markdown("**Parameters that differ**")
        st.dataframe(comparison.params, width="stretch")
    if len(comparison.history):
        st.markdown("**Metric history by step**")
        chart = px.line(
            comparison.history, x="step", y="value", color="run", facet_col="key", height=280
        )
        st.plotly_chart(chart, key="compare.history")
    if comparison.disagreements:
        with st.expander(f"{len(comparison.disagreements)} test items on which the runs disagree"):
            st.write(", ".join(comparison.disagreements[:200]))
