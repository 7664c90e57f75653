"""Traceability: system requirements ↔ the ML requirements derived from them ↔ the evidence that
shows, right now, whether each holds."""

import pandas as pd
import streamlit as st

from app.components.lineage import lineage_figure
from app.components.traceability import (
    LABELS,
    evidence_rows,
    history_timeline,
    label,
    matrix_frame,
    matrix_heatmap,
    per_version_heatmap,
    slice_chart,
    styled_matrix,
)
from app.deps import attempt, choose_project, current_actor, workspace
from core.artifacts.lineage import lineage
from core.artifacts.service import list_artifacts
from core.builds.service import list_builds
from core.errors import CoreError
from core.registry.service import find_alias
from core.requirements.derive import KINDS, derivation_inputs, derive
from core.requirements.editor import editor_rows, save_rows
from core.requirements.impact import impact
from core.requirements.interchange import render
from core.requirements.matrix import evidence_detail, traceability_matrix
from core.requirements.report import model_card, model_card_markdown, trace_export
from core.requirements.service import edit_requirement
from core.requirements.status import status_history, status_summary
from core.requirements.versions import requirement_versions

st.title("🧭 Traceability")
st.caption(
    "System requirements (rows) and the ML requirements derived from them, each checked against "
    "its evidence: the production model's evaluation, the latest build, monitoring, or a system "
    "verification run. Colours: 🟢 met · 🔴 violated · 🟠 suspect (evidence about an older model "
    "or wording) · ⚪ no evidence."
)
ws = workspace()
left, *filters = st.columns([2, 1, 1, 1])


def _violated(name: str) -> int:
    """How many system requirements are violated (projects in trouble come first)."""
    try:
        return status_summary(ws, name)["system"].get("violated", 0)
    except CoreError:  # no right to read this project's requirements: it sorts last
        return -1


project = choose_project(
    ws, "traceability.project", order=lambda n: -_violated(n), container=left
).name
full = attempt(traceability_matrix, ws, project)
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
    ["(all)", "violated", "suspect", "no_evidence", "met"],
    key="traceability.status",
    format_func=lambda s: LABELS.get(s, s),
)
matrix = traceability_matrix(
    ws,
    project,
    owner=None if owner == "(all)" else owner,
    category=None if category == "(all)" else category,
    status=None if status == "(all)" else status,
)

counts = full.coverage.by_status
cells = st.columns(6)
for cell, key in zip(cells, ("met", "violated", "suspect", "no_evidence"), strict=False):
    cell.metric(f"System: {LABELS[key]}", counts.get(f"system.{key}", 0))
cells[4].metric(
    "No ML requirement",
    len(full.coverage.system_without_ml),
    help=", ".join(full.coverage.system_without_ml) or "every system requirement is covered",
)
cells[5].metric(
    "ML: no evidence",
    len(full.coverage.ml_without_evidence),
    help=", ".join(full.coverage.ml_without_evidence) or "every ML requirement has evidence",
)

matrix_tab, evidence_tab, history_tab, impact_tab, edit_tab, derive_tab, export_tab = st.tabs(
    [
        "Matrix",
        "Evidence",
        "History",
        "Impact of a candidate",
        "Edit",
        "Derive a threshold",
        "Downloads",
    ]
)

with matrix_tab:
    if not matrix.rows:
        st.info("No requirement matches these filters.")
    else:
        frame = matrix_frame(matrix)
        st.dataframe(
            styled_matrix(frame),
            hide_index=True,
            width="stretch",
            height=min(600, 35 * (len(frame) + 1) + 3),
            key="traceability.table",
        )
        st.plotly_chart(matrix_heatmap(matrix), key="traceability.heatmap")
        shown = (
            ""
            if len(matrix.rows) <= 80
            else " The chart shows the first 80 rows; filter to see others."
        )
        st.caption(
            "Hover a cell for the check, the value against the threshold and the evidence." + shown
        )

