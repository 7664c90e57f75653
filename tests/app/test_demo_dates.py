"""On the demo, the charts that show time tell the story's months (May–September 2026): the
Traceability page's History timeline and the Audit log's entries per day."""

from __future__ import annotations

import json
from datetime import date

from streamlit.testing.v1 import AppTest

from tests.app.conftest import sign_in

STORY = [5, 6, 7, 8, 9]


def chart_dates(at: AppTest, key: str) -> list[date]:
    """The x values (dates) of every trace of the Plotly chart with this key."""
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert charts, f"no chart {key!r} on the page"
    figure = json.loads(charts[0].proto.spec)
    return [date.fromisoformat(str(x)[:10]) for trace in figure["data"] for x in trace["x"]]


def test_the_history_tab_spans_may_to_september(app: AppTest) -> None:
    at = sign_in(app, "maria")
    at.switch_page("views/traceability.py").run()
    at.selectbox(key="traceability.project").select("ooo-replies").run()
    at.session_state["traceability.tab"] = "History"  # only the open tab runs
    dates = chart_dates(at.run(), "traceability.timeline")  # the History tab's chart
    assert {d.year for d in dates} == {2026}
    assert (min(dates).month, max(dates).month) == (5, 9)  # agreed in May … fixed in September


def test_the_audit_chart_spans_may_to_september(app: AppTest) -> None:
    at = sign_in(app, "maria")
    at.switch_page("views/audit.py").run()
    assert not at.exception, at.exception
    story = [d for d in chart_dates(at, "audit.chart") if d.year == 2026 and d.month <= 9]
    assert sorted({d.month for d in story}) == STORY  # (and today's sign-in)
