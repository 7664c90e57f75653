"""Monitoring: live predictions against each model's training data, alerts and the loop back."""

from datetime import timedelta

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
from app.deps import attempt, choose_project, current_user, workspace
from core.actor import Actor
from core.monitoring.alerts import acknowledge
from core.monitoring.dashboard import dashboard, feature_distribution
from core.monitoring.loop import send_to_labeling, tasks_of
from core.monitoring.retrain import list_retrain_requests, request_retraining
from core.monitoring.service import compute_windows, recorded_grains, window_starts

st.title("📈 Monitoring")
st.caption(
    "Every prediction the service logged, per window: volume, latency, accuracy where feedback "
    "arrived and estimated from calibrated confidence where it has not yet, and drift of every "
    "input against the training data of the model that served it. `loopline monitor` (cron, CI) "
    "records the windows and raises alerts; act on them below."
)
ws = workspace()
top = st.columns([2, 1, 1, 3])
project = choose_project(
    ws, "monitoring.project", order=lambda n: 0 if recorded_grains(ws, n) else 1, container=top[0]
).name
grains = recorded_grains(ws, project) or ["day"]
grain = top[1].selectbox("Window", grains, key="monitoring.grain")
if top[2].button(
    "Compute now", key="monitoring.compute", help="read new log segments and record their windows"
):
    with st.status("Computing windows from the prediction log…", expanded=False) as status:
        bar = st.progress(0.0)
        done = attempt(
            compute_windows,
            ws,
            project,
            grain=grain,
            actor=Actor(current_user(), "app"),
            progress=lambda stage, fraction: bar.progress(min(1.0, fraction), text=stage),
        )
        if done is not None:
            status.update(
                label=f"Computed {len(done.windows)} window(s); {len(done.new_alerts)} new alert(s).",
                state="complete",
            )
            for note in done.notes:
                st.caption(note)
starts = window_starts(ws, project, grain)
if not starts:
    st.info(
        f"No monitoring figures for {project} yet. Serve predictions (`loopline serve {project}`), "
        f"then run `loopline monitor {project}`, or press Compute now."
    )
    st.stop()
labels = [f"{s:%Y-%m-%d %H:%M}" if grain == "hour" else f"{s:%Y-%m-%d}" for s in starts]
first, last = (
    top[3].select_slider(
        "Time range", labels, value=(labels[0], labels[-1]), key="monitoring.range"
    )
    if len(labels) > 1
    else (labels[0], labels[0])
)
since, until = starts[labels.index(first)], starts[labels.index(last)] + timedelta(microseconds=1)
everything = dashboard(ws, project, grain, since=since, until=until)
versions = ["all versions", *[f"v{v}" for v in everything.versions]]
version = st.radio("Model version", versions, horizontal=True, key="monitoring.model")
view = (
    everything
    if version == "all versions"
    else dashboard(ws, project, grain, since=since, until=until, model_version=int(version[1:]))
)
if view.empty:
    st.info("No window of this model version in the time range.")
    st.stop()

tiles(view)
left, right = st.columns(2)
with left:
    latency_chart(view)
    accuracy_chart(view)
with right:
    class_mix_chart(view)
    drift_heatmap(view)

st.subheader("Feature drill-down")
if view.features:
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
    if found is not None:
        distribution_chart(found)
        history = view.drift.loc[feature].dropna()
        st.caption(
            f"{feature}: "
            + (
                "share of unseen tokens per window"
                if found.kind == "vocabulary"
                else "PSI per window (0 where its test is not significant)"
            )
        )
        st.line_chart(
            history.rename("PSI" if found.kind != "vocabulary" else "unseen tokens"), height=160
        )
else:
    st.info("No drift figures in the range.")

st.subheader("Alerts")
if not view.alerts:
    st.success("No alerts: every rule held in every window computed so far.")
for request in list_retrain_requests(ws, project):
    if request.status == "pending":
        st.info(
            f"Retraining request #{request.request_id} (alert #{request.alert_id}) waits for the next "
            f"`loopline build {project}`: {request.reason}"
        )
who = Actor(current_user(), "app")
first_open = next((a.alert_id for a in view.alerts if a.status == "open"), None)
for alert in view.alerts:
    with st.expander(alert_header(alert), expanded=alert.alert_id == first_open):
        alert_evidence(alert)
        for task in tasks_of(ws, alert):
            st.caption(
                f"🏷️ Sent to labeling task #{task.task_id} ({task.items} items, {task.status})"
            )
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
                    status.update(
                        label=f"Labeling task #{task.task_id} holds {task.items} item(s).",
                        state="complete",
                    )
        if retrain.button(
            "Request retraining",
            key=f"monitoring.retrain.{alert.alert_id}",
            help="the next `loopline build` picks the request up and records it as its trigger",
        ):
            request = attempt(request_retraining, ws, alert.alert_id, who, note)
            if request is not None:
                st.success(
                    f"Retraining request #{request.request_id} is pending for the next build."
                )
