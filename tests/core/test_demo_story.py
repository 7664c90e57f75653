"""The demo tells the story of shared/DEMO-STORY.md through the real mechanisms: these are its facts."""

from __future__ import annotations

from pathlib import Path

from core.artifacts.lineage import lineage
from core.builds.service import list_builds
from core.monitoring.alerts import list_alerts
from core.monitoring.retrain import list_retrain_requests
from core.registry.service import find_alias, promotion_history
from core.requirements.status import current_statuses, status_history
from core.serving.log import PREDICTIONS, count_records
from core.store import Workspace


def test_story_a_new_market_breaks_and_build_3_fixes(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    builds = sorted(list_builds(ws, "ooo-replies"), key=lambda b: b.build_id)
    assert [b.status for b in builds] == ["successful", "failed", "successful"]
    assert "language = en" in builds[1].reason  # the protected English slice stopped build 2
    production = find_alias(ws, "ooo-replies")
    assert production is not None and production.version == 2
    assert len(promotion_history(ws, "ooo-replies")) == 2
    # live traffic went through the service under both production models
    assert count_records(ws, "ooo-replies", PREDICTIONS) > 1000
    # monitoring opened an alert; its items went to labeling and it asked for retraining
    alerts = list_alerts(ws, "ooo-replies")
    assert alerts
    requests = list_retrain_requests(ws, "ooo-replies")
    assert [r.status for r in requests] == ["consumed"]
    assert requests[0].build_id == builds[2].build_id  # the failed build 2 left it pending
    assert "retraining request" in str(builds[2].trigger)
    # lineage: the promoted model ← build 3 ← the alert
    upstream = lineage(ws, production.artifact_id, direction="up")
    kinds = {node.kind for node in upstream.nodes.values()}
    assert {"build", "monitoring", "label_set", "dataset"} <= kinds
    # the requirement that broke in the new market is met again, with the history to show it
    statuses = current_statuses(ws, "ooo-replies")
    missing = [k for k, s in statuses.items() if s.level == "ml" and s.status == "no_evidence"]
    assert missing == []  # builds, monitoring and the final verify-system cover every one
    # (its slices are small, 13–35 replies, so the verdicts carry their intervals: the August
    # monitoring could not call it met any more, and the open alert holds it after the fix)
    history = status_history(ws, "ooo-replies", "ML-3")  # newest first
    assert any(h.previous_status == "met" and h.source == "monitoring" for h in history)
    fixed = history[0]
    assert fixed.model_version == 2 and fixed.lower is not None and fixed.threshold is not None
    assert fixed.lower >= fixed.threshold  # the new model's evidence clears the threshold
    assert statuses["ML-3"].status != "met" or fixed.alert_id is None


def test_story_b_firmware_rollout_is_caught_and_retrained(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    builds = sorted(list_builds(ws, "hw-triage"), key=lambda b: b.build_id)
    assert [b.status for b in builds] == ["successful", "successful"]
    production = find_alias(ws, "hw-triage")
    assert production is not None and production.version == 2
    alerts = list_alerts(ws, "hw-triage")
    assert any(a.metric.startswith("drift") for a in alerts)
    requests = list_retrain_requests(ws, "hw-triage")
    assert [r.status for r in requests] == ["consumed"]
    assert count_records(ws, "hw-triage", PREDICTIONS) > 1000
