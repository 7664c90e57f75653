"""Data: dataset versions per project, their quality reports, and ingesting a new file."""

import pandas as pd
import plotly.express as px
import streamlit as st

from app.components.draft import draft_flow
from app.components.tables import shown
from app.components.upload import ingest_upload, quality_warning
from app.deps import attempt, client, project_picker

st.title("🗃️ Data")
st.caption(
    "Every ingest is checked against the project's schema and becomes a new dataset version."
)
api = client()
with st.expander("New project from a file", icon="🧾"):
    st.caption(
        "Upload a data file (and a separate labels file if the labels live apart): Loopline "
        "drafts the project file from the values for you to review, then creates the project."
    )
    draft_flow(api)
name = project_picker(api, "data.project").name

with st.expander("Ingest a file", icon="📥"):
    st.caption(
        "CSV, Parquet or JSONL with the project's columns. A file with any problem is refused "
        "as a whole and nothing is written."
    )
    upload = st.file_uploader("File", type=["csv", "parquet", "jsonl"], key="data.upload")
    mode = st.radio(
        "Mode",
        ["append", "replace"],
        horizontal=True,
        key="data.mode",
        help="append: add to the latest version (same id = replaced); replace: start afresh",
    )
    if upload is not None and st.button("Check and ingest", type="primary", key="data.ingest"):
        ingest_upload(api, name, upload, mode)

versions = api.artifacts.list(kind="dataset", project=name)
if not versions:
    st.info("This project has no data yet. Ingest a file above.")
    st.stop()
st.subheader("Dataset versions")
st.dataframe(
    shown(
        pd.DataFrame(
            [
                {
                    "version": f"v{d.version}",
                    "rows": d.metadata.get("rows"),
                    "new rows": d.metadata.get("new_rows"),
                    "from": str((d.metadata.get("time_range") or {}).get("from", ""))[:10],
                    "to": str((d.metadata.get("time_range") or {}).get("to", ""))[:10],
                    "mode": d.metadata.get("mode"),
                    "registered": d.created_at,
                    "by": d.created_by,
                    "id": d.artifact_id,
                }
                for d in versions
            ]
        )
    ),
    hide_index=True,
    width="stretch",
)
chosen = st.selectbox(
    "Quality report of",
    versions,
    key=f"data.version.{name}",  # per project: a version of another is no choice here
    format_func=lambda d: f"v{d.version}",
)
report = attempt(lambda: api.data.quality(chosen.artifact_id))
if report:
    left, middle, right = st.columns(3)
    left.metric("Rows ingested", f"{report['rows']:,}")
    middle.metric("Rows repeating another's content", report["duplicate_content_rows"])
    right.metric("Ids replaced", report["ids_already_in_previous_version"])
    columns = pd.DataFrame(report["columns"])
    quality_warning(api.data.quality_flags(report))
    chart = px.bar(
        columns,
        x="column",
        y="missing_rate",
        labels={"missing_rate": "missing"},
        height=260,
        title="Missing values per column",
    )
    chart.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, yaxis_tickformat=".0%")
    st.plotly_chart(chart, key="data.missing")
    profile = [
        c
        for c in (
            "column",
            "type",
            "missing",
            "distinct",
            "min",
            "max",
            "mean",
            "outside_previous_range",
            "new_categories",
        )
        if c in columns
    ]
    st.dataframe(
        shown(columns[profile], counts=True), hide_index=True, width="stretch"
    )  # '—', never None
