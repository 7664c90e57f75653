"""Promote or roll back a model version: the form on the Builds page."""

import streamlit as st

from app.components.impact import impact_panel, live_evidence
from app.components.rights import explain, refusal
from app.deps import attempt
from core.api import Client
from core.api.types import Artifact


def promotion_form(api: Client, name: str, production: Artifact | None) -> None:
    """Pick a version, give a reason, confirm; after the action the page reruns so the tile, the
    picker and the history show the new production model."""
    st.subheader("Promote or roll back")
    if st.session_state.pop("builds.reset", False):  # after an action: ask again next time
        st.session_state["builds.confirm"] = False
        st.session_state["builds.reason"] = ""
    flash = st.session_state.pop("builds.flash", None)
    if flash:
        st.success(flash, icon="✅")
    models = api.artifacts.list(kind="model", project=name)
    refused = refusal(api, "promote", name)
    if models:
        left, right = st.columns([1, 2])
        target = left.selectbox(
            "Model version",
            models,
            key="builds.target",
            format_func=lambda m: (
                f"{m.name} v{m.version}"
                + (
                    " (production)"
                    if production and m.artifact_id == production.artifact_id
                    else ""
                )
            ),
        )
        reason = right.text_input(
            "Reason",
            key="builds.reason",
            placeholder="why this version should serve",
            disabled=refused is not None,
        )
        sure = st.checkbox(
            "I have checked the build and want this version to serve",
            key="builds.confirm",
            disabled=refused is not None,
        )
        serving = production is not None and target.artifact_id == production.artifact_id
        back = production is not None and target.version < production.version
        verb = "Roll back to" if back else "Promote"
        if not serving:
            st.markdown(f"**Impact of serving {target.name} v{target.version}**")
            result = attempt(api.requirements.impact, name, model=target.artifact_id)
            if result is not None:
                impact_panel(result)
            comparison = attempt(api.models.compare_candidate, name)
            if comparison is not None and comparison.candidate_id == target.artifact_id:
                live_evidence(comparison)
        if st.button(
            f"{verb} {target.name} v{target.version}",
            type="primary",
            key="builds.promote",
            disabled=refused is not None or not sure or serving,
            help=f"{target.name} v{target.version} serves already: pick another version"
            if serving
            else None,
        ):
            done = attempt(api.models.promote, name, target.artifact_id, reason=reason)
            if done:
                was = f" (replacing {production.name} v{production.version})" if production else ""
                st.session_state["builds.flash"] = (
                    f"{done.name} v{done.version} is now in production{was}."
                )
                st.session_state["builds.reset"] = True
                st.rerun()  # the tile, the picker and the history show the new production model
        explain(refused)
