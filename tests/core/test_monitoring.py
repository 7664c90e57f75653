"""Monitoring on the demo: real predictions of the production model on the later (firmware
rollout) data, logged in the service's format with delayed feedback (on top of whatever live
traffic the demo itself served); windows, evidence rows, alerts, acknowledgements and the loop
back to labeling and retraining."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core.actor import Actor
from core.artifacts.lineage import lineage
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, list_artifacts
from core.errors import InvalidInput
from core.labeling.freeze import freeze
from core.labeling.simulate import AnnotatorProfile, simulate_labeling, truth_table
from core.labeling.tasks import get_task
from core.monitoring.alerts import AlertRule, acknowledge, get_alert, list_alerts
from core.monitoring.loop import send_to_labeling, tasks_of
from core.monitoring.retrain import (
    consume_retrain_request,
    link_build_to_request,
    list_retrain_requests,
    pending_retrain_request,
    request_retraining,
)
from core.monitoring.service import compute_windows
from core.monitoring.windows import latest_windows, load_metrics
from core.projects.service import get_project
from core.registry.service import find_alias, promotion_history, register_run_model
from core.releases.service import promote
from core.store import Workspace
from tests.core.test_monitoring_log import log_predictions, read_sample

LEAD = Actor("lead", "test")
PROJECT = "hw-triage"


def production(ws: Workspace, project: str) -> Artifact:
    """The production model (if the demo's first build missed its latency gate on a loaded
    machine, the model it trained, promoted here)."""
    found = find_alias(ws, project)
    if found is not None:
        return found
    from core.builds.service import list_builds

    build = list_builds(ws, project)[-1]
    assert build.run_id is not None
    model = register_run_model(ws, build.run_id, LEAD)
    return promote(
        ws, project, model.artifact_id, LEAD, reason="the demo build's model, for monitoring tests"
    )


def log_hw_triage(ws: Workspace, every: int = 5) -> pd.DataFrame:
    """The last history weeks and the firmware rollout, answered by production, 60% feedback."""
    spec = get_project(ws, PROJECT).spec
    rows = pd.concat(
        [
            read_sample(PROJECT, "history.csv").tail(1200),
            read_sample(PROJECT, "later.csv").iloc[::every],
        ],
        ignore_index=True,
    )
    truth = read_sample(PROJECT, "truth.csv").set_index("unit_id")["label"]
    times = pd.to_datetime(rows["returned_at"]).dt.tz_localize(None).tolist()
    log_predictions(
        ws,
        production(ws, PROJECT),
        spec,
        rows,
        times,
        truth=truth.reindex(rows["unit_id"]).reset_index(drop=True),
        feedback_share=0.6,
    )
    return rows


@pytest.fixture(scope="module")
def monitored(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo copy with a logged firmware rollout and its weekly windows computed once."""
    target = tmp_path_factory.mktemp("monitored") / "ws"
    shutil.copytree(demo_workspace, target)
    ws = Workspace.open(target)
    log_hw_triage(ws)
    compute_windows(ws, PROJECT, grain="week", actor=LEAD)
    return target


