"""Builds: CI history with its gate checks, the environments and promotion or rollback of model
versions under the promotion policy, and the automation (schedules, webhooks) at the end."""

import pandas as pd
import streamlit as st

from app.components.behave import behave_panel
from app.components.environments import environments_panel
from app.components.promotion import promotion_form
from app.components.tables import shown
from app.components.webhooks import automation_section
from app.deps import client, project_picker

ICONS = {"successful": "✅", "failed": "❌", "aborted": "⚠️", "running": "⏳"}
st.title("🏗️ Builds & releases")
st.caption(
    "`loopline build` trains, compares with production on the same test set and gates; only a "
    "successful build registers its model. Promotion and rollback are recorded with a reason."
)
api = client()
name = project_picker(api, "builds.project").name
builds = api.builds.list(name)
production = api.models.find_alias(name)
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
                    "build": f"{ICONS.get(b.status, '')} {b.label}",
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
        format_func=lambda b: f"{b.label} · {b.status} · {b.trigger or ''}",
    )
    (st.success if build.status == "successful" else st.error)(
        f"Build {build.label} {build.status}: {build.reason}"
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
    behave_panel(build)
    with st.expander("Build log"):
        st.code(build.log or "(empty)", language=None)

environments_panel(api, name)
promotion_form(api, name, production)
history = api.models.promotion_history(name)
numbers = {b.build_id: b.label for b in builds}  # promotions name the build by its number
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
                    "build": numbers.get(h.build_id, f"#{h.build_id}") if h.build_id else "manual",
                    "reason": h.reason,
                    "model id": h.artifact_id,
                }
                for h in history
            ]
        ),
        hide_index=True,
        key="builds.history",
    )
automation_section(api, name)
