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
        st.session_state["builds.force"] = False
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
        blocked, force = False, False
        if not serving and refused is None:
            blocked, force = _policy(api, name, target, environment)
        if st.button(
            f"{verb} {target.name} v{target.version} ({environment})",
            type="primary",
            key="builds.promote",
            disabled=refused is not None or not sure or serving or (blocked and not force),
            help=f"{target.name} v{target.version} is in {environment} already: pick another "
            "version"
            if serving
            else None,
        ):
            done = attempt(
                api.models.release,
                name,
                target.artifact_id,
                to=environment,
                reason=reason,
                force=force,
            )
            if done:
                was = f" (replacing {held.name} v{held.version})" if held else ""
                st.session_state["builds.flash"] = (
                    f"{done.name} v{done.version} is now in {environment}{was}."
                )
                st.session_state["builds.reset"] = True
                st.rerun()  # the tile, the picker and the history show the new production model
        explain(refused)


def _policy(api: Client, name: str, target: Artifact, environment: str) -> tuple[bool, bool]:
    """The policy's conditions for ``target`` entering ``environment``, shown before the click:
    whether they block it, and whether an admin chose to promote past them (a rollback in an
    emergency, recorded with the unmet conditions in the audit log)."""
    ready = attempt(api.models.readiness, name, target.artifact_id, environment)
    if ready is None:
        return False, False
    if ready.ready:
        st.caption(f"✅ Meets the {environment} policy ({ready.policy}).")
        return False, False
    lines = "\n".join(f"- **{c.check}**: {c.detail}" for c in ready.unmet)
    st.warning(
        f"{target.name} v{target.version} does not meet the {environment} policy "
        f"({ready.policy}):\n{lines}",
        icon="⚠️",
    )
    if any(c.check == "servable" for c in ready.unmet):
        return False, False  # the release refuses it with the reason; nobody may force that
    user = api.accounts.whoami()
    if user is not None and not user.is_admin:
        st.caption("Only an admin may promote past unmet conditions.")
        return True, False
    force = st.checkbox(
        "Promote past the unmet conditions (recorded in the audit log with them)",
        key="builds.force",
        help="For a rollback that cannot wait: the conditions still show as unmet afterwards.",
    )
    return True, force
