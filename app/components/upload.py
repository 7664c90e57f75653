"""Ingesting an uploaded file: written to a temporary file (never under the uploaded name)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from app.components.words import plural
from app.deps import show_error
from core.api import Client, CoreError, IngestRefused


def quality_warning(flags: Sequence[str]) -> None:
    """Every quality flag in one warning box (a box per flag buries the page)."""
    if not flags:
        return
    lines = "\n".join(f"- {flag}" for flag in flags)
    st.warning(f"**{plural(len(flags), 'thing')} worth a look**\n\n{lines}", icon="🔎")


def ingest_upload(api: Client, project: str, upload: Any, mode: str) -> None:
    """Check and ingest one uploaded file; a refusal is shown as an error with its problems."""
    slot = st.empty()
    bar = slot.progress(0.0, text=f"Reading and checking {upload.name} …")
    try:
        fmt = api.data.detect_format(upload.name)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload.{fmt}"
            path.write_bytes(upload.getvalue())
            result = api.data.ingest(
                project,
                path,
                display_name=upload.name,
                fmt=fmt,
                mode=mode,
                progress=lambda stage, f: bar.progress(f, text=stage),
            )
    except IngestRefused as refused:
        slot.empty()  # no half-filled bar left behind
        st.error(refused.message, icon="⛔")
        st.dataframe(
            [
                {"row": p.row, "column": p.column, "problem": p.problem, "expected": p.expected}
                for p in refused.problems
            ],
            hide_index=True,
            width="stretch",
            key="data.problems",
        )
        if refused.count > len(refused.problems):
            st.caption(f"… and {plural(refused.count - len(refused.problems), 'more problem')}.")
        if refused.hint:
            st.caption(f"How to fix it: {refused.hint}")
        return
    except CoreError as error:
        slot.empty()
        show_error(error)
        return
    slot.empty()
    if result.unchanged:
        st.info(f"No change: {result.dataset.ref} already holds exactly these rows.", icon="ℹ️")
        return
    st.success(
        f"{result.dataset.ref}: {plural(result.new_rows, 'new row')}, "
        f"{plural(result.total_rows, 'row')} in all",
        icon="✅",
    )
    quality_warning(result.flags)
