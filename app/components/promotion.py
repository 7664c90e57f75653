"""Promote or roll back a model version: the form on the Builds page. Every move goes through the
project's promotion policy (``api.models.release``): a refusal lists the unmet conditions."""

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
    st.caption(
        "A version enters acceptance or production only if it meets the project's promotion "
        "policy (see Environments above); a refusal lists what it still lacks."
    )
    if st.session_state.pop("builds.reset", False):  # after an action: ask again next time
        st.session_state["builds.confirm"] = False
        st.session_state["builds.reason"] = ""
    flash = st.session_state.pop("builds.flash", None)
    if flash:
        st.success(flash, icon="✅")
    models = api.artifacts.list(kind="model", project=name)
    refused = refusal(api, "promote", name)
    if models:
        left, middle, right = st.columns([2, 1, 3])
        environment = middle.selectbox(
            "Environment", ("production", "acceptance"), key="builds.environment"
        )
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
        held = (
            production if environment == "production" else api.models.find_alias(name, environment)
        )
        serving = held is not None and target.artifact_id == held.artifact_id
        back = held is not None and target.version < held.version
        verb = "Roll back to" if back else "Promote"
        if not serving and environment == "production":
            st.markdown(f"**Impact of serving {target.name} v{target.version}**")
            result = attempt(api.requirements.impact, name, model=target.artifact_id)
            if result is not None:
                impact_panel(result)
            comparison = attempt(api.models.compare_candidate, name)
            if comparison is not None and comparison.candidate_id == target.artifact_id:
                live_evidence(comparison)
        if st.button(
            f"{verb} {target.name} v{target.version} ({environment})",
            type="primary",
            key="builds.promote",
            disabled=refused is not None or not sure or serving,
            help=f"{target.name} v{target.version} is in {environment} already: pick another "
            "version"
            if serving
            else None,
        ):
            done = attempt(
                api.models.release, name, target.artifact_id, to=environment, reason=reason
            )
            if done:
                was = f" (replacing {held.name} v{held.version})" if held else ""
                st.session_state["builds.flash"] = (
                    f"{done.name} v{done.version} is now in {environment}{was}."
                )
                st.session_state["builds.reset"] = True
                st.rerun()  # the tile, the picker and the history show the new production model
        explain(refused)
