"""A build's behavioural tests: per test its pass rate with n and 95% interval against what it
needs, and the failing examples of each test that failed."""

from typing import Any

import pandas as pd
import streamlit as st

from core.api.types import Build

KINDS = {"mft": "minimum functionality", "inv": "invariance", "dir": "directional"}


def behave_panel(build: Build) -> None:
    """Nothing when the build ran no suite (the project has no gates/PROJECT.behave.yaml)."""
    if not build.behave:
        st.caption(
            "No behavioural tests in this build: a project's suite lives in "
            f"gates/{build.project}.behave.yaml (docs/behave.md)."
        )
        return
    failed = [t for t in build.behave if not t.passed]
    st.markdown(
        f"**Behavioural tests** · {len(build.behave) - len(failed)} of {len(build.behave)} "
        "passed · each needs a share of its examples to pass (95% Wilson interval)"
    )
    st.dataframe(
        pd.DataFrame([_row(t) for t in build.behave]),
        hide_index=True,
        width="stretch",
        key="builds.behave",
    )
    for test in failed:
        with st.expander(f"❌ {test.name}: {test.passed_n} of {test.n} passed"):
            st.caption(f"expected: {test.expectation}")
            st.dataframe(
                pd.DataFrame(
                    [
                        {"example": f.example, "expected": f.expected, "got": f.got}
                        for f in test.failures
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


def _row(test: Any) -> dict[str, object]:
    """A row of the table; ``test`` is one of ``Build.behave``."""
    interval, rate = test.interval, test.pass_rate
    return {
        "test": test.name,
        "passed": "✅" if test.passed else "❌",
        "type": KINDS.get(test.kind, test.kind),
        "capability": test.capability or "—",
        "pass rate": None if rate is None else round(rate, 3),
        "n": test.n,
        "95% CI": "—" if interval.lower is None else f"{interval.lower:.3f}–{interval.upper:.3f}",
        "needs": f"≥ {test.threshold:g}",
    }
