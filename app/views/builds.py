"""Builds: CI history with its gate checks, and promotion or rollback of model versions."""

import pandas as pd
import streamlit as st

from app.components.rights import explain, refusal
from app.components.tables import shown
from app.deps import attempt, current_actor, project_picker, workspace
from core.artifacts.service import list_artifacts
from core.builds.service import list_builds
from core.registry.service import find_alias, promote, promotion_history

ICONS = {"successful": "✅", "failed": "❌", "aborted": "⚠️", "running": "⏳"}
st.title("🏗️ Builds & releases")
st.caption(
    "`loopline build` trains, compares with production on the same test set and gates; only a "
    "successful build registers its model. Promotion and rollback are recorded with a reason."
)
ws = workspace()
name = project_picker(ws, "builds.project").name
builds = list_builds(ws, name)
production = find_alias(ws, name)
st.metric(
    "In production",
    f"{production.name} v{production.version}" if production else "nothing yet",
    help=f"{production.ref} · artifact #{production.artifact_id}" if production else None,
)
if not builds:
    st.info("No builds yet: run `loopline build PROJECT` (see docs/ci.md).")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "build": f"{ICONS.get(b.status, '')} #{b.build_id}",
                    "status": b.status,
                    "model": b.model_text or "—",
                    "trigger": b.trigger or "—",
                    "started": b.started_at,
                    "reason": b.reason,
                    "model id": b.model_id,
                }
                for b in builds
            ]
        ).pipe(shown),
        hide_index=True,
        width="stretch",
    )
    build = st.selectbox(
        "Build",
        builds,
        key="builds.build",
        format_func=lambda b: f"#{b.build_id} · {b.status} · {b.trigger or ''}",
    )
    (st.success if build.status == "successful" else st.error)(
        f"Build #{build.build_id} {build.status}: {build.reason}"
    )
    if build.checks:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "check": c.name,
                        "passed": "✅" if c.passed else "❌",
                        "value": None if c.value is None else round(c.value, 3),
                        "production": None if c.baseline is None else round(c.baseline, 3),
                        "allowed": c.threshold,
                        "detail": c.message,
                    }
                    for c in build.checks
                ]
            ).pipe(shown),
            hide_index=True,
            width="stretch",
        )
    with st.expander("Build log"):
        st.code(build.log or "(empty)", language=None)

st.subheader("Promote or roll back")
if st.session_state.pop("builds.reset", False):  # after an action: ask again next time
    st.session_state["builds.confirm"] = False
    st.session_state["builds.reason"] = ""
flash = st.session_state.pop("builds.flash", None)
if flash:
    st.success(flash, icon="✅")
models = list_artifacts(ws, kind="model", project=name)
refused = refusal(ws, "promote", name)
if models:
    left, right = st.columns([1, 2])
    target = left.selectbox(
        "Model version",
        models,
        key="builds.target",
        format_func=lambda m: (
            f"{m.name} v{m.version}"
            + (" (production)" if production and m.artifact_id == production.artifact_id else "")
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
    if st.button(
        f"{verb} {target.name} v{target.version}",
        type="primary",
        key="builds.promote",
        disabled=refused is not None or not sure or serving,
        help=f"{target.name} v{target.version} serves already: pick another version"
        if serving
        else None,
    ):
        done = attempt(promote, ws, name, target.artifact_id, current_actor(), reason=reason)
        if done:
            was = f" (replacing {production.name} v{production.version})" if production else ""
            st.session_state["builds.flash"] = (
                f"{done.name} v{done.version} is now in production{was}."
            )
            st.session_state["builds.reset"] = True
            st.rerun()  # the tile, the picker and the history show the new production model
    explain(refused)
history = promotion_history(ws, name)
if history:
    st.markdown(
        "**Promotion history** · newest first; *manual*: promoted here or with `loopline promote`"
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": h.at,
                    "who": h.actor,
                    "model": h.model_text,
                    "replaced": h.previous_model_text or "—",
                    "build": f"#{h.build_id}" if h.build_id else "manual",
                    "reason": h.reason,
                    "model id": h.artifact_id,
                }
                for h in history
            ]
        ),
        hide_index=True,
        key="builds.history",
    )
