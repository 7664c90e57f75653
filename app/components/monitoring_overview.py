"""The monitoring page's overview as one figure: latency, the predicted class mix, realized vs
estimated accuracy and the drift heatmap as four panels of one Plotly chart, each with the lines
where another model version started serving. One chart, not four: the browser lays out and draws
one plot (four cost ~1 s more per visit on the loaded 2-core machine). Written as a plain figure
dict in one go: Plotly validates it once (adding traces, lines and notes one by one to a Figure
re-validated each step, ~0.3 s a visit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from core.api.types import Dashboard

LATENCY = {"latency_p50_ms": "p50", "latency_p95_ms": "p95", "latency_p99_ms": "p99"}
ACCURACY = {"accuracy": "realized (feedback)", "estimated.accuracy": "estimated (CBPE)"}
TITLES = (
    "Latency per prediction (ms)",
    "Predicted class mix",
    "Accuracy: realized vs estimated",
    "Drift per feature: PSI where significant (text: unseen tokens)",
)
ROW_HEIGHT = 300  # px of the top row; the heatmap's row grows with the features
GAP = 110  # px between the rows: the top row's legends and the bottom row's titles
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
LEFT, RIGHT = (0.0, 0.415), (0.585, 1.0)  # the columns' domains: room for the feature names
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
REALIZED, ESTIMATED = "#2da44e", "#fb8500"  # the accuracy panel's two figures, always these
LEGEND_DROP = 34  # px from a panel's bottom to its legend: below the date ticks, not over them
LABEL_CHARS = 32  # a model change's label on the chart; the whole of it on hover


def overview_figure(view: Dashboard, date_format: str) -> dict[str, Any]:
    """The four panels, dates written as the rest of the page writes them."""
    heat = max(ROW_HEIGHT, 60 + 24 * len(view.drift))
    height = ROW_HEIGHT + GAP + heat + MARGIN["t"] + MARGIN["b"]
    plot = height - MARGIN["t"] - MARGIN["b"]
    top = (1 - ROW_HEIGHT / plot, 1.0)
    bottom = (0.0, heat / plot)
    domains = {"": (LEFT, top), "2": (RIGHT, top), "3": (LEFT, bottom), "4": (RIGHT, bottom)}
    data = [
        *_lines(view, LATENCY, "", "legend", date_format),
        *_class_mix(view),
        *_lines(view, ACCURACY, "3", "legend3", date_format),
        *_heatmap(view, date_format, bottom),
    ]
    layout: dict[str, Any] = {"height": height, "margin": MARGIN, "shapes": [], "annotations": []}
    span = x_range(view)
    for axis, (x, y) in domains.items():
        layout[f"xaxis{axis}"] = {
            "domain": x,
            "anchor": f"y{axis}",
            "tickformat": date_format,
            "hoverformat": date_format,
            "nticks": 6,
            **({"range": [t.isoformat() for t in span], "autorange": False} if span else {}),
        }
        layout[f"yaxis{axis}"] = {"domain": y, "anchor": f"x{axis}"}
    layout["yaxis2"]["tickformat"] = ".0%"
    layout["yaxis4"]["autorange"] = "reversed"
    for index, (axis, (x, y)) in enumerate(domains.items()):
        layout["annotations"].append(_title(TITLES[index], x, y))
        if axis != "4":
            layout[f"legend{axis}"] = {
                "orientation": "h",
                "x": x[0],
                "y": y[0] - LEGEND_DROP / plot,
                "xanchor": "left",
                "yanchor": "top",
            }
    if view.drift.empty:
        layout["annotations"].append(_note("No drift recorded in these windows.", "4"))
    for change in view.changes:
        when = pd.Timestamp(change.window)
        if span and not span[0] <= when <= span[1]:
            continue  # another version's start outside the windows shown
        # the label runs into the wider side of the line, so it stays inside the panel
        side = "left" if not span or when <= span[0] + (span[1] - span[0]) / 2 else "right"
        for axis in domains:
            layout["shapes"].append(_change_line(when.isoformat(), axis))
            layout["annotations"].append(_change_label(when.isoformat(), change.label, axis, side))
    return {"data": data, "layout": layout}


def x_range(view: Dashboard) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The windows shown, padded by half a window on each side (a heatmap's cells fill it)."""
    windows = [*view.overall.index, *pd.to_datetime(view.drift.columns)]
    if not windows:
        return None
    pad = STEP.get(view.grain, STEP["day"]) / 2
    return pd.Timestamp(min(windows)) - pad, pd.Timestamp(max(windows)) + pad


def _dates(index: Any) -> list[str]:
    return [pd.Timestamp(t).isoformat() for t in index]


def _values(values: Any) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in values]


