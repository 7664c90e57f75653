"""Monitoring page: open it, pick a feature and see its drift; acknowledge an alert."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.monitoring.alerts import get_alert, list_alerts
from core.monitoring.service import compute_windows
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in
from tests.conftest import ROOT
from tests.core.test_monitoring import LEAD, log_hw_triage

PAGE = "views/monitoring.py"


@pytest.fixture(scope="module")
def monitored(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo copy whose production model answered the firmware rollout (real predictions in the
    service's log format), with its weekly windows computed."""
    target = tmp_path_factory.mktemp("app-monitor") / "ws"
    shutil.copytree(demo_workspace, target)
    ws = Workspace.open(target)
    log_hw_triage(ws, every=8)
    compute_windows(ws, "hw-triage", grain="week", actor=LEAD)
    return target


@pytest.fixture
def at(monitored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    target = tmp_path / "ws"
    shutil.copytree(monitored, target)
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(target))
    monkeypatch.setenv("LOOPLINE_USER", "lead")
    if PAGE in Path(MAIN).read_text(encoding="utf-8"):
        app = sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")
        app.switch_page(PAGE)
    else:  # until the navigation lists the page
        app = AppTest.from_file(str(ROOT / "app" / PAGE), default_timeout=120)
    app.run()
    app.selectbox(key="monitoring.project").set_value("hw-triage").run()
    return app


def test_pick_a_feature_and_see_its_drift(at: AppTest) -> None:
    assert not at.exception
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Predictions"] != "0" and tiles["Open alerts"] != "0"
    assert at.selectbox(key="monitoring.grain").value == "week"
    features = at.selectbox(key="monitoring.feature").options
    assert features[0] == "firmware_version"  # the most drifted input comes first
    at.selectbox(key="monitoring.feature").set_value("reboot_count").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Window "))
    assert "psi" in caption and "ks_p" in caption
    assert len(at.get("plotly_chart")) >= 5  # latency, accuracy, class mix, heatmap, distribution


def test_acknowledge_an_alert(at: AppTest) -> None:
    alert = next(a for a in list_alerts(_ws(), "hw-triage") if a.metric == "drift.score")
    at.text_input(key=f"monitoring.note.{alert.alert_id}").input(
        "firmware R24.1 rollout; labeling it"
    ).run()
    at.button(key=f"monitoring.ack.{alert.alert_id}").click().run()
    assert not at.exception and not at.error
    done = get_alert(_ws(), alert.alert_id)
    assert done.status == "acknowledged"
    assert done.acks[0][1] == "firmware R24.1 rollout; labeling it"


def _ws() -> Workspace:
    import os

    return Workspace.open(os.environ["LOOPLINE_WORKSPACE"])
