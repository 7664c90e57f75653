"""Drawing a run comparison: metric deltas, per-slice table, confusion matrices, params, history."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app.components.tables import shown
from app.components.words import plural
from core.api.types import Comparison, SliceFinding

REGRESSION = "background-color: #ffe3e3; font-weight: 600"
FAILED = "background-color: #cf222e; color: #ffffff; font-weight: 700"
UNCLEAR = "color: #8c959f"
TOO_SMALL = "color: #8c959f; background-color: #f6f8fa"
VERDICT_STYLES = {
    "better": "color: #1a7f37",
    "worse": "color: #cf222e; font-weight: 600",
    "no clear difference": UNCLEAR,
}


def _delta_style(comparison: Comparison) -> pd.DataFrame:
    """Green/red only where the difference's interval excludes 0; grey where it does not."""
    frame = comparison.metrics
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for column in frame.columns:
        if not str(column).startswith("Δ "):
            continue
        for metric in frame.index:
            verdict = comparison.verdict(str(column)[2:], str(metric))
            styles.loc[metric, column] = VERDICT_STYLES.get(verdict, "")
    return styles


def _delta_rows(comparison: Comparison) -> pd.DataFrame:
    """The judged differences as a table a person reads: delta, its interval and the verdict."""
    frame = comparison.deltas
    return pd.DataFrame(
        {
            "run": frame["run"],
            "metric": frame["metric"],
            "Δ vs production": frame["delta"].round(4),
            "95% interval": [
                f"{lo:+.4f} … {hi:+.4f}" if lo is not None and hi is not None else "none"
                for lo, hi in zip(frame["lower"], frame["upper"], strict=True)
            ],
            "verdict": frame["verdict"],
        }
    )


def _slice_style(
    frame: pd.DataFrame,
    failed: set[tuple[str, str]],
    small: set[str] | frozenset[str] = frozenset(),
    tolerance: float = 0.02,
) -> pd.DataFrame:
    """Light red: more than ``tolerance`` below production; solid red: fails a requirement or a
    gate threshold (``failed`` holds (slice, column) pairs); grey: a slice in ``small`` has too
    few items to judge."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if "production" in frame:
        for column in frame.columns:
            if column in ("production", "n"):
                continue
            drop = frame["production"] - frame[column]
            styles.loc[drop > tolerance, column] = REGRESSION
    for slice_name, column in failed:
        if slice_name in styles.index and column in styles.columns:
            styles.loc[slice_name, column] = FAILED
    for slice_name in small:
        styles.loc[slice_name, :] = TOO_SMALL
    return styles


def slice_table(comparison: Comparison, findings: list[SliceFinding]) -> None:
    """Accuracy per slice, with the cells that fall short marked and explained below."""
    failed = {(f.slice, f.column) for f in findings}
    frame = comparison.slices.copy()
    frame.insert(0, "n", [comparison.slice_sizes.get(str(s)) for s in frame.index])
    small = {str(s) for s in frame.index if comparison.too_small(str(s))}
    styles = _slice_style(frame, failed, small)
    display = shown(frame)
    for slice_name, column in failed:
        if slice_name in display.index and column in display.columns:
            display.loc[slice_name, column] = f"✖ {display.loc[slice_name, column]}"
    styler = display.style.apply(lambda _: styles, axis=None)
    st.markdown(
        "**Accuracy per slice** · n: items of the slice in the common test set · light red: "
        "more than 0.02 below production · ✖ solid red: fails a requirement or a gate threshold"
        f" · grey: fewer than {comparison.min_slice} items, too few to judge"
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
    st.caption(f"Measured on {comparison.test_set}.")
    st.markdown(
        "**Metrics** · Δ is against the model in production · green better, red worse only where "
        "the difference's 95% interval (paired bootstrap on the common items) excludes 0 · "
        "grey: no clear difference"
    )
    st.dataframe(
        shown(comparison.metrics).style.apply(lambda _: _delta_style(comparison), axis=None),
        width="stretch",
    )
    if not comparison.deltas.empty:
        with st.expander("Differences with their uncertainty"):
            st.dataframe(_delta_rows(comparison), width="stretch", hide_index=True)
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
    disagreement_table(comparison)


EVERY_ITEM = "every item"
WRONG = "background-color: #ffe3e3"


def _wrong_style(comparison: Comparison, rows: pd.DataFrame) -> pd.DataFrame:
    """Light red: a run's prediction (and its score) where the run is wrong."""
    styles = pd.DataFrame("", index=rows.index, columns=rows.columns)
    for column in comparison.prediction_columns():
        wrong = comparison.wrong_in(column).loc[rows.index]
        styles.loc[wrong, column] = WRONG
        if f"{column} score" in styles.columns:
            styles.loc[wrong, f"{column} score"] = WRONG
    return styles


def disagreement_table(comparison: Comparison) -> None:
    """The test items on which the runs disagree: each item's text, slices, true label and each
    run's prediction, filtered to one run's mistakes, and as a CSV file."""
    rows = comparison.disagreement_rows
    if not comparison.disagreement_total or rows.empty:
        return
    title = plural(comparison.disagreement_total, "test item")
    with st.expander(f"{title} on which the runs disagree", expanded=True):
        order = comparison.disagreement_order
        st.caption(
            f"{order[:1].upper()}{order[1:]}. Light red: the run's prediction is wrong; score: "
            "the model's probability of the label it predicts."
        )
        runs = comparison.prediction_columns()
        key = "experiments.disagreements.wrong"
        if st.session_state.get(key) not in (None, EVERY_ITEM, *runs):  # other runs picked
            del st.session_state[key]
        left, right = st.columns([3, 1])
        wrong_in = left.selectbox("Only where this run is wrong", [EVERY_ITEM, *runs], key=key)
        chosen = rows if wrong_in == EVERY_ITEM else rows[comparison.wrong_in(wrong_in)]
        right.download_button(
            "Download CSV",
            chosen.to_csv(index=False).encode("utf-8"),
            file_name="disagreements.csv",
            mime="text/csv",
            key="experiments.disagreements.download",
        )
        if wrong_in != EVERY_ITEM:
            st.caption(
                f"{plural(len(chosen), 'item')} of the {len(rows):,} shown: {wrong_in} wrong."
            )
        st.dataframe(
            shown(chosen).style.apply(lambda _: _wrong_style(comparison, chosen), axis=None),
            width="stretch",
            hide_index=True,
            height=min(420, 35 * (len(chosen) + 1) + 3),
            key="experiments.disagreements",
        )
