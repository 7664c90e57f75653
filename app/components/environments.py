"""The pipeline of environments on the Builds page: which model version acceptance and production
hold, and for each newer version what it still lacks under the project's promotion policy."""

from __future__ import annotations

import streamlit as st

from app.deps import attempt
from core.api import Client
from core.api.models import Pipeline, Readiness


def environments_panel(api: Client, project: str) -> None:
    """The Builds page's environments section: one call, then render."""
    view = attempt(api.models.environments, project)
    if view is not None:
        render_pipeline(view)


def render_pipeline(view: Pipeline) -> None:
    st.subheader("Environments")
    columns = st.columns(len(view.stages))
    for column, stage in zip(columns, view.stages, strict=True):
        since = f"since {stage.since:%Y-%m-%d %H:%M}" if stage.since else "nothing yet"
        column.metric(stage.environment.capitalize(), stage.model or "—", since, delta_color="off")
    st.caption(f"Promotion policy: {view.policy}")
    if not view.candidates:
        st.info("No candidate waiting: every newer version is in production.", icon="ℹ️")
    for ready in view.candidates:
        _candidate(ready)


def _candidate(ready: Readiness) -> None:
    verdict = "ready" if ready.ready else f"{len(ready.unmet)} condition(s) unmet"
    with st.expander(f"{ready.model} → {ready.environment}: {verdict}", expanded=not ready.ready):
        st.markdown(
            "\n".join(
                f"- {'✅' if c.met else '⛔'} **{c.check.replace('_', ' ')}** · {c.detail}"
                for c in ready.conditions
            )
        )
