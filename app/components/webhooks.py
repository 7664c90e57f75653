"""The automation section of the Builds page: the project's schedules and triggers, its webhooks
and their delivery log (what was sent, how often it was tried, what the receiver answered)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from app.components.tables import shown
from app.deps import attempt
from core.api import Client
from core.api.automation import Delivery, ScheduleState, Webhook


def automation_section(api: Client, project: str) -> None:
    """Schedules, webhooks and the delivery log of ``project``: three reads, then render."""
    st.subheader("Scheduled builds and webhooks")
    states = attempt(api.automation.schedules, project)
    if states is not None:
        labels = {b.build_id: b.label for b in api.builds.list(project)}
        render_schedules(states, labels)
    hooks = attempt(api.automation.webhooks, project)
    deliveries = attempt(api.automation.deliveries, project, limit=50)
    if hooks is not None and deliveries is not None:
        render_webhooks(hooks, deliveries)


def render_schedules(states: list[ScheduleState], labels: Mapping[int, str]) -> None:
    """``labels``: build id -> the build's number in its project (``#3``)."""
    if not states:
        st.caption(
            "No schedules or triggers: add a `retraining` section to the project file and run "
            "`loopline scheduler` (or `loopline server`)."
        )
        return
    rows = [
        {
            "name": s.name,
            "kind": s.kind,
            "when": s.text,
            "last fired for": s.last_due_at,
            "build": labels.get(s.last_build_id, f"#{s.last_build_id}")
            if s.last_build_id
            else None,
            "next due": s.next_due_at,
        }
        for s in states
    ]
    st.dataframe(shown(pd.DataFrame(rows)), hide_index=True, key="builds.schedules")


def render_webhooks(hooks: list[Webhook], deliveries: list[Delivery]) -> None:
    if not hooks:
        st.caption("No webhooks: an admin adds one with `loopline webhooks add PROJECT URL`.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "webhook": h.webhook_id,
                    "url": h.url,
                    "format": h.format,
                    "events": ", ".join(h.events),
                    "state": "active" if h.active else "removed",
                }
                for h in hooks
            ]
        ),
        hide_index=True,
        key="builds.webhooks",
    )
    failed = [d for d in deliveries if d.status == "failed"]
    if failed:
        st.warning(
            f"{len(failed)} of the last {len(deliveries)} deliveries failed for good "
            f"(latest: {failed[0].last_error or f'HTTP {failed[0].last_code}'})."
        )
    if not deliveries:
        st.caption("Nothing delivered yet.")
        return
    st.dataframe(shown(pd.DataFrame([_row(d) for d in deliveries])), hide_index=True,
                 key="builds.deliveries")  # fmt: skip


def _row(d: Delivery) -> dict[str, object]:
    return {
        "delivery": d.delivery_id,
        "webhook": d.webhook_id,
        "event": d.event,
        "status": d.status,
        "tries": d.attempts,
        "answer": str(d.last_code) if d.last_code is not None else (d.last_error or None),
        "queued": d.created_at,
        "next try": d.next_attempt_at if d.status == "pending" else None,
    }
