"""Review & label sets: settle disagreements, read agreement, freeze, export and import, new tasks."""

import streamlit as st

from app.components.review import (
    agreement_tab,
    freeze_tab,
    import_form,
    interchange_tab,
    new_task_tab,
    review_tab,
)
from app.components.words import plural
from app.deps import cached, client, project_picker

st.title("⚖️ Review & label sets")
st.caption("Reviewers settle disagreements; frozen label sets are what models are trained on.")
api = client()
left, right = st.columns(2)
project = project_picker(api, "review.project", container=left)
name = project.name
tasks = api.labeling.tasks(name)
if not tasks:
    st.info("This project has no labeling task yet: create one, or import a Label Studio project.")
    new_task_tab(api, project)
    st.divider()
    import_form(api, project)
    st.stop()
by_id = {t.task_id: t for t in tasks}
waiting = {t.task_id: cached("labeling", "review_queue", t.task_id, limit=20)[1] for t in tasks}
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
    review_tab(api, task, project)
with agreement:
    agreement_tab(api, task, project)
with frozen:
    freeze_tab(api, project, tasks, task)
with interchange:
    interchange_tab(api, project, task)
with new:
    new_task_tab(api, project)
