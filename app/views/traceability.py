"""Traceability: system requirements ↔ the ML requirements derived from them ↔ the evidence that
shows, right now, whether each holds.

Only the open tab runs (a tab's script is its own cost: the downloads render four files, the impact
tab re-judges every requirement); the reads are kept until the workspace changes (``cached``)."""

import streamlit as st

from app.components.traceability import LABELS
from app.components.traceability_document import document_tab
from app.components.traceability_edit import derive_tab, downloads_tab, edit_tab
from app.components.traceability_tabs import (
    coverage_tiles,
    evidence_tab,
    history_tab,
    impact_tab,
    matrix_tab,
)
from app.deps import attempt, cached, client, project_picker
from core.api import CoreError

st.title("🧭 Traceability")
st.caption(
    "System requirements (rows) and the ML requirements derived from them, each checked against "
    "its evidence: the production model's evaluation, the latest build, monitoring, or a system "
    "verification run. Every figure shows its sample size n and 95% interval: 🟢 met (the "
    "interval clears the threshold) · 🔴 violated (it lies wholly on the wrong side) · 🟣 "
    "inconclusive (it straddles the threshold, n is below the requirement's minimum, or a "
    "monitoring alert on its rule is open) · 🟠 suspect (evidence about an older model or "
    "wording) · ⚪ no evidence."
)
api = client()
left, *filters = st.columns([2, 1, 1, 1])


def _violated(name: str) -> int:
    """How many system requirements are violated (projects in trouble come first)."""
    try:
        summary = cached("requirements", "status_summary", name)
        return int(summary["system"].get("violated", 0))
    except CoreError:  # no right to read this project's requirements: it sorts last
        return -1


violated = {p.name: _violated(p.name) for p in api.projects.list()}
worst = max(violated.values(), default=0)
project = project_picker(  # the project chosen last, else the one in most trouble
    api,
    "traceability.project",
    container=left,
    prefer=[n for n, count in violated.items() if worst > 0 and count == worst],
).name
full = attempt(cached, "requirements", "matrix", project)
if full is None:
    st.stop()
if not full.requirements:
    st.info(
        f"{project} has no requirements yet. Import a file with `loopline requirements import "
        f"sample_data/{project}/requirements.yaml` (YAML, CSV or ReqIF), or add rows in the editor below."
    )
owners = sorted({r.owner for r in full.requirements.values() if r.owner})
categories = sorted({r.category for r in full.requirements.values() if r.category})
owner = filters[0].selectbox("Owner", ["(all)", *owners], key="traceability.owner")
category = filters[1].selectbox("Category", ["(all)", *categories], key="traceability.category")
status = filters[2].selectbox(
    "Status",
    ["(all)", "violated", "inconclusive", "suspect", "no_evidence", "met"],
    key="traceability.status",
    format_func=lambda s: LABELS.get(s, s),
)
chosen = {
    "owner": None if owner == "(all)" else owner,
    "category": None if category == "(all)" else category,
    "status": None if status == "(all)" else status,
}
matrix = cached("requirements", "matrix", project, **chosen) if any(chosen.values()) else full
coverage_tiles(full)

TABS = {  # each tab's content, run only while it is open
    "Matrix": lambda: matrix_tab(matrix),
    "Evidence": lambda: evidence_tab(project, matrix),
    "Document": lambda: document_tab(api, project, full),
    "History": lambda: history_tab(project),
    "Impact of a candidate": lambda: impact_tab(project),
    "Edit": lambda: edit_tab(api, project, full),
    "Derive a threshold": lambda: derive_tab(api, project, full),
    "Downloads": lambda: downloads_tab(api, project, full),
}
for tab, render in zip(
    st.tabs(list(TABS), key="traceability.tab", on_change="rerun"), TABS.values(), strict=True
):
    if tab.open:
        with tab:
            render()
