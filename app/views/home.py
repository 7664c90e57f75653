"""Home: each project as the loop DM → Mod → Dev → Ops, and what the workspace holds.

Home is the page every visit starts on, so it is drawn with nothing but Streamlit's own elements
and plain HTML: a Plotly chart here made the first load of the app wait for Plotly's script
(4.7 MB) to be run and laid out in the new tab, ~1.5 s of the browser's time after the script
had finished (issue 15); the artifacts by kind are bars in HTML, and the workspace folder is
inline code (``st.code`` loads the syntax highlighter, 1.5 MB, for one line)."""

from html import escape

import streamlit as st

from app.components.lineage import KIND_COLORS
from app.components.login import refused_page_note
from app.components.loop import loop_cards, requirement_health
from app.deps import cached, client


def counts_bars(counts: dict[str, int]) -> str:
    """Artifacts by kind as horizontal bars in HTML, one colour per kind, the largest first."""
    most = max(counts.values(), default=0) or 1
    rows = "".join(
        f'<span style="text-align:right">{escape(kind.replace("_", " "))}</span>'
        f'<span style="display:block;height:1.1rem;border-radius:2px;'
        f"width:{max(0.5, 100 * count / most):.1f}%;"
        f'background:{KIND_COLORS.get(kind, "#999")}"></span>'
        f'<span style="font-variant-numeric:tabular-nums">{count:,}</span>'
        for kind, count in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))
    )
    return (
        '<div style="display:grid;grid-template-columns:max-content 1fr max-content;'
        f'gap:0.35rem 0.6rem;align-items:center;font-size:0.875rem">{rows}</div>'
    )


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
    left.html(counts_bars(counts))
right.metric("Artifacts", f"{sum(counts.values()):,}")
right.metric("Projects", len(overviews))
right.caption("Workspace folder")
right.markdown(f"`{api.location}`")  # inline code wraps a long path
