"""The traceability page's imported document: the requirements tool's sections, text nodes and
requirements in their order, and one requirement's attributes as the tool gave them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app.components.traceability import label
from core.api import Client
from core.api.types import Matrix


def document_tab(api: Client, project: str, matrix: Matrix) -> None:
    """The last imported document that had a structure, each requirement with its status."""
    nodes = api.requirements.document(project)
    if not nodes:
        st.info(
            "No imported document has a structure yet. Import a requirements tool's ReqIF export "
            "(`loopline requirements import FILE.reqif [--mapping MAP.yaml]`): its headings, "
            "sections and text show here, in the tool's order."
        )
        return
    st.caption(f"{nodes[0].specification} and the rest of the document, as the tool ordered it.")
    current = ""
    for node in nodes:
        if node.specification != current:
            current = node.specification
            st.subheader(current)
        if node.kind == "section":
            level = "#" * min(node.depth + 4, 6)  # deeper sections, smaller headings
            st.markdown(f"{level} {node.title}")
        elif node.kind == "text":
            st.text(node.text)
        else:
            rid = node.requirement_id or ""
            item = matrix.requirements.get(rid)
            check = f" · `{item.check_text}`" if item is not None and item.is_ml else ""
            st.markdown(f"- **{rid}** {node.title} · {label(matrix.statuses.get(rid))}{check}")


def attributes_frame(attributes: Mapping[str, Mapping[str, Any]] | None) -> pd.DataFrame:
    """One row per attribute the tool gave: its name, ReqIF type and value."""
    rows: Sequence[dict[str, str]] = [
        {"attribute": name, "type": str(given["type"]), "value": _shown(given["value"])}
        for name, given in (attributes or {}).items()
    ]
    return pd.DataFrame(list(rows), columns=["attribute", "type", "value"])


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def attributes_table(attributes: Mapping[str, Mapping[str, Any]] | None) -> None:
    if attributes:
        st.markdown("**From the requirements tool**")
        st.dataframe(attributes_frame(attributes), hide_index=True, key="traceability.attributes")
