"""Review & label sets: settle disagreements, read agreement, freeze, export and import, new tasks."""

import streamlit as st

from app.components.review import (
    agreement_tab,
    freeze_tab,
    interchange_tab,
    new_task_tab,
    review_tab,
)
from app.components.words import plural
from app.deps import current_user, project_picker, workspace
from core.actor import Actor
from core.labeling.review import review_queue
from core.labeling.tasks import list_tasks

st.title("⚖️ Review & label sets")
st.caption("Reviewers settle disagreements; frozen label sets are what models are trained on.")
ws = workspace()
left, right = st.columns(2)
project = project_picker(ws, "review.project", container=left)
name = project.name
who = Actor(current_user(), "app")
tasks = list_tasks(ws, name)
if not tasks:
    st.info("This project has no labeling task yet: create one below.")
    new_task_tab(ws, project, who)
    st.stop()
by_id = {t.task_id: t for t in tasks}
waiting = {t.task_id: review_queue(ws, t.task_id, limit=0)[1] for t in tasks}
# The task with the most items to review first (the default), then the newest.
order = sorted(by_id, key=lambda t: (-waiting[t], -by_id[t].task_id))
task = by_id[
    int(
        right.selectbox(
            "Task",
            order,
            key="review.task",
            format_func=lambda t: (
                f"{by_id[t].label} · {waiting[t]:,} to review · {plural(by_id[t].items, 'item')}"
            ),
        )
    )
]

review, agreement, frozen, interchange, new = st.tabs(
    ["Review queue", "Agreement", "Freeze", "Export / import", "New task"]
)
with review:
    review_tab(ws, task, project, who)
with agreement:
    agreement_tab(ws, task, project)
with frozen:
    freeze_tab(ws, project, tasks, task, who)
with interchange:
    interchange_tab(ws, project, task, who)
with new:
    new_task_tab(ws, project, who)
