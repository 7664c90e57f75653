"""The traceability page's tabs that change or hand out requirements: the editor (a new version
of the set), deriving a threshold into a new ML requirement, and the downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.deps import attempt, forget
from core.api import Client
from core.api.types import DERIVATION_KINDS as KINDS
from core.api.types import Matrix

# the inputs of a derivation that may have been measured, by the sample size they were measured on
MEASURED = {"precision": ("base_rate_n", "expected_recall_n"), "recall": ("base_rate_n",)}

DERIVE_DEFAULTS = {
    "volume": 2000.0,
    "base_rate": 0.25,
    "tolerated": 10.0,
    "expected_recall": 1.0,
    "failure_share": 1.0,
    "budget_ms": 200.0,
    "other_ms": 150.0,
}
EVIDENCE_SOURCES = ["production", "build", "monitoring", "verification"]


def edit_tab(api: Client, project: str, full: Matrix) -> None:
    """Every requirement in an editable table; saving writes only the rows touched."""
    st.caption(
        "Managers change requirements here; saving makes a new version of the set (who, when and "
        "why are kept) and recomputes the statuses. Lists are written `SYS-1; SYS-3`."
    )
    rows = api.requirements.editor_rows(full.requirements.values())
    edited = st.data_editor(
        pd.DataFrame(rows, columns=list(rows[0]) if rows else None),
        num_rows="dynamic",
        hide_index=True,
        key="traceability.editor",
        width="stretch",
    )
    note = st.text_input("Why (kept with the version)", key="traceability.note")
    if not st.button("Save a new version", type="primary", key="traceability.save"):
        return
    changes = st.session_state["traceability.editor"]
    touched = {int(i) for i in changes.get("edited_rows", {})} | set(
        range(len(rows), len(rows) + len(changes.get("added_rows", [])))
    )
    removed = [rows[int(i)]["id"] for i in changes.get("deleted_rows", [])]
    records = edited.to_dict("records")
    done = attempt(
        api.requirements.save_rows,
        project,
        [records[i] for i in sorted(touched) if i < len(records)],
        deleted=removed,
        note=note,
    )
    if done is not None:
        forget()  # the kept matrix and statuses are stale now
        st.success(done.summary)


def derive_tab(api: Client, project: str, full: Matrix) -> None:
    """From operational terms (volume, base rate, what may go wrong per period) to a threshold,
    and from there to a new ML requirement."""
    st.caption(
        "From a system requirement in operational terms to the threshold an ML requirement needs."
    )
    kind = st.selectbox(
        "Kind",
        list(KINDS),
        key="traceability.derive.kind",
        format_func=lambda k: f"{k}: {KINDS[k]}",
    )
    inputs: dict[str, object] = {}
    columns = st.columns(3)
    for index, name in enumerate(api.requirements.derivation_inputs(kind)):
        inputs[name] = columns[index % 3].number_input(
            name.replace("_", " "),
            value=DERIVE_DEFAULTS[name],
            key=f"traceability.derive.{name}",
            format="%g",
        )
    if kind != "latency":
        inputs["period"] = columns[2].text_input(
            "period", value="week", key="traceability.derive.period"
        )
        for name in MEASURED.get(kind, ()):
            items = st.number_input(
                f"{name.removesuffix('_n').replace('_', ' ')} measured on (items; 0: known)",
                min_value=0,
                value=0,
                step=1,
                key=f"traceability.derive.{name}",
                help="A measured input carries its uncertainty into the threshold (its 95% "
                "interval); nothing is derived from fewer than 30 items.",
            )
            if items:
                inputs[name] = items
    metric = st.text_input(
        "Metric", key="traceability.derive.metric", placeholder="precision.out_of_office"
    )
    derivation = attempt(api.requirements.derive, kind, inputs, metric or None)
    if derivation is None:
        return
    st.markdown("\n".join(f"1. {step}" for step in derivation.steps))
    left, middle, right = st.columns(3)
    new_id = left.text_input(
        "New ML requirement id", key="traceability.derive.id", placeholder="ML-9"
    )
    systems = [r.requirement_id for r in full.requirements.values() if r.level == "system"]
    parents = middle.multiselect("Derived from", systems, key="traceability.derive.from")
    source = right.selectbox("Evidence", EVIDENCE_SOURCES, key="traceability.derive.evidence")
    if not st.button("Create the ML requirement", key="traceability.derive.create"):
        return
    made = attempt(
        api.requirements.create_derived,
        project,
        new_id,
        derivation,
        derived_from=parents,
        evidence=source,
        note="derived on the traceability page",
    )
    if made is not None:
        forget()
        st.success(made.summary)


def downloads_tab(api: Client, project: str, full: Matrix) -> None:
    """The matrix and the requirements in the formats review meetings and requirement tools use."""
    st.caption("For review meetings and the requirement tools managers already use.")
    requirements = list(full.requirements.values())
    columns = st.columns(5)
    downloads = (  # label, content, file name, media type, widget key suffix
        (
            "Matrix (CSV)",
            api.requirements.trace_export(project, "csv"),
            "traceability.csv",
            "text/csv",
            "csv",
        ),
        (
            "Report (HTML)",
            api.requirements.trace_export(project, "html"),
            "traceability.html",
            "text/html",
            "html",
        ),
        (
            "Requirements (ReqIF)",
            api.requirements.render(project, requirements, "reqif"),
            "requirements.reqif",
            "application/xml",
            "reqif",
        ),
        (
            "Requirements (YAML)",
            api.requirements.render(project, requirements, "yaml"),
            "requirements.yaml",
            "application/yaml",
            "yaml",
        ),
    )
    for column, (label, content, name, media, key) in zip(columns, downloads, strict=False):
        column.download_button(
            label, content, f"{project}-{name}", media, key=f"traceability.download.{key}"
        )
    card = attempt(api.requirements.model_card, project) if api.models.find_alias(project) else None
    if card is not None:
        columns[4].download_button(
            "Model card (production)",
            api.requirements.model_card_markdown(card),
            f"{project}-model-card.md",
            "text/markdown",
            key="traceability.download.card",
        )
