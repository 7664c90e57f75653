"""The impact panel shown before any move of the production alias (promotion and rollback alike):
what would become violated, inconclusive or suspect, with the old evidence of a version that
served before; red when anything would be violated."""

import streamlit as st

from core.api.types import Impact

ALARMING = ("inconclusive", "suspect", "no_evidence")


def impact_panel(result: Impact) -> None:
    """Red when a requirement would be violated, amber when one would be left unsure, green
    when nothing gets worse; each change on its own line."""
    if result.violates:
        st.error(result.summary, icon="⛔")
    elif any(c.after in ALARMING for c in result.changes):
        st.warning(result.summary, icon="⚠️")
    else:
        st.success(result.summary, icon="✅")
    if result.changes:
        st.markdown(
            "\n".join(f"- **{c.after.replace('_', ' ')}** · {c.message}" for c in result.changes)
        )
