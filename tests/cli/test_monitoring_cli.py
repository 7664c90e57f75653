"""`loopline monitor`, `alerts` and `alert`: tables, JSON, and exit 1 while an alert is open."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from core.actor import Actor
from core.cli import main
from core.monitoring.retrain import consume_retrain_request, pending_retrain_request
from core.projects.service import create_project
from core.store import Workspace
from tests.conftest import FIXTURES
from tests.core.test_monitoring import log_hw_triage


@pytest.fixture(scope="module")
def logged(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("cli-monitor") / "ws"
    shutil.copytree(demo_workspace, target)
    log_hw_triage(Workspace.open(target), every=8)
    return target


@pytest.fixture
def workspace(logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPLINE_USER", "lead")
    target = tmp_path / "ws"
    shutil.copytree(logged, target)
    return target


def test_monitor_prints_windows_drift_and_alerts(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-w", str(workspace), "monitor", "hw-triage", "--window", "week"]) == 1
    out = capsys.readouterr().out
    assert "hw-triage · week windows · computed" in out
    assert "window" in out and "p95 ms" in out and "est. acc." in out
    assert "Drift per feature" in out and "firmware_version" in out
    assert "ranked by drift score; drifted when its score reaches 0.1" in out
    table = out[out.index("Drift per feature") :].splitlines()
    ticks = [line.split()[2] for line in table[2:] if line.split()[2:3] in (["yes"], ["no"])]
    assert ticks and ticks == sorted(ticks, reverse=True)  # every "yes" above every "no"
    opened = out[out.index("Open alerts") :]  # named for people, in the metric's unit
    assert re.search(r"#\d+ warning: drift score = [\d.]+, above 0\.25 \(", opened), opened
    assert "drift.score" not in opened
    assert re.search(r"Drift per feature in the week of 2026-\d\d-\d\d \(vs", out)
    assert main(["-w", str(workspace), "monitor", "hw-triage", "--window", "week", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["new_alerts"] == []  # computing again opens nothing new
    assert len(data["windows"]) == 14 and "drift.score" in data["windows"][-1]["metrics"]
    assert "firmware_version" in data["drift"] and data["open_alerts"]


def test_alerts_and_acknowledging_them(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-w", str(workspace), "monitor", "hw-triage", "--window", "week", "--json"])
    opened = [a["alert_id"] for a in json.loads(capsys.readouterr().out)["open_alerts"]]
    assert main(["-w", str(workspace), "alerts", "hw-triage"]) == 0
    listed = capsys.readouterr().out  # the incident and its alerts named as the page names them
    assert re.search(r"Incident #\d+ \(\w+, \d+ alerts?\): .*drift score", listed), listed
    assert "drift.score" not in listed
    assert main(["-w", str(workspace), "alert", "ack", str(opened[0])]) == 2
    assert "Say what you will do about the alert" in capsys.readouterr().err
    for alert_id in opened:
        assert (
            main(["-w", str(workspace), "alert", "ack", str(alert_id), "--note", "rollout known"])
            == 0
        )
    assert "Acknowledged" in capsys.readouterr().out
    assert (
        main(["-w", str(workspace), "monitor", "hw-triage", "--window", "week", "--last", "2"]) == 0
    )
    assert "No open alerts." in capsys.readouterr().out
    with Workspace.open(workspace).store.transaction() as tx:  # a build answers the demo's request
        earlier = pending_retrain_request(tx, "hw-triage")
        if earlier is not None:
            consume_retrain_request(tx, earlier.request_id, build_id=98)
    assert (
        main(["-w", str(workspace), "alert", "retrain", str(opened[0]), "--note", "new firmware"])
        == 0
    )
    assert "is pending; the next `loopline build hw-triage` picks it up" in capsys.readouterr().out
    assert main(["-w", str(workspace), "alerts", "hw-triage", "--all", "--json"]) == 0
    alerts = [a for i in json.loads(capsys.readouterr().out) for a in i["alerts"]]
    drift = next(a for a in alerts if a["metric"] == "drift.score")  # the key stays for scripts
    assert drift["name"] == "drift score"


def test_a_project_without_predictions_and_an_unknown_one(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = Workspace.init(tmp_path / "fresh")
    create_project(fresh, FIXTURES / "tickets.yaml", Actor("tester", "test"))
    assert main(["-w", str(fresh.root), "monitor", "tickets"]) == 0
    captured = capsys.readouterr()
    assert "No predictions logged for tickets yet" in captured.err
    assert "No open alerts." in captured.out
    assert main(["-w", str(workspace), "monitor", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["-w", str(workspace), "monitor", "hw-triage", "--last", "0"]) == 2
    assert "--last takes a positive number of windows, got 0." in capsys.readouterr().err
