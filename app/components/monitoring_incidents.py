"""The monitoring page's alerts, read as incidents: one expander per problem (the alerts of one
production model whose windows overlap), its alerts in a table, the evidence of the alert to act
on, and the actions that close the loop (acknowledge, send to labeling, request retraining)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app.components.monitoring import SEVERITY_ICONS, alert_evidence
from app.components.rights import explain, refusal
from app.components.words import plural
from app.deps import attempt, cached, forget
from core.api import SYSTEM, Client, CoreError, Forbidden
from core.api.types import Alert, Incident, RetrainRequest, Task

STATUS_ORDER = {"open": 0, "acknowledged": 1, "resolved": 2}
# Rows of three lines when a resolution or a metric's name needs more than one (Streamlit wraps a
# cell's text in rows taller than 4rem), with widths that fit the page's centered column (906 px)
RESOLUTION_LINE = 48  # characters a 330 px column shows on one line
METRIC_LINE = 24  # … and a 180 px one
WRAPPED = {"metric": 180, "windows": 150, "resolution": 330}
TALL_ROW = 70
MONITORING = SYSTEM.name  # monitoring's own notes (cleared, superseded) are written as this user


def incidents_panel(api: Client, project: str, alerts: Sequence[Alert]) -> None:
    """Pending retraining requests, the incidents still standing (open ones unfolded), then the
    resolved ones behind a toggle."""
    st.subheader("Alerts")
    flash = st.session_state.pop("monitoring.flash", None)
    if flash:
        st.success(flash, icon="✅")
    by_id = {a.alert_id: a for a in alerts}
    for request in cached("monitoring", "retrain_requests", project):
        if request.status == "pending":
            st.info(
                f"{request_text(request, by_id.get(request.alert_id or -1))} waits for the next "
                f"`loopline build {project}`: {request.reason}"
            )
    incidents = api.monitoring.group_alerts(alerts)
    standing = sorted(
        (i for i in incidents if i.status != "resolved"), key=lambda i: STATUS_ORDER[i.status]
    )
    resolved = [i for i in incidents if i.status == "resolved"]
    if not standing:
        st.success(
            "No open alerts: every rule holds in the latest windows."
            if not resolved
            else f"No open alerts; {plural(len(resolved), 'earlier incident')} resolved themselves or "
            "were superseded by a newer model."
        )
    rights = {p: refusal(api, p, project) for p in ("alert.ack", "alert.act")}
    sent = _tasks_by_alert(api, project)
    for incident in standing:
        with st.expander(incident_header(incident), expanded=incident.status == "open"):
            _incident_card(api, incident, rights, sent)
    if resolved and st.toggle(
        f"Show {plural(len(resolved), 'resolved incident')}",
        key="monitoring.resolved",
        help="incidents whose alerts cleared, or were superseded by a newer production model",
    ):
        for incident in resolved:
            with st.expander(incident_header(incident), expanded=False):
                _incident_card(api, incident, rights, sent)


def incident_header(incident: Incident) -> str:
    """``🔴 Incident #6 (critical, 8 alerts): accuracy, … · open · firing``."""
    icon = SEVERITY_ICONS.get(incident.severity, "⚪")
    firing = "firing" if incident.firing else "not firing"
    return f"{icon} {incident.label} · {incident.status} · {firing}"


def alerts_table(incident: Incident) -> pd.DataFrame:
    """One row per alert: what it measured, where it stands and, once resolved, why."""
    rows = []
    for a in incident.alerts:
        windows = (
            f"{a.first_window:%Y-%m-%d}"
            if a.windows == 1
            else f"{a.first_window:%Y-%m-%d} … {a.last_window:%Y-%m-%d} ({a.windows})"
        )
        rows.append(
            {
                "alert": f"{SEVERITY_ICONS.get(a.severity, '⚪')} #{a.alert_id}",
                "metric": a.name,
                "value": a.value_text,
                "grain": a.grain,
                "windows": windows,
                "status": a.status + (" (firing)" if a.active and a.status != "resolved" else ""),
                "resolution": a.resolution or "—",
            }
        )
    return pd.DataFrame(rows)


def request_text(request: RetrainRequest, alert: Alert | None) -> str:
    """'Retraining request #3 from alert #7 (accuracy [firmware = R24.1])': the alert by what it
    is about, not only its number."""
    if request.alert_id is None:
        return f"Retraining request #{request.request_id}"
    about = f" ({alert.name})" if alert else ""
    return f"Retraining request #{request.request_id} from alert #{request.alert_id}{about}"


def task_text(task: Task) -> str:
    """A labeling task by its name, the number kept for the CLI."""
    return f"labeling task “{task.name}” (#{task.task_id}, {task.items:,} items, {task.status})"


def acknowledge_incident(api: Client, incident: Incident, note: str) -> dict[str, list[int]]:
    """Acknowledge every open alert of the incident with one note, in one unit of work (all or
    none). A refusal is returned, never dropped: its reason with the alerts it refused."""
    waiting = [a.alert_id for a in incident.alerts if a.status == "open"]
    try:
        api.monitoring.acknowledge_alerts(waiting, note)
    except CoreError as error:
        return {error.message + _hint(error): waiting}
    return {}


def _hint(error: CoreError) -> str:
    return f" ({error.hint})" if error.hint else ""


