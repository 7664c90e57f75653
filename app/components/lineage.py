"""The lineage graph: upstream to the left of the artifact, downstream to the right."""

from __future__ import annotations

import plotly.graph_objects as go

from core.api.types import Artifact, Lineage

KIND_COLORS = {
    "project": "#7b61ff",
    "data_source": "#8d99ae",
    "code": "#6c757d",
    "dataset": "#2f6fdf",
    "report": "#a0c4ff",
    "label_set": "#00a6a6",
    "params": "#adb5bd",
    "model": "#f08c00",
    "evaluation": "#ffd166",
    "build": "#e76f51",
    "requirements": "#c9184a",
    "monitoring": "#2a9d8f",
}


def _longest_path_layers(graph: Lineage) -> dict[int, int]:
    """Layer = longest distance from the root, so every edge points the same way (left to right)."""
    layer = {artifact_id: 0 for artifact_id in graph.depth}
    pairs = [
        (e.src_id, e.dst_id) if graph.direction == "up" else (e.dst_id, e.src_id)
        for e in graph.edges
    ]
    for _ in range(len(layer)):
        changed = False
        for near, far in pairs:
            if near in layer and far in layer and layer[far] < layer[near] + 1:
                layer[far] = layer[near] + 1
                changed = True
        if not changed:
            break
    return layer


SHORT_KIND = {
    "label_set": "labels",
    "data_source": "source",
    "evaluation": "evaluation",
    "monitoring": "alert",
    "requirements": "requirements",
}


def short_label(artifact: Artifact) -> str:
    """A few words that fit under a node: "build #4", "model v2", "labels v3"."""
    if artifact.kind == "build" and artifact.metadata.get("build_id") is not None:
        number = artifact.metadata.get("number", artifact.metadata["build_id"])  # older builds
        return f"build #{number}"
    kind = SHORT_KIND.get(artifact.kind, artifact.kind.replace("_", " "))
    return f"{kind} v{artifact.version}"


def _hover(artifact: Artifact) -> str:
    status = artifact.metadata.get("status") if artifact.kind == "build" else None
    return (
        f"<b>{artifact.ref}</b> (#{artifact.artifact_id})"
        + (f"<br>{status}" if status else "")
        + f"<br>by {artifact.created_by} at {artifact.created_at:%Y-%m-%d %H:%M}"
    )


def layout(up: Lineage, down: Lineage, max_per_side: int = 60) -> dict[int, tuple[float, float]]:
    """Node positions: x = layer (upstream negative, the root at 0, downstream positive, every
    edge pointing left to right), y spread evenly within a layer, odd layers half a row lower so
    long edges pass between nodes rather than through them."""
    position: dict[int, int] = {up.root_id: 0}
    nodes = {**up.nodes, **down.nodes}
    for graph, sign in ((up, -1), (down, 1)):
        ranked = sorted(graph.depth.items(), key=lambda item: (item[1], item[0]))
        layers = _longest_path_layers(graph)
        for artifact_id, _ in ranked[: max_per_side + 1]:
            if artifact_id != graph.root_id:
                position.setdefault(artifact_id, sign * layers[artifact_id])
    columns: dict[int, list[int]] = {}
    for artifact_id, column in sorted(
        position.items(), key=lambda item: (item[1], nodes[item[0]].kind, item[0])
    ):
        columns.setdefault(column, []).append(artifact_id)
    xy: dict[int, tuple[float, float]] = {}
    for column, members in columns.items():
        stagger = 0.5 * (column % 2)
        for index, artifact_id in enumerate(members):
            xy[artifact_id] = (float(column), (len(members) - 1) / 2 - index + stagger)
    return xy


def lineage_figure(up: Lineage, down: Lineage, max_per_side: int = 60) -> go.Figure:
    """One figure: columns by distance from the root (negative = upstream), root in the middle.
    Every node carries a short label; the full reference, who and when are in its hover, and an
    edge's relation in the hover of its midpoint."""
    nodes = {**up.nodes, **down.nodes}
    xy = layout(up, down, max_per_side)
    figure = go.Figure()
    middles: list[tuple[float, float, str]] = []
    for edge in (*up.edges, *down.edges):
        if edge.src_id in xy and edge.dst_id in xy:
            (x0, y0), (x1, y1) = xy[edge.dst_id], xy[edge.src_id]
            figure.add_annotation(
                x=x1,
                y=y1,
                ax=x0,
                ay=y0,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=2,
                arrowsize=1,
                arrowwidth=1.2,
                arrowcolor="#b8c0cc",
                standoff=13,
                startstandoff=13,
                text="",
            )
            middles.append(
                (
                    (x0 + x1) / 2,
                    (y0 + y1) / 2,
                    f"{short_label(nodes[edge.dst_id])} → <i>{edge.relation}</i> → "
                    f"{short_label(nodes[edge.src_id])}",
                )
            )
    if middles:
        figure.add_trace(
            go.Scatter(
                x=[m[0] for m in middles],
                y=[m[1] for m in middles],
                mode="markers",
                marker={"size": 6, "color": "#c9d0da", "opacity": 0.7},
                hovertext=[m[2] for m in middles],
                hoverinfo="text",
                showlegend=False,
                name="relations",
            )
        )
    root = up.root_id
    for kind in sorted({nodes[i].kind for i in xy}):
        members = [i for i in xy if nodes[i].kind == kind]
        figure.add_trace(
            go.Scatter(
                x=[xy[i][0] for i in members],
                y=[xy[i][1] for i in members],
                mode="markers",
                name=kind.replace("_", " "),
                text=[short_label(nodes[i]) for i in members],
                hovertext=[_hover(nodes[i]) for i in members],
                hoverinfo="text",
                marker={
                    "size": [26 if i == root else 17 for i in members],
                    "color": KIND_COLORS.get(kind, "#999"),
                    "line": {
                        "width": [4 if i == root else 2 for i in members],
                        "color": ["#1d2433" if i == root else "white" for i in members],
                    },
                },
            )
        )
    for artifact_id, (x, y) in xy.items():  # labels above the edges, on a white ground
        label = short_label(nodes[artifact_id])
        figure.add_annotation(
            x=x,
            y=y,
            yshift=-22 if artifact_id == root else -18,
            text=f"<b>{label}</b>" if artifact_id == root else label,
            showarrow=False,
            font={"size": 12, "color": "#1d2433"},
            bgcolor="rgba(255,255,255,0.9)",
            borderpad=1,
        )
    xs = [p[0] for p in xy.values()]
    ys = [p[1] for p in xy.values()]
    rows = max(ys) - min(ys) + 1
    figure.update_layout(
        height=int(max(280, 95 * rows + 90)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False, "range": [min(xs) - 0.6, max(xs) + 0.6], "fixedrange": True},
        yaxis={"visible": False, "range": [min(ys) - 0.6, max(ys) + 0.4], "fixedrange": True},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.02},
        hoverlabel={"align": "left"},
    )
    return figure
