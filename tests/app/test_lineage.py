"""The lineage graph: every node has a short label, nodes never share a place, layers left to right."""

from __future__ import annotations

from pathlib import Path

from app.components.lineage import layout, lineage_figure, short_label
from core.artifacts.lineage import lineage
from core.artifacts.service import list_artifacts
from core.store import Workspace


def test_every_node_is_labeled_and_placed_apart(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    model = next(a for a in list_artifacts(ws, kind="model", project="ooo-replies"))
    up, down = lineage(ws, model.artifact_id, "up"), lineage(ws, model.artifact_id, "down")
    xy = layout(up, down)
    nodes = {**up.nodes, **down.nodes}
    assert set(xy) == set(nodes)
    assert len(set(xy.values())) == len(xy)  # no two nodes on one spot
    for a, (xa, ya) in xy.items():
        for b, (xb, yb) in xy.items():
            if a < b and xa == xb:
                assert abs(ya - yb) >= 1  # a row apart within a layer: labels do not overlap
    for edge in up.edges:  # upstream: what was used sits left of what was made from it
        if edge.src_id in xy and edge.dst_id in xy:
            assert xy[edge.dst_id][0] < xy[edge.src_id][0]
    figure = lineage_figure(up, down)
    texts = [a.text for a in figure.layout.annotations if a.text]  # node labels on a white ground
    assert len(texts) == len(xy)
    assert all(len(t.replace("<b>", "").replace("</b>", "")) <= 18 for t in texts)
    builds = [a for a in nodes.values() if a.kind == "build"]
    assert builds and all(short_label(b).startswith("build #") for b in builds)
    assert short_label(model) == f"model v{model.version}"
    hovers = " ".join(h for trace in figure.data for h in (trace.hovertext or ()))
    assert model.ref in hovers  # the full name is in the hover
