"""Labeling: the signed-in user picks a task and labels one item at a time (keys 1–9, s, u)."""

import streamlit as st

from app.components.labeling import label_panel
from app.deps import current_actor, workspace
from core.labeling.progress import labels_left
from core.labeling.tasks import list_tasks
from core.projects.service import list_projects

st.title("🏷️ Labeling")
st.caption("One item at a time. Keys: 1–9 pick a class, s skips, u undoes your last answer.")
ws = workspace()
projects = {p.name: p for p in list_projects(ws)}
open_tasks = [t for t in list_tasks(ws) if t.status == "open"]
left_per_task = labels_left(ws, [t.task_id for t in open_tasks])
work = {
    n: sum(left_per_task.get(t.task_id, 0) for t in open_tasks if t.project == n) for n in projects
}
projects = dict(sorted(projects.items(), key=lambda item: -work[item[0]]))  # where work waits first
left, middle, right = st.columns([1, 1, 2])
actor = current_actor()  # answers are saved in the signed-in user's name, never a typed one
left.markdown("**Labeling as**")
left.text(actor.name)
name = middle.selectbox(
    "Project", list(projects), key="labeling.project", format_func=lambda n: projects[n].title
)
tasks = sorted(
    (t for t in open_tasks if t.project == name), key=lambda t: -left_per_task.get(t.task_id, 0)
)
if not tasks:
    st.info("Pick a project with an open task. Tasks are created on the Review & label sets page.")
    st.stop()
task = right.selectbox(
    "Task",
    tasks,
    key="labeling.task",
    format_func=lambda t: f"{t.label} · {left_per_task.get(t.task_id, 0):,} answers to give",
)
if task.instructions:
    st.caption(f"Instructions: {task.instructions}")

label_panel(ws, task, projects[name], actor)
