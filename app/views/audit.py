"""Audit log: who changed what, when, from where; filters, a chart per day, a CSV export."""

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from app.deps import client, show_error
from core.api import CoreError
from core.api.types import AuditQuery

ANY = "(any)"

st.title("🧾 Audit log")
st.caption(
    "Every change in the workspace, append-only: who (user), when (UTC), via which surface (app, "
    "CLI, service), what, on what. Failed sign-ins and user changes are here too. Nobody can "
    "edit or delete an entry."
)
api = client()
if not api.accounts.allowed("audit.read"):
    st.error("The audit log is for managers and admins.", icon="🔒")
    st.stop()

actions = api.accounts.audit_actions()
groups = sorted({a.split(".")[0] + "." for a in actions if "." in a})
top = st.columns([1, 1, 1, 2])
who = top[0].selectbox("Actor", [ANY, *api.accounts.audit_actors()], key="audit.actor")
what = top[1].selectbox(
    "Action",
    [ANY, *sorted({*actions, *groups})],
    key="audit.action",
    help="an action, or a family ending in '.' (users. = every user change)",
)
projects = [p.name for p in api.projects.list()]
project = top[2].selectbox("Project", [ANY, *projects], key="audit.project")
text = top[3].text_input("Text in target or details", key="audit.text", max_chars=200)
today = datetime.now(UTC).date()  # the wall clock: the demo's story (May–September) is older
days = st.date_input(
    "Days (UTC)", value=(today - timedelta(days=365), today), key="audit.days", max_value=today
)
start, end = (days[0], days[-1]) if isinstance(days, tuple | list) and days else (None, None)
query = AuditQuery(
    actor=None if who == ANY else who,
    action=None if what == ANY else what,
    project=None if project == ANY else project,
    since=datetime.combine(start, time.min) if start else None,
    until=datetime.combine(end, time.min) + timedelta(days=1) if end else None,
    text=text.strip() or None,
    limit=5000,
)
try:
    entries, total = api.accounts.audit(query)
except CoreError as error:
    show_error(error)
    st.stop()

if not entries:
    st.info("No entries match these filters.")
    st.stop()
frame = pd.DataFrame(
    [
        {
            "at (UTC)": e.at,
            "actor": e.actor,
            "via": e.via,
            "action": e.action,
            "project": e.project or "",
            "target": e.target or "",
            "details": ", ".join(f"{k}: {v}" for k, v in e.details.items()),
        }
        for e in entries
    ]
)
left, right = st.columns([3, 1])
per_day = frame.assign(day=frame["at (UTC)"].dt.date).groupby(["day", "via"]).size()
chart = px.bar(
    per_day.rename("entries").reset_index(),
    x="day",
    y="entries",
    color="via",
    height=220,
    labels={"day": "", "entries": "entries"},
)
chart.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend_title_text="")
left.plotly_chart(chart, key="audit.chart")
right.metric("Entries", f"{total:,}")
right.metric("Failed sign-ins", int((frame["action"] == "login.failed").sum()))
if total > len(entries):
    st.caption(
        f"Showing the newest {len(entries):,} of {total:,}; narrow the filters to see others."
    )
st.dataframe(frame, hide_index=True, key="audit.table", width="stretch")
st.download_button(
    "Export these entries as CSV",
    data=lambda: api.accounts.export_audit(query),
    file_name=f"loopline-audit-{today:%Y%m%d}.csv",
    mime="text/csv",
    key="audit.export",
    help="Cells starting with = + - @ are prefixed with ' so spreadsheets show them as text. "
    "The export itself is recorded.",
)
