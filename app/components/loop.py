"""The loop DM → Mod → Dev → Ops as four cards."""

from __future__ import annotations

import streamlit as st

from core.overview import ProjectOverview

STATE_BADGE = {"done": "🟢", "attention": "🟠", "empty": "⚪"}


def loop_cards(overview: ProjectOverview) -> None:
    columns = st.columns(len(overview.stages))
    for column, stage in zip(columns, overview.stages, strict=True):
        with column.container(border=True):
            st.markdown(f"**{STATE_BADGE.get(stage.state, '⚪')} {stage.title}**")
            st.markdown(f"### {stage.headline}")
            for detail in stage.details:
                st.caption(detail)
