"""The traceability page's reading tabs: coverage tiles, the matrix, the evidence behind one
requirement, the status history and the impact of promoting a candidate."""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.components.lineage import lineage_figure
from app.components.traceability import (
    evidence_rows,
    history_timeline,
    label,
    matrix_frame,
    matrix_heatmap,
    per_version_heatmap,
    sample_text,
    slice_chart,
    styled_matrix,
)
from app.components.traceability_document import attributes_table
from app.deps import attempt, cached
from core.api.types import EvidenceDetail, Matrix, Requirement, Status

MAX_CHART_ROWS = 80  # matrix_heatmap's default
MATRIX_WIDTHS = {
    "requirement": st.column_config.TextColumn(width=300),
    "status": st.column_config.TextColumn(width=120),
    "value vs threshold": st.column_config.TextColumn(width=250),
    "n and 95% interval": st.column_config.TextColumn(width=230),
}


def coverage_tiles(full: Matrix) -> None:
    """System requirements per status, and the gaps: no ML requirement, no evidence."""
    counts = full.coverage.by_status
    st.caption("System requirements by status, and the gaps")  # short tile labels: none cut off
    cells = st.columns(7)
    for cell, key in zip(
        cells, ("met", "violated", "inconclusive", "suspect", "no_evidence"), strict=False
    ):
        cell.metric(label(key), counts.get(f"system.{key}", 0))
    cells[5].metric(
        "Not derived",
        len(full.coverage.system_without_ml),
        help="system requirements no ML requirement is derived from: "
        + (", ".join(full.coverage.system_without_ml) or "none, every one is covered"),
    )
    cells[6].metric(
        "ML: no evidence",
        len(full.coverage.ml_without_evidence),
        help=", ".join(full.coverage.ml_without_evidence) or "every ML requirement has evidence",
    )


def matrix_tab(matrix: Matrix) -> None:
    if not matrix.rows:
        st.info("No requirement matches these filters.")
        return
    frame = matrix_frame(matrix)
    st.dataframe(
        styled_matrix(frame),
        hide_index=True,
        width="stretch",
        column_config=MATRIX_WIDTHS,  # the status, value and interval in view without scrolling
        height=min(600, 35 * (len(frame) + 1) + 3),
        key="traceability.table",
    )
    st.plotly_chart(matrix_heatmap(matrix), key="traceability.heatmap")
    shown = (
        ""
        if len(matrix.rows) <= MAX_CHART_ROWS
        else f" The chart shows the first {MAX_CHART_ROWS} rows; filter to see others."
    )
    st.caption(
        "Hover a cell for the check, the value against the threshold and the evidence." + shown
    )


def evidence_tab(project: str, matrix: Matrix) -> None:
    """Pick a requirement (system or ML) and see its status, links, slices, artifacts, lineage,
    derivation and versions."""
    ids = [row.requirement.requirement_id for row in matrix.rows]
    ids += [
        m.requirement_id for row in matrix.rows for m, _ in row.ml if m.requirement_id not in ids
    ]
    if not ids:
        st.info("Nothing to drill into with these filters.")
        return
    chosen = st.selectbox(
        "Requirement",
        ids,
        key="traceability.requirement",
        format_func=lambda i: f"{i} · {matrix.requirements[i].title}",
    )
    detail = attempt(cached, "requirements", "evidence", project, chosen)
    if detail is None:
        return
    item, found = detail.requirement, detail.status
    box = {"met": st.success, "violated": st.error, "suspect": st.warning}.get(
        found.status if found else "", st.info
    )
    via = f" via {found.via}" if found and found.via else ""
    sample = f" ({found.interval_text})" if found and found.interval_text else ""
    box(
        f"{item.requirement_id} is {label(found)}{via}: "
        f"{found.value_text if found else '—'}{sample}"
    )
    if found is not None and found.alert_id is not None:
        with contextlib.suppress(StreamlitAPIException):  # only for roles that may see it
            st.page_link(
                "views/monitoring.py",
                label=f"Alert #{found.alert_id} is open on this requirement's rule: "
                "it is not met while the alert is open",
                icon="🚨",
            )
    st.markdown(f"**{item.title}** — {item.statement}")
    if item.is_ml:
        st.caption(
            f"Check `{item.check_text}` · evidence {item.evidence_text} · derived from "
            f"{', '.join(item.derived_from)} · version {item.version}"
        )
    attributes_table(item.attributes)
    _links(detail)
    _related(detail)
    if detail.slices:
        metric = item.metric or (
            matrix.requirements[found.via].metric if found and found.via else ""
        )
        st.plotly_chart(slice_chart(detail.slices, str(metric)), key="traceability.slices")
    _artifacts(detail, found)
    if item.derivation and item.derivation.get("steps"):
        with st.expander("How the threshold was derived"):
            st.markdown("\n".join(f"1. {s}" for s in item.derivation["steps"]))
    _versions(project, item)


