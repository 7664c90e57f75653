"""Ingesting an uploaded file: written to a temporary file (never under the uploaded name)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from core.actor import Actor
from core.data.formats import detect_format
from core.data.service import IngestRefused, ingest
from core.errors import CoreError
from core.store import Workspace


def ingest_upload(ws: Workspace, project: str, upload: Any, mode: str) -> None:
    with st.status(f"Ingesting {upload.name} …", expanded=True) as status:
        bar = st.progress(0.0)
        try:
            fmt = detect_format(upload.name)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"upload.{fmt}"
                path.write_bytes(upload.getvalue())
                result = ingest(
                    ws,
                    project,
                    path,
                    Actor.from_env("app"),
                    display_name=upload.name,
                    fmt=fmt,
                    mode=mode,
                    progress=lambda stage, f: bar.progress(f, text=stage),
                )
        except IngestRefused as refused:
            status.update(label=refused.message, state="error")
            st.dataframe(
                [
                    {"row": p.row, "column": p.column, "problem": p.problem, "expected": p.expected}
                    for p in refused.problems
                ],
                hide_index=True,
            )
            if refused.count > len(refused.problems):
                st.caption(f"… and {refused.count - len(refused.problems)} more.")
            return
        except CoreError as error:
            status.update(label=error.message, state="error")
            if error.hint:
                st.caption(f"How to fix it: {error.hint}")
            return
        if result.unchanged:
            status.update(
                label=f"No change: {result.dataset.ref} already holds exactly these rows.",
                state="complete",
            )
            return
        status.update(
            label=f"{result.dataset.ref}: {result.new_rows:,} new rows, {result.total_rows:,} in all",
            state="complete",
        )
        for flag in result.flags:
            st.warning(flag)