@pytest.fixture
def copy(monitored: Path, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(monitored, target)
    return Workspace.open(target)


def test_windows_record_the_evidence_rows(monitored: Path) -> None:
    ws = Workspace.open(monitored)
    frame = load_metrics(ws, PROJECT, "week")
    overall = set(frame.loc[frame["slice"] == "", "metric"])
    for metric in (
        "volume",
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "accuracy",
        "recall.hardware_fault",
        "estimated.accuracy",
        "estimated.recall.hardware_fault",
        "class_share.software_fault",
        "drift.psi.reboot_count",
        "drift.ks.reboot_count",
        "drift.ks_p.reboot_count",
        "drift.chi2_p.firmware_version",
        "drift.js.firmware_version",
        "drift.psi.prediction",
        "drift.score",
    ):
        assert metric in overall, metric
    sliced = frame[frame["slice"] == "firmware_version = R24.1"]
    assert {"volume", "accuracy", "estimated.accuracy"} <= set(sliced["metric"])
    assert set(frame["kind"]) == {"operational", "realized", "estimated", "drift"}
    served = set(frame["model_id"].dropna())
    with ws.store.read() as tx:
        stored = tx.scalar(
            "SELECT count(*) FROM monitor_reference_sets WHERE project = ?", [PROJECT]
        )
    assert stored >= len(served) >= 1  # once per model version, not per window or run
    windows = latest_windows(ws, PROJECT, "week", 4)
    late = windows[-2]  # the last full week: the rollout is well under way
    assert (late.value("drift.psi.firmware_version") or 0) > 0.25
    assert late.value("drift.ks_p.reboot_count") is not None
    assert late.value("volume") == late.count("volume")


def test_recomputing_opens_no_second_alert(copy: Workspace) -> None:
    before = {(a.rule, a.metric, a.slice): a.alert_id for a in list_alerts(copy, PROJECT)}
    assert ("drift", "drift.score", "") in before
    assert any(
        s == "firmware_version = R24.1" for _, m, s in before if m == "recall.hardware_fault"
    )
    again = compute_windows(copy, PROJECT, grain="week", last=6, actor=LEAD)
    assert again.new_alerts == ()
    assert {(a.rule, a.metric, a.slice): a.alert_id for a in list_alerts(copy, PROJECT)} == before
    drift = get_alert(copy, before[("drift", "drift.score", "")])
    artifact = get_artifact(copy, drift.artifact_id or 0)
    assert artifact.kind == "monitoring" and artifact.metadata["alert_id"] == drift.alert_id
    assert artifact.metadata["drift"][0]["feature"] == drift.evidence["drift"][0]["feature"]


def test_extra_rules_and_acknowledgement(copy: Workspace) -> None:
    budget = AlertRule("latency-budget", "latency_p95_ms", ">", 1.0, "critical", min_volume=1)
    report = compute_windows(
        copy, PROJECT, grain="week", last=3, rules=[], extra_rules=[budget], actor=LEAD
    )
    (alert,) = report.new_alerts
    assert alert.rule == "latency-budget" and alert.windows == 3 and alert.severity == "critical"
    assert alert.evidence["threshold"] == 1.0 and alert.evidence["window"]["grain"] == "week"
    with pytest.raises(InvalidInput, match="Say what you will do about the alert"):
        acknowledge(copy, alert.alert_id, LEAD, "  ")
    done = acknowledge(copy, alert.alert_id, LEAD, "budget set too low on purpose")
    assert done.status == "acknowledged" and done.acks[0][:2] == (
        "lead",
        "budget set too low on purpose",
    )
    with copy.store.read() as tx:
        assert tx.one("SELECT actor, target FROM audit_log WHERE action = 'alert.ack'") == (
            "lead",
            f"alert #{alert.alert_id}",
        )
    # still breaching: the acknowledged alert goes on, no new one
    assert (
        compute_windows(copy, PROJECT, grain="week", last=2, rules=[budget], actor=LEAD).new_alerts
        == ()
    )
    with pytest.raises(InvalidInput, match="Unknown comparator '=>'. Expected one of"):
        AlertRule("bad", "volume", "=>", 1.0)


def test_send_to_labeling_then_freeze_links_the_alert(copy: Workspace) -> None:
    alert = next(a for a in list_alerts(copy, PROJECT) if a.metric == "drift.score")
    task = send_to_labeling(copy, alert.alert_id, LEAD, limit=40)
    assert (
        task.items == 40 and task.ordering == "uncertainty" and task.trigger_id == alert.artifact_id
    )
    assert "firmware_version in ['R24.1']" in task.instructions
    from core.labeling.tasks import item_fields

    items = [i for (i,) in _task_items(copy, task.task_id)]
    fields = item_fields(copy, get_artifact(copy, task.dataset_id), items, "unit_id")
    assert all(f["firmware_version"] == "R24.1" or f is None for f in fields.values())
    truth = truth_table(read_sample(PROJECT, "truth.csv").astype(str), "unit_id")
    simulate_labeling(
        copy,
        task.task_id,
        truth,
        [AnnotatorProfile.from_dict({"name": "eng-mei"})],
        ["software_fault", "hardware_fault", "no_fault_found"],
        seed=1,
    )
    frozen = freeze(copy, PROJECT, LEAD, [task.task_id], note="from the firmware alert")
    downstream = lineage(copy, alert.artifact_id or 0, "down")
    assert frozen.artifact.artifact_id in downstream.nodes
    with copy.store.read() as tx:
        assert tx.one("SELECT action FROM audit_log WHERE action = 'alert.task'") == ("alert.task",)
    assert get_task(copy, task.task_id).trigger_id == alert.artifact_id
    assert [t.task_id for t in tasks_of(copy, alert)] == [task.task_id]


def _task_items(ws: Workspace, task_id: int) -> list[tuple[str]]:
    with ws.store.read() as tx:
        return [
            (r[0],) for r in tx.rows("SELECT item_id FROM task_items WHERE task_id = ?", [task_id])
        ]


def test_live_items_unknown_to_the_datasets_become_a_dataset_version(copy: Workspace) -> None:
    spec = get_project(copy, PROJECT).spec
    rows = read_sample(PROJECT, "later.csv").tail(300).copy()
    rows["unit_id"] = "NEW-" + rows["unit_id"]
    times = [pd.Timestamp("2026-10-05 10:00")] * len(rows)
    log_predictions(copy, production(copy, PROJECT), spec, rows, times, seed=5)
    rule = AlertRule("volume-seen", "volume", ">", 10.0, "info", min_volume=1)
    (alert,) = compute_windows(
        copy, PROJECT, grain="week", last=1, rules=[rule], actor=LEAD
    ).new_alerts
    task = send_to_labeling(copy, alert.alert_id, LEAD, limit=25)
    dataset = get_artifact(copy, task.dataset_id)
    assert dataset.metadata["new_rows"] == 25 and dataset.metadata["rows"] > 25
    edges = lineage(copy, dataset.artifact_id, "up", max_depth=1).edges
    assert any(e.relation == "triggered_by" and e.dst_id == alert.artifact_id for e in edges)


def test_retraining_request_round_trip(copy: Workspace) -> None:
    with copy.store.transaction() as tx:  # what the demo asked for is answered by a build first
        earlier = pending_retrain_request(tx, PROJECT)
        if earlier is not None:
            consume_retrain_request(tx, earlier.request_id, build_id=98)
    first, second = sorted(list_alerts(copy, PROJECT), key=lambda a: a.alert_id)[-2:]
    request = request_retraining(
        copy, first.alert_id, LEAD, "firmware R24.1 breaks hardware recall"
    )
    assert request.status == "pending" and request_retraining(copy, first.alert_id, LEAD) == request
    refused = (
        f"Retraining of hw-triage is already requested (request #{request.request_id} "
        f"from alert #{first.alert_id})."
    )
    with pytest.raises(InvalidInput, match=re.escape(refused)):
        request_retraining(copy, second.alert_id, LEAD)
    with copy.store.transaction() as tx:
        pending = pending_retrain_request(tx, PROJECT)
        assert pending is not None and pending.request_id == request.request_id
        assert f"retraining request #{request.request_id} from alert #{first.alert_id}" in (
            pending.trigger
        )
        done = consume_retrain_request(tx, request.request_id, build_id=99)
        link_build_to_request(tx, request.request_id, production(copy, PROJECT).artifact_id)
        assert pending_retrain_request(tx, PROJECT) is None
    assert done.status == "consumed" and done.build_id == 99
    with pytest.raises(InvalidInput) as twice, copy.store.transaction() as tx:
        consume_retrain_request(tx, request.request_id, build_id=100)
    assert twice.value.message == (  # no build row 99 here to take the number from: its id
        f"Retraining request #{request.request_id} was already answered by build #99."
    )
    assert {r.status for r in list_retrain_requests(copy, PROJECT)} == {"consumed"}
    up = lineage(copy, production(copy, PROJECT).artifact_id, "up", max_depth=1)
    assert any(e.relation == "triggered_by" and e.dst_id == first.artifact_id for e in up.edges)


def test_text_project_across_a_promotion(copy: Workspace) -> None:
    """ooo-replies: English replies answered by v1, then the new market; v2 takes over in
    September. Language mix and vocabulary drift, the model change is marked, and each window is
    compared with the training data of the model that served it."""
    from core.monitoring.dashboard import dashboard, feature_distribution, ops_summary

    spec = get_project(copy, "ooo-replies").spec
    models = sorted(
        list_artifacts(copy, kind="model", project="ooo-replies"), key=lambda m: m.version
    )
    first, second = models[0], production(copy, "ooo-replies")
    rows = pd.concat(
        [
            read_sample("ooo-replies", "history.csv").tail(400),
            read_sample("ooo-replies", "later.csv"),
        ],
        ignore_index=True,
    )
    times = pd.to_datetime(rows["received_at"]).dt.tz_localize(None)
    late = (times >= pd.Timestamp("2026-09-01")).to_numpy()
    log_predictions(copy, first, spec, rows[~late], times[~late].tolist(), seed=1)
    log_predictions(
        copy, second, spec, rows[late].reset_index(drop=True), times[late].tolist(), seed=2
    )
    report = compute_windows(copy, "ooo-replies", grain="week", actor=LEAD)
    assert {w.model_version for w in report.windows} >= {first.version, second.version}
    august = next(w for w in report.windows if w.start.month == 8 and w.start.day >= 10)
    assert (august.value("drift.psi.language") or 0) > 1  # the reference holds English only
    assert (august.value("drift.novelty.body") or 0) > 0.2
    assert august.value("volume", "language = de") and august.value(
        "estimated.precision.out_of_office"
    )
    view = dashboard(copy, "ooo-replies", "week")
    assert second.version in [c.version for c in view.changes]
    # the marker says why v2 took over: the reason of its promotion (the demo's shadow release)
    why = promotion_history(copy, "ooo-replies")[0].reason
    assert f"v{second.version}: {why}" in [c.label for c in view.changes]
    assert "Shadow" in why
    assert view.features[0] == "language"
    found = feature_distribution(copy, "ooo-replies", "language", "week", august.start)
    assert "de" in found.labels and found.reference[list(found.labels).index("de")] == 0
    numbers = feature_distribution(copy, "ooo-replies", "body.length", "week", august.start)
    assert numbers.kind == "numeric" and numbers.current.sum() == pytest.approx(1.0)
    with copy.store.read() as tx:
        assert tx.scalar(
            "SELECT count(*) FROM monitor_reference_sets WHERE project = 'ooo-replies'"
        ) >= len({w.model_id for w in report.windows})
    summary = ops_summary(copy, "ooo-replies")
    assert summary.grain in ("day", "week") and summary.latest_window is not None
    # v1's drift alert ends where v2 takes over; v2 is judged on its own windows
    old = [
        a
        for a in list_alerts(copy, "ooo-replies")
        if a.model_id == first.artifact_id and a.rule == "drift" and a.grain == "week"
    ]
    assert old and all(a.status == "resolved" for a in old)
    assert (old[0].resolution or "").startswith(f"Superseded: production v{second.version} serves")
    assert all(a.last_window < pd.Timestamp("2026-09-01") for a in old)
