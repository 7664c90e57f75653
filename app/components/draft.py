"""A new project from an uploaded data file: draft the project file, review it, create the
project and ingest the file (the `loopline project draft` flow, in the app)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app.deps import show_error
from core.api import Client, CoreError

TEXT = "data.draft.yaml"


def draft_flow(api: Client) -> None:
    """The upload, the options, the draft to review and edit, and the create button."""
    upload = st.file_uploader(
        "Data file", type=["csv", "parquet", "jsonl"], key="data.draft.upload"
    )
    labels = st.file_uploader(
        "Labels file (optional)", type=["csv", "parquet", "jsonl"], key="data.draft.labels"
    )
    left, middle, right = st.columns(3)
    id_column = left.text_input("Id column", key="data.draft.id", placeholder="inferred")
    time_column = middle.text_input("Time column", key="data.draft.time", placeholder="inferred")
    label_column = right.text_input(
        "Label column", key="data.draft.label", placeholder="label, class, diagnosis …"
    )
    if upload is not None and st.button("Draft the project file", key="data.draft.make"):
        text = _draft(api, upload, labels, id_column, time_column, label_column)
        if text is not None:
            st.session_state[TEXT] = text
    if not st.session_state.get(TEXT):
        return
    st.caption("Review every guess (the comments say why), edit, then create the project.")
    reviewed = st.text_area("Project file", key=TEXT, height=420)
    ingest = st.checkbox("Then ingest the data file", value=True, key="data.draft.ingest")
    if st.button("Create the project", type="primary", key="data.draft.create"):
        _create(api, reviewed, upload if ingest else None)


def _draft(
    api: Client, upload: Any, labels: Any, id_column: str, time_column: str, label_column: str
) -> str | None:
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = _saved(Path(tmp), "data", upload, api)
            labels_path = None if labels is None else _saved(Path(tmp), "labels", labels, api)
            draft = api.data.draft(
                path,
                id_column=id_column.strip() or None,
                time_column=time_column.strip() or None,
                label_column=label_column.strip() or None,
                labels_path=labels_path,
                display_name=upload.name,
            )
    except CoreError as error:
        show_error(error)
        return None
    return draft.text


def _create(api: Client, text: str, upload: Any) -> None:
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spec_file = Path(tmp) / "project.yaml"
            spec_file.write_text(text, encoding="utf-8")
            project = api.projects.create(spec_file)
            st.success(f"Project {project.name} created ({project.kind}).", icon="✅")
            if upload is not None:
                path = _saved(Path(tmp), "data", upload, api)
                result = api.data.ingest(project.name, path, display_name=upload.name)
                st.success(f"{result.dataset.ref}: {result.new_rows:,} rows ingested.", icon="📥")
    except CoreError as error:
        show_error(error)


def _saved(folder: Path, stem: str, upload: Any, api: Client) -> Path:
    """The upload written under a name of our own (never the uploaded name)."""
    path = folder / f"{stem}.{api.data.detect_format(upload.name)}"
    path.write_bytes(upload.getvalue())
    return path
