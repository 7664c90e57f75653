"""Experiments: every run of a project, searchable, and a comparison of the ones you pick."""

import streamlit as st

from app.components.compare import comparison_view
from app.components.runs import parameter_effects
from app.components.tables import shown as readable
from app.deps import attempt, cached, client, project_picker, show_error
from core.api import CoreError

PAGE = 200  # the newest runs matching the filter: a table and a picker a browser draws at once

BUILD_ICONS = {"successful": "✅", "failed": "❌", "aborted": "⚠️", "running": "⏳"}

st.title("🧪 Experiments")
st.caption(
    "Each run records its label set, dataset, code commit, parameters and metrics overall and per slice."
)
api = client()
left, right = st.columns([1, 2])
name = project_picker(api, "experiments.project", container=left).name
query = right.text_input(
    "Filter",
    key="experiments.filter",
    placeholder="metrics.f1_macro > 0.8 and status = 'finished'",
    help="Fields: metrics.NAME, params.NAME, tags.NAME, status, name … joined with AND",
)
try:
    table = api.runs.search(name, query or "", ["run_id DESC"], PAGE)
except CoreError as error:  # a malformed filter: say why under it and show every run meanwhile
    with right:
        show_error(error)
        st.caption("Showing every run until the filter is fixed.")
    table = api.runs.search(name, "", ["run_id DESC"], PAGE)
runs = table.frame
for notice in table.notices:
    st.warning(notice, icon="🔎")
if runs.empty and (query or "").strip():
    st.info("No run matches the filter.")
    st.stop()
if runs.empty:
    st.info("No runs yet. Train one with `loopline train PROJECT` or `loopline build PROJECT`.")
    st.stop()
production = api.models.find_alias(name)
production_run = production.metadata.get("run_id") if production else None
runs.insert(1, "★", ["★" if r == production_run else "" for r in runs["run_id"]])
built = {b.run_id: b for b in api.builds.list(name) if b.run_id is not None}
runs.insert(
    2,
    "build",
    [
        f"{BUILD_ICONS.get(built[r].status, '')} {built[r].label} {built[r].status}"
        if r in built
        else "—"
        for r in runs["run_id"]
    ],
)
if "code_commit" in runs:  # a short hash, as git shows it: the full one pushes the metrics out
    runs["code_commit"] = runs["code_commit"].str[:10]
shown = [
    c
    for c in runs.columns
    if not c.startswith("metrics.")
    or c in ("metrics.accuracy", "metrics.f1_macro", "metrics.roc_auc", "metrics.latency_p95_ms")
]
st.dataframe(
    readable(runs[shown]),
    hide_index=True,
    width="stretch",
    height=min(400, 35 * (len(runs) + 1) + 3),
)
names = dict(zip(runs["run_id"].astype(int), runs["name"], strict=True))


def run_text(run_id: int) -> str:
    """A run as people know it: its number and its name (``#12 build-3``)."""
    return f"#{run_id} {names[run_id]}" if names.get(run_id) else f"#{run_id}"


newest = f"the newest {len(runs):,} of {table.total:,} runs" if table.total > len(runs) else ""
st.caption(
    " · ".join(
        part
        for part in (
            newest or f"{table.total:,} run{'' if table.total == 1 else 's'}",
            f"★ production is {production.name} v{production.version}, trained by run "
            f"{run_text(production_run)}"
            if production and production_run
            else "no model in production yet",
            "narrow them down with the filter" if newest else "",
        )
        if part
    )
)
effects = parameter_effects(runs, run_text)
if effects is not None:
    st.plotly_chart(effects, key="experiments.effects")

st.subheader("Compare runs")
picked = f"experiments.compare.{name}"  # one per project: another project's runs are others
kept = [int(r) for r in st.session_state.get(picked, [])]  # picked before a new filter
chosen = st.multiselect(
    "Runs (2 to 10)",
    [*kept, *(int(r) for r in runs["run_id"] if int(r) not in kept)],
    key=picked,
    max_selections=10,
    format_func=run_text,
    placeholder="Pick runs, e.g. the newest and the one in production",
)
if not chosen:  # nothing by default: a comparison re-scores the test set (seconds on 10,000 items)
    st.caption(
        "Each run you pick is re-scored on the project's current test set and set against the "
        "model in production."
    )
else:
    comparison = attempt(cached, "runs", "compare", chosen)  # re-scores the test set: kept
    if comparison:
        comparison_view(comparison, attempt(cached, "builds", "slice_findings", chosen) or [])
