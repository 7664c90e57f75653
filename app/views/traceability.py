"""Traceability: system requirements ↔ the ML requirements derived from them ↔ the evidence that
shows, right now, whether each holds."""

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
from app.deps import attempt, client, project_picker
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
        return api.requirements.status_summary(name)["system"].get("violated", 0)
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
full = attempt(api.requirements.matrix, project)
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
matrix = api.requirements.matrix(
    project,
    owner=None if owner == "(all)" else owner,
    category=None if category == "(all)" else category,
    status=None if status == "(all)" else status,
)
coverage_tiles(full)

matrix_view, evidence, document, history, candidate, edit, derive, downloads = st.tabs(
    [
        "Matrix",
        "Evidence",
        "Document",
        "History",
        "Impact of a candidate",
        "Edit",
        "Derive a threshold",
        "Downloads",
    ]
)
with matrix_view:
    matrix_tab(matrix)
with evidence:
    evidence_tab(api, project, matrix)
with document:
    document_tab(api, project, full)
with history:
    history_tab(api, project)
with candidate:
    impact_tab(api, project)
with edit:
    edit_tab(api, project, full)
with derive:
    derive_tab(api, project, full)
with downloads:
    downloads_tab(api, project, full)