with evidence_tab:
    ids = [row.requirement.requirement_id for row in matrix.rows]
    ids += [
        m.requirement_id for row in matrix.rows for m, _ in row.ml if m.requirement_id not in ids
    ]
    if not ids:
        st.info("Nothing to drill into with these filters.")
    else:
        chosen = st.selectbox(
            "Requirement",
            ids,
            key="traceability.requirement",
            format_func=lambda i: f"{i} · {matrix.requirements[i].title}",
        )
        detail = attempt(evidence_detail, ws, project, chosen)
        if detail is not None:
            item, found = detail.requirement, detail.status
            box = {"met": st.success, "violated": st.error, "suspect": st.warning}.get(
                found.status if found else "", st.info
            )
            via = f" via {found.via}" if found and found.via else ""
            box(
                f"{item.requirement_id} is {label(found)}{via}: {found.value_text if found else '—'}"
            )
            st.markdown(f"**{item.title}** — {item.statement}")
            if item.is_ml:
                st.caption(
                    f"Check `{item.check_text}` · evidence {item.evidence_text} · derived from "
                    f"{', '.join(item.derived_from)} · version {item.version}"
                )
            if detail.upstream or detail.downstream:
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "link": "derived from" if r.level == "system" else "derived into",
                                "requirement": f"{r.requirement_id} · {r.title}",
                                "status": label(s),
                                "value vs threshold": s.value_text if s else "—",
                                "check": r.check_text,
                            }
                            for r, s in (*detail.upstream, *detail.downstream)
                        ]
                    ),
                    hide_index=True,
                    width="stretch",
                    key="traceability.links",
                )
            if detail.slices:
                metric = item.metric or (
                    matrix.requirements[found.via].metric if found and found.via else ""
                )
                st.plotly_chart(slice_chart(detail.slices, str(metric)), key="traceability.slices")
            rows = evidence_rows(detail)
            if found is not None and found.source:
                st.caption(
                    f"Evidence: {found.evidence_ref} · measured {found.measured_at:%Y-%m-%d %H:%M} UTC"
                    if found.measured_at
                    else f"Evidence: {found.evidence_ref}"
                )
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, key="traceability.evidence")
            if detail.lineage_root is not None:
                with st.expander("Lineage of the evidence", expanded=False):
                    up = lineage(ws, detail.lineage_root, "up")
                    down = lineage(ws, detail.lineage_root, "down", max_depth=1)
                    st.plotly_chart(lineage_figure(up, down), key="traceability.lineage")
            if item.derivation and item.derivation.get("steps"):
                with st.expander("How the threshold was derived"):
                    st.markdown("\n".join(f"1. {s}" for s in item.derivation["steps"]))
            versions = requirement_versions(ws, project, item.requirement_id)
            with st.expander(f"Versions ({len(versions)})"):
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "version": v.version,
                                "when": v.at,
                                "who": v.by,
                                "changed": "removed" if v.deleted else ", ".join(sorted(v.changes)),
                                "note": v.note,
                            }
                            for v in versions
                        ]
                    ),
                    hide_index=True,
                )

with history_tab:
    history = status_history(ws, project)
    if not history:
        st.info("No status changes yet.")
    else:
        st.plotly_chart(history_timeline(history), key="traceability.timeline")
        versions_figure = per_version_heatmap(history)
        if versions_figure is not None:
            st.caption("Status with each model version (the last one recorded while it served):")
            st.plotly_chart(versions_figure, key="traceability.per_version")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "when": h.at,
                        "requirement": h.requirement_id,
                        "from": label(h.previous_status) if h.previous_status else "",
                        "to": label(h.status),
                        "value": None if h.value is None else round(h.value, 4),
                        "threshold": None if h.threshold is None else round(h.threshold, 4),
                        "evidence": h.evidence_ref or "",
                        "cause": h.cause,
                    }
                    for h in history
                ]
            ),
            hide_index=True,
            width="stretch",
            key="traceability.history",
        )

with impact_tab:
    st.caption("What would change if this build's model or model version were promoted.")
    candidates = [
        f"model:{m.name}@{m.version}" for m in list_artifacts(ws, kind="model", project=project)
    ]
    candidates += [
        f"build #{b.build_id} ({b.status})" for b in list_builds(ws, project) if b.run_id
    ]
    if not candidates:
        st.info("No model versions or builds yet.")
    else:
        pick = st.selectbox("Candidate", candidates, key="traceability.candidate")
        result = attempt(
            impact,
            ws,
            project,
            model=pick if pick.startswith("model:") else None,
            build=int(pick.split("#")[1].split()[0]) if pick.startswith("build") else None,
        )
        if result is not None:
            worse = any(c.after == "violated" for c in result.changes)
            (st.error if worse else st.success)(result.summary)
            for change in result.changes:
                st.markdown(f"- {change.message}")

