"""A candidate beside production on the same live traffic (shadow or canary): agreement, each
model's estimated and realized accuracy with 95% intervals, latency, and the slices."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components.tables import shown
from app.deps import attempt
from core.api import Client
from core.api.models import CandidateComparison


def candidate_panel(api: Client, project: str) -> None:
    """The Monitoring page's candidate section: one call, then render (nothing without one)."""
    comparison = attempt(api.models.compare_candidate, project)
    if comparison is not None:
        render_comparison(comparison)


def render_comparison(c: CandidateComparison) -> None:
    st.subheader(f"Candidate #{c.candidate_id} beside production #{c.production_id} ({c.mode})")
    if not c.pairs:
        st.info(
            "No request scored by both yet: serve with `loopline serve PROJECT --shadow` "
            "(or `--canary PERCENT`).",
            icon="ℹ️",
        )
        return
    left, middle, right = st.columns(3)
    left.metric("Agreement", f"{c.agreement.value:.1%}", f"n = {c.pairs:,}", delta_color="off")
    middle.metric(
        "Realized accuracy (candidate)",
        _share(c.candidate.realized_accuracy.value),
        _versus(c),
        delta_color="off",
    )
    right.metric(
        "p95 latency (candidate)",
        _ms(c.candidate.latency_p95_ms),
        f"production {_ms(c.production.latency_p95_ms)}",
        delta_color="off",
    )
    st.dataframe(shown(_sides(c)), hide_index=True, key="monitoring.candidate_sides")
    if c.slices:
        st.dataframe(shown(_slices(c)), hide_index=True, key="monitoring.candidate_slices")


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _versus(c: CandidateComparison) -> str:
    production = c.production.realized_accuracy
    return f"production {_share(production.value)} (n = {production.n:,} labeled)"


def _sides(c: CandidateComparison) -> pd.DataFrame:
    rows = []
    for name, side in (("production", c.production), ("candidate", c.candidate)):
        rate = side.realized_accuracy
        rows.append(
            {
                "model": f"{name} #{side.model_id}",
                "answered": side.answered,
                "estimated accuracy": side.estimated_accuracy,
                "realized accuracy": rate.value,
                "95% CI": None if rate.value is None else f"{rate.lower:.3f}–{rate.upper:.3f}",
                "labeled n": rate.n,
                "p50 ms": side.latency_p50_ms,
                "p95 ms": side.latency_p95_ms,
            }
        )
    return pd.DataFrame(rows)


def _slices(c: CandidateComparison) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "slice": s.slice,
                "n": s.n,
                "agreement": s.agreement.value,
                "production accuracy": s.production_accuracy.value,
                "candidate accuracy": s.candidate_accuracy.value,
                "labeled n": s.candidate_accuracy.n,
                "judged": "yes" if s.judged else "too few to judge",
            }
            for s in c.slices
        ]
    )
