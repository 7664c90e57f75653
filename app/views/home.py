"""Home: each project as the loop DM → Mod → Dev → Ops, and what the workspace holds."""

import plotly.express as px
import streamlit as st

from app.components.lineage import KIND_COLORS
from app.components.login import refused_page_note
from app.components.loop import loop_cards, requirement_health
from app.deps import cached, client

st.title("🔁 Loopline")
refused_page_note()
st.caption(
    "Data management → ML modeling → build & release → operations → back to data, "
    "for every ML component in this workspace."
)
api = client()
overviews = cached("projects", "overview")  # kept a minute, dropped when the app changes something
counts = cached("artifacts", "count_by_kind")

if not overviews:
    st.info(
        "This workspace has no projects yet. Create one with `loopline project create FILE`, "
        "or build the demo with `loopline demo`."
    )
for overview in overviews:
    project = overview.project
    st.subheader(project.title)
    st.caption(
        f"`{project.name}` · {project.kind.replace('_', ' ')} · definition v{project.spec_version}"
    )
    if project.spec.description:
        st.write(project.spec.description)
    loop_cards(overview)
    requirement_health(overview)

st.divider()
st.subheader("What the workspace holds")
left, right = st.columns([2, 1])
if counts:
    chart = px.bar(
        x=list(counts.values()),
        y=list(counts.keys()),
        orientation="h",
        color=list(counts.keys()),
        color_discrete_map=KIND_COLORS,
        labels={"x": "artifacts", "y": ""},
        height=60 + 34 * len(counts),
    )
    chart.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False)
    chart.update_xaxes(tickformat="d", dtick=max(1, max(counts.values()) // 5))
    left.plotly_chart(chart, key="home.counts")
right.metric("Artifacts", f"{sum(counts.values()):,}")
right.metric("Projects", len(overviews))
right.caption("Workspace folder")
right.code(str(api.location), language=None, wrap_lines=True)  # a long path wraps, not cut