def _lines(
    view: Dashboard, metrics: dict[str, str], axis: str, legend: str, date_format: str
) -> list[dict[str, Any]]:
    """One line per metric, each point's n on hover; realized accuracy is a line only where a
    window has enough labels to state it (faint dots elsewhere, as the tile says "too few")."""
    traces = []
    for metric, label in metrics.items():
        if metric not in view.overall:
            continue
        series = view.overall[metric].dropna()
        counts = (
            view.counts[metric].reindex(series.index)
            if metric in view.counts
            else pd.Series(float("nan"), index=series.index)
        )
        trace = {
            "type": "scatter",
            "mode": "lines",
            "name": label,
            "x": _dates(series.index),
            "y": _values(series.values),
            "customdata": [_n_text(c) for c in counts],
            "hovertemplate": f"%{{x|{date_format}}}<br>{label}: %{{y:.3~f}}"
            + (" ms" if metric.startswith("latency") else "")
            + "<br>%{customdata}<extra></extra>",
            "xaxis": f"x{axis}",
            "yaxis": f"y{axis}",
            "legend": legend,
        }
        if metric != "accuracy":
            traces.append(trace | ({"line": {"color": ESTIMATED}} if metric in ACCURACY else {}))
            continue
        least = view.figure(metric).minimum
        enough = (counts >= least).to_numpy()
        y = trace["y"]
        trace["name"] = f"{label}, ≥ {least} labels"
        trace["y"] = [v if ok else None for v, ok in zip(y, enough, strict=True)]
        thin = {
            **trace,
            "mode": "markers",
            "name": f"{label}, fewer labels",
            "y": [None if ok else v for v, ok in zip(y, enough, strict=True)],
            "marker": {"size": 4, "opacity": 0.35, "color": REALIZED},
        }
        trace |= {"mode": "lines+markers", "line": {"color": REALIZED}, "marker": {"size": 3}}
        traces += [t for t in (trace, thin) if any(v is not None for v in t["y"])]
    return traces


def _n_text(count: Any) -> str:
    return "n unknown" if pd.isna(count) else f"n = {int(count):,}"


def _class_mix(view: Dashboard) -> list[dict[str, Any]]:
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "stackgroup": "mix",
            "name": column.split(".", 1)[1],
            "x": _dates(view.overall.index),
            "y": _values(view.overall[column]),
            "xaxis": "x2",
            "yaxis": "y2",
            "legend": "legend2",
        }
        for column in view.overall.columns
        if column.startswith("class_share.")
    ]


def _heatmap(
    view: Dashboard, date_format: str, bottom: tuple[float, float]
) -> list[dict[str, Any]]:
    matrix = view.drift
    if matrix.empty:
        return []
    return [
        {
            "type": "heatmap",
            "z": [_values(row) for row in matrix.to_numpy(dtype=float)],
            "x": _dates(pd.to_datetime(matrix.columns)),
            "y": [str(f) for f in matrix.index],
            "colorscale": "OrRd",
            "zmin": 0,
            "zmax": 1.0,  # PSI above 1 is a large shift already; a cap keeps moderate drift seen
            "colorbar": {
                "title": {"text": "PSI ≥ 1" if float(matrix.max().max()) > 1 else "PSI"},
                "y": sum(bottom) / 2,
                "len": bottom[1] - bottom[0],
                "thickness": 14,
            },
            "hovertemplate": "%{y}<br>%{x|" + date_format + "}<br>%{z:.3f}<extra></extra>",
            "xaxis": "x4",
            "yaxis": "y4",
        }
    ]


def _title(text: str, x: tuple[float, float], y: tuple[float, float]) -> dict[str, Any]:
    return {
        "text": text,
        "x": sum(x) / 2,
        "y": y[1],
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 14},
    }


def _note(text: str, axis: str) -> dict[str, Any]:
    return {
        "text": text,
        "x": 0.5,
        "y": 0.5,
        "xref": f"x{axis} domain",
        "yref": f"y{axis} domain",
        "showarrow": False,
    }


def _change_line(when: str, axis: str) -> dict[str, Any]:
    """A dotted line where another model version started serving."""
    return {
        "type": "line",
        "x0": when,
        "x1": when,
        "y0": 0,
        "y1": 1,
        "xref": f"x{axis}",
        "yref": f"y{axis} domain",
        "line": {"dash": "dot", "color": "#6e7781", "width": 1},
    }


def _change_label(when: str, text: str, axis: str, side: str) -> dict[str, Any]:
    """The change's label inside the panel beside its line, anchored on ``side`` (``left``: the
    text runs rightwards from the line); shortened, the whole of it on hover."""
    short = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"
    return {
        "text": short,
        "hovertext": text,
        "x": when,
        "y": 0.99,
        "xref": f"x{axis}",
        "yref": f"y{axis} domain",
        "xanchor": side,
        "xshift": 2 if side == "left" else -2,
        "yanchor": "top",
        "showarrow": False,
        "font": {"size": 10, "color": "#57606a"},
        "bgcolor": "rgba(255,255,255,0.7)",
    }
