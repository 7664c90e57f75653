"""Labeling: the signed-in user picks a task and labels one item at a time (keys 1–9, s, u)."""

import streamlit as st

from app.components.labeling import label_panel, release_focus
from app.components.words import plural
from app.deps import client, project_picker

st.title("🏷️ Labeling")
st.caption("One item at a time. Keys: 1–9 pick a class, s skips, u undoes your last answer.")
api = client()
actor = api.actor  # answers are saved in the signed-in user's name, never a typed one
left, middle, right = st.columns([1, 1, 2])
left.markdown("**Labeling as**")
left.text(actor.name)
open_tasks = [t for t in api.labeling.tasks() if t.status == "open"]
left_here = api.labeling.left_for([t.task_id for t in open_tasks], actor.name)
work = {t.project: 0 for t in open_tasks}
for t in open_tasks:
    work[t.project] += left_here.get(t.task_id, 0)
project = project_picker(
    api, "labeling.project", container=middle, prefer={p for p, n in work.items() if n}
)
tasks = {t.task_id: t for t in open_tasks if t.project == project.name}
elsewhere = [
    f"{p} ({plural(n, 'item')})" for p, n in sorted(work.items()) if n and p != project.name
]
if elsewhere and not work.get(project.name):
    st.info(f"Nothing left for you here; work waits in {', '.join(elsewhere)}.", icon="👉")
if not tasks:
    st.info(
        f"{project.title} has no open task. Pick another project, or create a task on the "
        "Review & label sets page."
    )
    st.stop()
newest_first = sorted(tasks, key=lambda t: (tasks[t].created_at, t), reverse=True)
with_work = [t for t in newest_first if left_here.get(t, 0)]
# The newest task with items left for this user comes first and is the default.
order = with_work + [t for t in newest_first if t not in with_work]
task_id = right.selectbox(
    "Task",
    order,
    key="labeling.task",
    format_func=lambda t: f"{tasks[t].label} · {plural(left_here.get(t, 0), 'item')} left for you",
)
task = tasks[int(task_id)]
release_focus((project.name, task.task_id))  # after a choice, keys 1–9, s and u label at once
if task.instructions:
    st.caption(f"Instructions: {task.instructions}")

label_panel(api, task, project)
