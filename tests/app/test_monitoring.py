"""Monitoring page on the demo's own live traffic (the real service answered the firmware rollout
and the new market, monitoring recorded the windows): pick a feature and see its drift;
acknowledge an alert."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.monitoring.alerts import get_alert, list_alerts
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in

PAGE = "views/monitoring.py"


@pytest.fixture
def at(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    app = sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")
    app.switch_page(PAGE).run()
    app.selectbox(key="monitoring.project").set_value("hw-triage").run()
    assert not app.exception, app.exception
    return app


def test_pick_a_feature_and_see_its_drift(at: AppTest) -> None:
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Predictions"] not in ("0", "") and "Open alerts" in tiles
    features = at.selectbox(key="monitoring.feature").options
    assert "firmware_version" in features and "reboot_count" in features
    at.selectbox(key="monitoring.feature").set_value("firmware_version").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Window "))
    assert "psi" in caption and "chi2_p" in caption
    assert len(at.get("plotly_chart")) >= 5  # latency, accuracy, class mix, heatmap, distribution
    at.selectbox(key="monitoring.feature").set_value("reboot_count").run()
    caption = next(c.value for c in at.caption if c.value.startswith("Window "))
    assert not at.exception and "ks_p" in caption


def test_acknowledge_an_alert(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    alert = next(a for a in list_alerts(ws, "hw-triage") if a.status == "open")
    note = "firmware R24.1 rollout; its units go to labeling"
    at.text_input(key=f"monitoring.note.{alert.alert_id}").input(note).run()
    at.button(key=f"monitoring.ack.{alert.alert_id}").click().run()
    assert not at.exception and not at.error
    done = get_alert(ws, alert.alert_id)
    assert done.status == "acknowledged" and done.acks[-1][:2] == ("lead", note)
