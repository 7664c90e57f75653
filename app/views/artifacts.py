"""Artifacts: browse the registry, open one, see what it was made from and what was made from it."""

import pandas as pd
import streamlit as st

from app.components.lineage import lineage_figure
from app.deps import attempt, cached, client, kept
from core.api.types import KINDS

st.title("🗂️ Artifacts")
st.caption(
    "Every dataset, label set, model, build and report, registered immutably with what it was made from."
)
api = client()
projects = [p.name for p in api.projects.list()]
left, middle, right = st.columns([1, 1, 2])
kind = left.selectbox("Kind", ["(all)", *KINDS], key="artifacts.kind")
project = middle.selectbox("Project", ["(all)", *projects], key="artifacts.project")
search = right.text_input("Name contains", key="artifacts.search", placeholder="e.g. quality")
items = api.artifacts.list(
    kind=None if kind == "(all)" else kind,
    project=None if project == "(all)" else project,
    limit=5000,
)
if search:
    items = [a for a in items if search.lower() in a.name.lower()]

st.dataframe(
    pd.DataFrame(
        [
            {
                "id": a.artifact_id,
                "reference": a.ref,
                "project": a.project or "",
                "created": a.created_at,
                "by": a.created_by,
                "hash": a.content_hash[:12],
            }
            for a in items
        ]
    ),
    hide_index=True,
    width="stretch",
    height=260,
)
if not items:
    st.info("No artifacts match these filters.")
    st.stop()

choice = st.selectbox(
    "Open artifact",
    [a.label for a in items],
    key="artifacts.open",
    help="Pick one to see its metadata, content and lineage.",
)
artifact = attempt(lambda: api.artifacts.get(choice.split()[0]))
if artifact is None:
    st.stop()
st.subheader(artifact.ref)
st.caption(
    f"#{artifact.artifact_id} · registered {artifact.created_at:%Y-%m-%d %H:%M} UTC by "
    f"{artifact.created_by} · immutable · content hash `{artifact.content_hash[:16]}…` · "
    f"{KINDS.get(artifact.kind, '')}"
)


def metadata_tab() -> None:
    st.json(dict(artifact.metadata), expanded=2)
    if artifact.files:
        st.dataframe(
            pd.DataFrame(
                [
                    {"file": f.role, "bytes": f.size_bytes, "blob": f.blob_hash}
                    for f in artifact.files
                ]
            ),
            hide_index=True,
        )


def content_tab() -> None:
    for item in kept("artifacts", "preview", artifact.artifact_id):  # registered: never changes
        st.markdown(f"**{item.role}** · {item.size_bytes:,} bytes")
        if item.shape == "table":
            st.caption(f"first {len(item.table or [])} of {item.total_rows:,} rows")
            st.dataframe(pd.DataFrame(item.table, columns=list(item.columns)), hide_index=True)
        elif item.shape == "json":
            st.json(item.data, expanded=1)
        elif item.shape == "text":
            st.code(item.text or "", language="yaml" if item.role == "spec" else None)
        else:
            st.caption("binary file")
    if not artifact.files:
        st.caption("This artifact is metadata only.")


def lineage_tab() -> None:
    up = kept("artifacts", "lineage", artifact.artifact_id, "up")  # what it was made from: fixed
    down = cached("artifacts", "lineage", artifact.artifact_id, "down")
    st.caption(
        f"{len(up.nodes) - 1} upstream · {len(down.nodes) - 1} downstream · "
        "arrows point from what was used to what was made"
    )
    st.plotly_chart(lineage_figure(up, down), key="artifacts.lineage")


# only the open tab is drawn (its chart, and Plotly's script with it, wait until it is opened)
TABS = {"Metadata": metadata_tab, "Content": content_tab, "Lineage": lineage_tab}
for tab, render in zip(
    st.tabs(list(TABS), key="artifacts.tab", on_change="rerun"), TABS.values(), strict=True
):
    if tab.open:
        with tab:
            render()
