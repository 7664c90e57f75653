"""Monitoring page on the demo's own live traffic (the real service answered the firmware rollout
and the new market, monitoring recorded the windows): pick a feature and see its drift;
acknowledge an alert; request retraining; alerts and tasks are shown by what they are about."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.monitoring.alerts import get_alert, list_alerts
from core.monitoring.loop import tasks_of
from core.monitoring.retrain import list_retrain_requests
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


def test_request_retraining_names_the_alert(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    alert = next(a for a in list_alerts(ws, "hw-triage") if a.status == "open")
    about = f"{alert.metric} [{alert.slice}]" if alert.slice else alert.metric
    at.button(key=f"monitoring.retrain.{alert.alert_id}").click().run()
    assert not at.exception and not at.error
    request = next(r for r in list_retrain_requests(ws, "hw-triage") if r.status == "pending")
    named = f"Retraining request #{request.request_id} from alert #{alert.alert_id} ({about})"
    assert at.success[-1].value == f"{named} is pending for the next build."
    at.run()
    assert any(i.value.startswith(f"{named} waits for the next") for i in at.info)


def test_a_task_sent_from_an_alert_is_shown_by_its_name(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    task = next(t for a in list_alerts(ws, "ooo-replies") for t in tasks_of(ws, a))
    # the demo sent the new market's drifted replies to labeling from an alert
    at.selectbox(key="monitoring.project").set_value("ooo-replies").run()
    assert not at.exception
    shown = [c.value for c in at.caption if c.value.startswith("🏷️ Sent to")]
    named = f"🏷️ Sent to labeling task “{task.name}” (#{task.task_id}, {task.items:,} items"
    assert any(c.startswith(named) for c in shown), shown