with edit_tab:
    st.caption(
        "Managers change requirements here; saving makes a new version of the set (who, when and "
        "why are kept) and recomputes the statuses. Lists are written `SYS-1; SYS-3`."
    )
    rows = editor_rows(full.requirements.values())
    edited = st.data_editor(
        pd.DataFrame(rows, columns=list(rows[0]) if rows else None),
        num_rows="dynamic",
        hide_index=True,
        key="traceability.editor",
        width="stretch",
    )
    note = st.text_input("Why (kept with the version)", key="traceability.note")
    if st.button("Save a new version", type="primary", key="traceability.save"):
        changes = st.session_state["traceability.editor"]
        touched = {int(i) for i in changes.get("edited_rows", {})} | set(
            range(len(rows), len(rows) + len(changes.get("added_rows", [])))
        )
        removed = [rows[int(i)]["id"] for i in changes.get("deleted_rows", [])]
        records = edited.to_dict("records")
        done = attempt(
            save_rows,
            ws,
            project,
            [records[i] for i in sorted(touched) if i < len(records)],
            current_actor(),
            deleted=removed,
            note=note,
        )
        if done is not None:
            st.success(done.summary)

with derive_tab:
    st.caption(
        "From a system requirement in operational terms to the threshold an ML requirement needs."
    )
    kind = st.selectbox(
        "Kind",
        list(KINDS),
        key="traceability.derive.kind",
        format_func=lambda k: f"{k}: {KINDS[k]}",
    )
    defaults = {
        "volume": 2000.0,
        "base_rate": 0.25,
        "tolerated": 10.0,
        "expected_recall": 1.0,
        "failure_share": 1.0,
        "budget_ms": 200.0,
        "other_ms": 150.0,
    }
    inputs: dict[str, object] = {}
    columns = st.columns(3)
    for index, name in enumerate(derivation_inputs(kind)):
        inputs[name] = columns[index % 3].number_input(
            name.replace("_", " "),
            value=defaults[name],
            key=f"traceability.derive.{name}",
            format="%g",
        )
    if kind != "latency":
        inputs["period"] = columns[2].text_input(
            "period", value="week", key="traceability.derive.period"
        )
    metric = st.text_input(
        "Metric", key="traceability.derive.metric", placeholder="precision.out_of_office"
    )
    derivation = attempt(derive, kind, inputs, metric or None)
    if derivation is not None:
        st.markdown("\n".join(f"1. {step}" for step in derivation.steps))
        left, middle, right = st.columns(3)
        new_id = left.text_input(
            "New ML requirement id", key="traceability.derive.id", placeholder="ML-9"
        )
        systems = [r.requirement_id for r in full.requirements.values() if r.level == "system"]
        parents = middle.multiselect("Derived from", systems, key="traceability.derive.from")
        source = right.selectbox(
            "Evidence",
            ["production", "build", "monitoring", "verification"],
            key="traceability.derive.evidence",
        )
        if st.button("Create the ML requirement", key="traceability.derive.create"):
            made = attempt(
                edit_requirement,
                ws,
                project,
                new_id,
                {
                    "level": "ml",
                    "title": f"{metric or derivation.metric} derived from {', '.join(parents)}",
                    "derived_from": parents,
                    "metric": metric or derivation.metric,
                    "comparator": derivation.comparator,
                    "evidence": source,
                    "derivation": {"kind": kind, **inputs},
                },
                current_actor(),
                note="derived on the traceability page",
            )
            if made is not None:
                st.success(made.summary)

with export_tab:
    st.caption("For review meetings and the requirement tools managers already use.")
    columns = st.columns(5)
    columns[0].download_button(
        "Matrix (CSV)",
        trace_export(ws, project, "csv"),
        f"{project}-traceability.csv",
        "text/csv",
        key="traceability.download.csv",
    )
    columns[1].download_button(
        "Report (HTML)",
        trace_export(ws, project, "html"),
        f"{project}-traceability.html",
        "text/html",
        key="traceability.download.html",
    )
    columns[2].download_button(
        "Requirements (ReqIF)",
        render(project, list(full.requirements.values()), "reqif"),
        f"{project}-requirements.reqif",
        "application/xml",
        key="traceability.download.reqif",
    )
    columns[3].download_button(
        "Requirements (YAML)",
        render(project, list(full.requirements.values()), "yaml"),
        f"{project}-requirements.yaml",
        "application/yaml",
        key="traceability.download.yaml",
    )
    card = attempt(model_card, ws, project) if find_alias(ws, project) else None
    if card is not None:
        columns[4].download_button(
            "Model card (production)",
            model_card_markdown(card),
            f"{project}-model-card.md",
            "text/markdown",
            key="traceability.download.card",
        )
