"""The loop DM → Mod → Dev → Ops as four cards."""

from __future__ import annotations

import contextlib

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.api.types import ProjectOverview

STATE_BADGE = {"done": "🟢", "attention": "🟠", "empty": "⚪"}


def loop_cards(overview: ProjectOverview) -> None:
    columns = st.columns(len(overview.stages))
    for column, stage in zip(columns, overview.stages, strict=True):
        with column.container(border=True):
            st.markdown(f"**{STATE_BADGE.get(stage.state, '⚪')} {stage.title}**")
            st.markdown(f"### {stage.headline}")
            for detail in stage.details:
                st.caption(detail)


STATUS_LABELS = {
    "met": ("🟢", "met"),
    "violated": ("🔴", "violated"),
    "inconclusive": ("🟣", "inconclusive"),
    "suspect": ("🟠", "suspect"),
    "no_evidence": ("⚪", "no evidence"),
}


def requirement_health(overview: ProjectOverview) -> None:
    """One line under the loop: how the project's ML requirements stand, with a way to the proof."""
    counts = overview.requirements
    if not counts:
        st.caption("No requirements yet: import them on the Traceability page.")
        return
    parts = [
        f"{badge} {counts[status]} {label}"
        for status, (badge, label) in STATUS_LABELS.items()
        if counts.get(status)
    ]
    st.markdown("**ML requirements:** " + " · ".join(parts))
    with contextlib.suppress(StreamlitAPIException):  # listed only for roles that may read them
        st.page_link("views/traceability.py", label="See the traceability matrix", icon="🧭")
