"""The lineage graph: upstream to the left of the artifact, downstream to the right."""

from __future__ import annotations

import plotly.graph_objects as go

from core.artifacts.models import Artifact, Lineage

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


def lineage_figure(up: Lineage, down: Lineage, max_per_side: int = 60) -> go.Figure:
    """One figure: columns by distance from the root (negative = upstream), root in the middle."""
    position: dict[int, int] = {up.root_id: 0}
    nodes: dict[int, Artifact] = {}
    for graph, sign in ((up, -1), (down, 1)):
        ranked = sorted(graph.depth.items(), key=lambda item: (item[1], item[0]))[
            : max_per_side + 1
        ]
        layers = _longest_path_layers(graph)
        for artifact_id, _ in ranked:
            nodes[artifact_id] = graph.nodes[artifact_id]
            if artifact_id != graph.root_id:
                position.setdefault(artifact_id, sign * layers[artifact_id])
    columns: dict[int, list[int]] = {}
    for artifact_id, column in sorted(
        position.items(), key=lambda item: (item[1], nodes[item[0]].kind, item[0])
    ):
        columns.setdefault(column, []).append(artifact_id)
    xy: dict[int, tuple[float, float]] = {}
    for column, members in columns.items():
        for index, artifact_id in enumerate(members):
            stagger = 0.4 * (column % 2)  # long edges then pass between, not through, nodes
            xy[artifact_id] = (float(column), (len(members) - 1) / 2 - index + stagger)
    figure = go.Figure()
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
                arrowcolor="#9aa5b8",
                standoff=14,
                startstandoff=14,
                text="",
            )
            figure.add_annotation(
                x=(x0 + x1) / 2,
                y=(y0 + y1) / 2,
                text=edge.relation,
                showarrow=False,
                font={"size": 10, "color": "#6b7689"},
                bgcolor="rgba(255,255,255,0.8)",
            )
    for kind in sorted({nodes[i].kind for i in xy}):
        members = [i for i in xy if nodes[i].kind == kind]
        figure.add_trace(
            go.Scatter(
                x=[xy[i][0] for i in members],
                y=[xy[i][1] for i in members],
                mode="markers+text",
                name=kind,
                text=[f"<b>{kind}</b><br>{nodes[i].name} v{nodes[i].version}" for i in members],
                textposition="top center",
                hovertext=[
                    f"#{i} {nodes[i].ref}<br>by {nodes[i].created_by} at {nodes[i].created_at:%Y-%m-%d %H:%M}"
                    for i in members
                ],
                hoverinfo="text",
                marker={
                    "size": [28 if i == up.root_id else 18 for i in members],
                    "color": KIND_COLORS.get(kind, "#999"),
                    "line": {
                        "width": [4 if i == up.root_id else 2 for i in members],
                        "color": ["#1d2433" if i == up.root_id else "white" for i in members],
                    },
                },
            )
        )
    tallest = max(len(m) for m in columns.values())
    figure.update_layout(
        height=max(300, 120 * tallest),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False, "range": [min(columns) - 0.6, max(columns) + 0.6]},
        yaxis={"visible": False, "range": [-(tallest - 1) / 2 - 0.5, (tallest - 1) / 2 + 0.8]},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.02},
    )
    return figure
