"""What the parameters did: the runs' score against each parameter that varies, one small chart
per parameter, each point a run named on hover (what the parallel-coordinates plot said
unreadably: its lines had no names and its axes overlapped)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

SCORE = "metrics.f1_macro"
MAX_PARAMETERS = 6  # small multiples a person reads side by side, three to a row


def varying_parameters(runs: pd.DataFrame) -> list[str]:
    """Numeric ``params.*`` columns with more than one value among the runs (at most six)."""
    found = []
    for column in runs.columns:
        if not column.startswith("params."):
            continue
        values = pd.to_numeric(runs[column], errors="coerce")
        if values.notna().sum() >= 2 and values.nunique() > 1:
            found.append(column)
    return found[:MAX_PARAMETERS]


def parameter_effects(
    runs: pd.DataFrame, run_text: Callable[[int], str], score: str = SCORE
) -> go.Figure | None:
    """``score`` against each varying parameter (None: fewer than three runs, no score, or no
    parameter that varies)."""
    parameters = varying_parameters(runs)
    if len(runs) < 3 or score not in runs or not parameters:
        return None
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "run": [run_text(int(r)) for r in runs["run_id"]],
                    "parameter": column.removeprefix("params."),
                    "value": pd.to_numeric(runs[column], errors="coerce"),
                    "score": pd.to_numeric(runs[score], errors="coerce"),
                }
            )
            for column in parameters
        ],
        ignore_index=True,
    ).dropna()
    if long.empty:
        return None
    rows = -(-len(parameters) // 3)
    figure = px.scatter(
        long,
        x="value",
        y="score",
        facet_col="parameter",
        facet_col_wrap=3,
        facet_col_spacing=0.06,
        facet_row_spacing=0.25 if rows > 1 else 0.1,
        hover_name="run",
        labels={"score": score.removeprefix("metrics."), "value": ""},
        height=110 + 220 * rows,
        render_mode="webgl" if len(long) > 2_000 else "svg",
        title=f"{score.removeprefix('metrics.')} by parameter · each point a run",
    )
    figure.update_xaxes(matches=None, showticklabels=True)  # each parameter its own scale
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    figure.update_traces(marker={"size": 8, "opacity": 0.7})
    figure.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return figure
