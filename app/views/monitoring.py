"""Monitoring: live predictions against each model's training data, alerts and the loop back.

The reads are kept until the workspace changes (``cached``: a click reruns the page without a
query); a feature's drill-down is drawn when it is opened."""

from datetime import timedelta

import streamlit as st

from app.components.candidates import render_comparison
from app.components.monitoring_incidents import incidents_panel
from app.components.monitoring_panels import (
    compute_now,
    feature_drilldown,
    overview,
    time_labels,
)
from app.components.rights import refusal
from app.deps import attempt, cached, client, project_picker

st.title("📈 Monitoring")
st.caption(
    "Every prediction the service logged, per window: volume, latency, accuracy where feedback "
    "arrived and estimated from calibrated confidence where it has not yet, and drift of every "
    "input against the training data of the model that served it. `loopline monitor` (cron, CI) "
    "records the windows and raises alerts; act on them below."
)
api = client()
top = st.columns([2, 1, 1, 3])
project = project_picker(api, "monitoring.project", container=top[0]).name
grains = cached("monitoring", "grains", project) or ["day"]
grain = top[1].selectbox("Window", grains, key="monitoring.grain")
refused = refusal(api, "monitor.record", project)
if top[2].button(
    "Compute now",
    key="monitoring.compute",
    help=f"🔒 {refused.message}" if refused else "read new log segments and record their windows",
    disabled=refused is not None,
):
    compute_now(api, project, grain)
starts = cached("monitoring", "windows", project, grain)
if not starts:
    st.info(
        f"No monitoring figures for {project} yet. Serve predictions (`loopline serve {project}`), "
        f"then run `loopline monitor {project}`, or press Compute now."
    )
    st.stop()
labels = time_labels(starts, grain)
first, last = (
    top[3].select_slider(
        "Time range", labels, value=(labels[0], labels[-1]), key="monitoring.range"
    )
    if len(labels) > 1
    else (labels[0], labels[0])
)
since, until = starts[labels.index(first)], starts[labels.index(last)] + timedelta(microseconds=1)
everything = cached("monitoring", "dashboard", project, grain, since=since, until=until)
versions = ["all versions", *[f"v{v}" for v in everything.versions]]
version = st.radio(
    "Model version",
    versions,
    horizontal=True,
    key="monitoring.model",
    help="a version's windows and the alerts about it",
)
view = (
    everything
    if version == "all versions"
    else cached(
        "monitoring",
        "dashboard",
        project,
        grain,
        since=since,
        until=until,
        model_version=int(version[1:]),
    )
)
if view.empty:
    st.info("No window of this model version in the time range.")
    st.stop()

overview(view, api)  # with the client: a line on quarantined log records
shadowed = attempt(cached, "models", "compare_candidate", project)
if shadowed is not None:  # a shadow or canary candidate beside production, when one runs
    render_comparison(shadowed)
feature_drilldown(project, grain, view)
incidents_panel(api, project, view.alerts)
