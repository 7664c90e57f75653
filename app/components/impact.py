"""The impact panel shown before any move of the production alias (promotion and rollback alike):
what would become violated, inconclusive or suspect, with the old evidence of a version that
served before; red when anything would be violated."""

import streamlit as st

from core.api.models import CandidateComparison
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


def live_evidence(comparison: CandidateComparison) -> None:
    """What the version did beside production on live traffic (shadow or canary): agreement and
    realized accuracy of both on the same labeled requests, with their 95% intervals."""
    if not comparison.pairs:
        return
    c, p = comparison.candidate.realized_accuracy, comparison.production.realized_accuracy
    lines = [
        f"- **agreement** with production on {comparison.pairs:,} live request(s) "
        f"({comparison.mode}): {comparison.agreement.text()}",
        f"- **realized accuracy** on the same labeled requests: this version {c.text()}, "
        f"production {p.text()}",
    ]
    if c.upper is not None and p.lower is not None and c.upper < p.lower:
        st.error(
            "On live traffic this version is clearly less accurate than production.", icon="⛔"
        )
    st.markdown("**Live evidence**\n" + "\n".join(lines))