def _tasks_by_alert(api: Client, project: str) -> dict[int, list[Task]]:
    """The labeling tasks sent from alerts, by the alert's artifact: one read for the page
    (not one per alert)."""
    found: dict[int, list[Task]] = {}
    for task in cached("labeling", "tasks", project):
        if task.trigger_id is not None:
            found.setdefault(task.trigger_id, []).append(task)
    return found


def _incident_card(
    api: Client,
    incident: Incident,
    rights: dict[str, Forbidden | None],
    sent: dict[int, list[Task]],
) -> None:
    key = incident.incident_id
    lead = incident.lead
    table = alerts_table(incident)
    # a resolution is a sentence and a metric on its slice a phrase: they wrap (WRAPPED)
    tall = any(len(r) > RESOLUTION_LINE for r in table["resolution"]) or any(
        len(m) > METRIC_LINE for m in table["metric"]
    )
    row = TALL_ROW if tall else 35
    widths = WRAPPED if tall else {}
    text = st.column_config.TextColumn
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key=f"monitoring.alerts.{key}",
        row_height=row,
        height=min(300 if not tall else 420, row * len(incident.alerts) + 35 + 3),
        column_config={
            "metric": text("metric", width=widths.get("metric")),
            "windows": text("windows", width=widths.get("windows")),
            "resolution": text(
                "resolution",
                width=widths.get("resolution"),
                help="why monitoring resolved it: cleared (the rule held again) or superseded "
                "(a newer production model serves the next window)",
            ),
        },
    )
    st.markdown(f"**Acting on {lead.label}**, the most severe alert still standing")
    alert_evidence(lead, timeline=False)
    tasks = {
        t.task_id: t
        for a in incident.alerts
        if a.artifact_id is not None
        for t in sent.get(a.artifact_id, ())
    }
    for task in tasks.values():
        st.caption(f"🏷️ Sent to {task_text(task)}")
    _timeline(incident)
    if incident.status != "resolved":
        _actions(api, incident, rights)


def _timeline(incident: Incident) -> None:
    """The notes of the incident's alerts (people's and monitoring's own), the latest dozen."""
    key = incident.incident_id
    timeline = sorted(
        ((at, who_, note, a.alert_id) for a in incident.alerts for who_, note, at in a.acks),
        key=lambda entry: entry[0],
    )
    if timeline:
        with st.container(key=f"monitoring.timeline.{key}"):
            for at, who_, note, alert_id in timeline[-12:]:
                st.caption(
                    f"{'↻ monitoring' if who_ == MONITORING else f'✔ {who_}'}, "
                    f"{at:%Y-%m-%d %H:%M} (#{alert_id}): {note}"
                )
            if len(timeline) > 12:
                st.caption(f"… and {plural(len(timeline) - 12, 'earlier note')}")


def _actions(api: Client, incident: Incident, rights: dict[str, Forbidden | None]) -> None:
    """One note, and the buttons that act on the incident: acknowledge, label, retrain."""
    key = incident.incident_id
    lead = incident.lead
    open_alerts = [a for a in incident.alerts if a.status == "open"]
    ack_refused, act_refused = rights["alert.ack"], rights["alert.act"]
    note = st.text_input(
        "Note",
        key=f"monitoring.note.{key}",
        placeholder="what you are doing about it",
        disabled=ack_refused is not None and act_refused is not None,
    )
    ack, label, retrain = st.columns(3)
    if ack.button(
        f"Acknowledge {plural(len(open_alerts), 'open alert')}" if open_alerts else "Acknowledged",
        key=f"monitoring.ack.{key}",
        disabled=not open_alerts or ack_refused is not None,
        help="one note for every open alert of the incident",
    ):
        problems = acknowledge_incident(api, incident, note)
        forget()  # the alerts changed (all or some)
        if not problems:
            st.session_state["monitoring.flash"] = (
                f"Acknowledged {plural(len(open_alerts), 'alert')} of incident #{key}."
            )
            st.rerun()
        refused_count = sum(len(ids) for ids in problems.values())
        st.error(
            f"Acknowledged {len(open_alerts) - refused_count} of "
            f"{plural(len(open_alerts), 'open alert')}; refused:\n\n"
            + "\n".join(
                f"- {', '.join(f'#{i}' for i in ids)}: {reason}" for reason, ids in problems.items()
            ),
            icon="⚠️",
        )
    if label.button(
        "Send to labeling",
        key=f"monitoring.label.{key}",
        disabled=act_refused is not None,
        help=f"the drifted live items the model is least sure of (alert #{lead.alert_id}) "
        "become a labeling task",
    ):
        with st.status("Choosing the drifted, uncertain live items…") as status:
            task = attempt(api.monitoring.send_to_labeling, lead.alert_id)
            if task is not None:
                forget()
                status.update(label=f"Created {task_text(task)}.", state="complete")
    if retrain.button(
        "Request retraining",
        key=f"monitoring.retrain.{key}",
        disabled=act_refused is not None,
        help="the next `loopline build` picks the request up and records it as its trigger",
    ):
        request = attempt(api.monitoring.request_retraining, lead.alert_id, note)
        if request is not None:
            forget()
            st.success(f"{request_text(request, lead)} is pending for the next build.")
    for refused in {id(r): r for r in (ack_refused, act_refused) if r is not None}.values():
        explain(refused)
