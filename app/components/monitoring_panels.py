"""The monitoring page's panels: computing windows now, the overview charts, one feature's
drill-down, and the alerts with the actions that close the loop (acknowledge, send to labeling,
request retraining)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from app.components.monitoring import (
    accuracy_chart,
    alert_evidence,
    alert_header,
    class_mix_chart,
    distribution_chart,
    drift_heatmap,
    latency_chart,
    tiles,
)
from app.deps import attempt
from core.actor import Actor
from core.labeling.models import Task
from core.monitoring.alerts import acknowledge
from core.monitoring.dashboard import Dashboard, feature_distribution
from core.monitoring.loop import send_to_labeling, tasks_of
from core.monitoring.models import Alert, RetrainRequest
from core.monitoring.retrain import list_retrain_requests, request_retraining
from core.monitoring.service import compute_windows
from core.store import Workspace


def compute_now(ws: Workspace, project: str, grain: str, who: Actor) -> None:
    """Read new log segments and record their windows, with a progress bar."""
    with st.status("Computing windows from the prediction log…", expanded=False) as status:
        bar = st.progress(0.0)
        done = attempt(
            compute_windows,
            ws,
            project,
            grain=grain,
            actor=who,
            progress=lambda stage, fraction: bar.progress(min(1.0, fraction), text=stage),
        )
        if done is not None:
            status.update(
                label=f"Computed {len(done.windows)} window(s); {len(done.new_alerts)} new alert(s).",
                state="complete",
            )
            for note in done.notes:
                st.caption(note)


def overview(view: Dashboard) -> None:
    """The tiles, then latency and accuracy beside the class mix and the drift heatmap."""
    tiles(view)
    left, right = st.columns(2)
    with left:
        latency_chart(view)
        accuracy_chart(view)
    with right:
        class_mix_chart(view)
        drift_heatmap(view)


def feature_drilldown(ws: Workspace, project: str, grain: str, view: Dashboard) -> None:
    """One feature in one window against the training data, and its drift over the range."""
    st.subheader("Feature drill-down")
    if not view.features:
        st.info("No drift figures in the range.")
        return
    pick, when = st.columns([2, 1])
    feature = pick.selectbox(
        "Feature",
        view.features,
        key="monitoring.feature",
        help="sorted by the largest drift in the range",
    )
    windows = list(view.drift.columns)
    chosen = when.selectbox(
        "Window",
        windows,
        index=len(windows) - 1,
        key="monitoring.window",
        format_func=lambda w: f"{w:%Y-%m-%d %H:%M}",
    )
    found = attempt(feature_distribution, ws, project, feature, grain, chosen.to_pydatetime())
    if found is None:
        return
    distribution_chart(found)
    history = view.drift.loc[feature].dropna()
    vocabulary = found.kind == "vocabulary"
    st.caption(
        f"{feature}: "
        + (
            "share of unseen tokens per window"
            if vocabulary
            else "PSI per window (0 where its test is not significant)"
        )
    )
    st.line_chart(history.rename("unseen tokens" if vocabulary else "PSI"), height=160)


def alerts_panel(ws: Workspace, project: str, view: Dashboard, who: Actor) -> None:
    """Pending retraining requests, then every alert as a card with its evidence and actions;
    the first open one is unfolded."""
    st.subheader("Alerts")
    if not view.alerts:
        st.success("No alerts: every rule held in every window computed so far.")
    by_id = {a.alert_id: a for a in view.alerts}
    for request in list_retrain_requests(ws, project):
        if request.status == "pending":
            st.info(
                f"{request_text(request, by_id.get(request.alert_id or -1))} waits for the next "
                f"`loopline build {project}`: {request.reason}"
            )
    first_open = next((a.alert_id for a in view.alerts if a.status == "open"), None)
    for alert in view.alerts:
        with st.expander(alert_header(alert), expanded=alert.alert_id == first_open):
            _alert_card(ws, alert, who)


def request_text(request: RetrainRequest, alert: Alert | None) -> str:
    """'Retraining request #3 from alert #7 (accuracy [firmware = R24.1])': the alert by what it
    is about, not only its number."""
    if request.alert_id is None:
        return f"Retraining request #{request.request_id}"
    about = f" ({alert.metric}{f' [{alert.slice}]' if alert.slice else ''})" if alert else ""
    return f"Retraining request #{request.request_id} from alert #{request.alert_id}{about}"


def task_text(task: Task) -> str:
    """A labeling task by its name, the number kept for the CLI."""
    return f"labeling task “{task.name}” (#{task.task_id}, {task.items:,} items, {task.status})"


def _alert_card(ws: Workspace, alert: Alert, who: Actor) -> None:
    alert_evidence(alert)
    for task in tasks_of(ws, alert):
        st.caption(f"🏷️ Sent to {task_text(task)}")
    note = st.text_input(
        "Note",
        key=f"monitoring.note.{alert.alert_id}",
        placeholder="what you are doing about it",
    )
    ack, label, retrain = st.columns(3)
    if ack.button(
        "Acknowledge", key=f"monitoring.ack.{alert.alert_id}", disabled=alert.status != "open"
    ) and attempt(acknowledge, ws, alert.alert_id, who, note):
        st.rerun()
    if label.button(
        "Send to labeling",
        key=f"monitoring.label.{alert.alert_id}",
        help="the drifted live items the model is least sure of become a labeling task",
    ):
        with st.status("Choosing the drifted, uncertain live items…") as status:
            task = attempt(send_to_labeling, ws, alert.alert_id, who)
            if task is not None:
                status.update(label=f"Created {task_text(task)}.", state="complete")
    if retrain.button(
        "Request retraining",
        key=f"monitoring.retrain.{alert.alert_id}",
        help="the next `loopline build` picks the request up and records it as its trigger",
    ):
        request = attempt(request_retraining, ws, alert.alert_id, who, note)
        if request is not None:
            st.success(f"{request_text(request, alert)} is pending for the next build.")


def time_labels(starts: list[datetime], grain: str) -> list[str]:
    """Window starts as the range slider shows them."""
    return [f"{s:%Y-%m-%d %H:%M}" if grain == "hour" else f"{s:%Y-%m-%d}" for s in starts]