def _related(detail: EvidenceDetail) -> None:
    """The requirements tool's relations that are not derivations ("see also", "conflicts
    with"), both ways: this requirement's, and those of others to it."""
    if not detail.related:
        return
    here = detail.requirement.requirement_id
    st.markdown("**Other relations**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "relation": kind,
                    "direction": (
                        f"{here} → {r.requirement_id}"
                        if way == "to"
                        else f"{r.requirement_id} → {here}"
                    ),
                    "requirement": f"{r.requirement_id} · {r.title}",
                }
                for kind, way, r in detail.related
            ],
            columns=["relation", "direction", "requirement"],
        ),
        hide_index=True,
        width="stretch",
        key="traceability.related",
    )


def _links(detail: EvidenceDetail) -> None:
    """The requirements this one was derived from, or derived into, with their status."""
    if not (detail.upstream or detail.downstream):
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "link": "derived from" if r.level == "system" else "derived into",
                    "requirement": f"{r.requirement_id} · {r.title}",
                    "status": label(s),
                    "value vs threshold": s.value_text if s else "—",
                    "n and 95% interval": sample_text(s),
                    "check": r.check_text,
                }
                for r, s in (*detail.upstream, *detail.downstream)
            ]
        ),
        hide_index=True,
        width="stretch",
        key="traceability.links",
    )


def _artifacts(detail: EvidenceDetail, found: Status | None) -> None:
    """What the status was measured on: the artifacts, the monitoring window, their lineage."""
    rows = evidence_rows(detail)
    if found is not None and found.source:
        st.caption(
            f"Evidence: {found.evidence_ref} · measured {found.measured_at:%Y-%m-%d %H:%M} UTC"
            if found.measured_at
            else f"Evidence: {found.evidence_ref}"
        )
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="traceability.evidence")
    if detail.lineage_root is None:
        return
    drawn = st.expander(  # drawn when opened (a lineage graph costs seconds to build)
        "Lineage of the evidence", key="traceability.lineage_open", on_change="rerun"
    )
    if drawn.open:
        with drawn:
            up = cached("artifacts", "lineage", detail.lineage_root, "up")
            down = cached("artifacts", "lineage", detail.lineage_root, "down", max_depth=1)
            st.plotly_chart(lineage_figure(up, down), key="traceability.lineage")


def _versions(project: str, item: Requirement) -> None:
    versions = cached("requirements", "versions", project, item.requirement_id)
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


def history_tab(project: str) -> None:
    history = cached("requirements", "status_history", project)
    if not history:
        st.info("No status changes yet.")
        return
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


def impact_tab(project: str) -> None:
    st.caption("What would change if this build's model or model version were promoted.")
    candidates: dict[str, int | None] = {
        f"model:{m.name}@{m.version}": None
        for m in cached("artifacts", "list", kind="model", project=project)
    }
    candidates |= {  # a build as people name it (its number in the project) -> its id
        f"build #{b.number} ({', '.join(filter(None, (b.status, b.model_text)))})": b.build_id
        for b in cached("builds", "list", project)
        if b.run_id
    }
    if not candidates:
        st.info("No model versions or builds yet.")
        return
    pick = st.selectbox("Candidate", list(candidates), key="traceability.candidate")
    build = candidates[pick]
    result = attempt(
        cached,
        "requirements",
        "impact",
        project,
        model=pick if build is None else None,
        build=build,
    )
    if result is None:
        return
    (st.error if result.violates else st.success)(result.summary)
    for change in result.changes:
        st.markdown(f"- {change.message}")
