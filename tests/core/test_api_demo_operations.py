"""The public API on a copy of the demo, part 3 of 3: every method of the requirements,
monitoring and serving areas, and a build on a remote runner (tests/core/test_api.py checks that
the three parts together call every method; three files so that both test workers share the
work, each ~1/3 of the time)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.api import Actor, Client
from tests.conftest import ROOT
from tests.core.api_calls import Recorder, serve_once

PART = "operations"  # tests/core/api_calls.py: PARTS


@pytest.fixture
def demo(demo_copy: Path) -> Iterator[Client]:
    yield Client(demo_copy, Actor("admin", "test"))


def test_every_method_of_requirements_monitoring_serving_and_a_remote_build(
    demo: Client, tmp_path: Path
) -> None:
    call = Recorder(demo)
    project = "hw-triage"
    production = demo.models.find_alias(project)
    assert production is not None

    # requirements
    call("requirements.list", project)
    full = call("requirements.matrix", project)
    some = next(iter(full.requirements))
    call("requirements.matrix", project, status="met")
    call("requirements.evidence", project, some)
    assert set(call("requirements.status_summary", project)) >= {"system"}
    call("requirements.status_history", project, limit=10)
    call("requirements.versions", project, some)
    rows_ = call("requirements.editor_rows", full.requirements.values())
    ml = next(r for r in full.requirements.values() if r.is_ml)
    edited = [dict(r, note="api") for r in rows_ if r["id"] == ml.requirement_id]
    call("requirements.save_rows", project, edited, note="api edit")
    kind = "accuracy"
    inputs_ = call("requirements.derivation_inputs", kind)
    defaults = {"volume": 2000.0, "base_rate": 0.25, "tolerated": 10.0}
    derivation = call(
        "requirements.derive", kind, {name: defaults.get(name, 1.0) for name in inputs_}
    )
    systems = [r.requirement_id for r in full.requirements.values() if r.level == "system"]
    call("requirements.create_derived", project, "ML-API", derivation, derived_from=systems[:1])
    edited_one = call("requirements.edit", project, "ML-API", {"owner": "api"}, note="api")
    assert edited_one.changed == ("ML-API",)
    assert call("requirements.delete", project, ["ML-API"], note="api: gone").deleted == ("ML-API",)
    assert "ML-API" not in call("requirements.matrix", project).requirements
    assert call("requirements.recompute", project, cause="api").statuses > 0
    impact = call("requirements.impact", project, model=production.artifact_id)
    assert json.loads(call("requirements.impact_json", impact))["project"] == project
    verified = call("requirements.verify_system", project)
    assert verified.project == project and verified.items > 0
    yaml_text = call("requirements.export", project, "yaml")
    assert call("requirements.render", project, list(full.requirements.values()), "csv")
    source = tmp_path / "requirements.yaml"
    source.write_text(yaml_text)
    call("requirements.import_file", source, project=project)
    assert call("requirements.document", project) == []  # a YAML file has no structure
    assert call("requirements.trace_export", project, "csv")
    card = call("requirements.model_card", project)
    assert call("requirements.model_card_markdown", card).startswith("#")
    assert call("requirements.model_card_html", card).startswith("<!doctype html>")

    # monitoring
    grains = call("monitoring.grains", project)
    grain = grains[0]
    starts = call("monitoring.windows", project, grain)
    latest = call("monitoring.latest_windows", project, grain, 3)
    assert 1 <= len(latest) <= 3
    assert isinstance(call("monitoring.drift_table", latest[-1]), dict)
    view = call("monitoring.dashboard", project, grain, since=starts[0])
    feature = view.features[0]
    call("monitoring.feature_distribution", project, feature, grain, starts[-1])
    computed = call("monitoring.compute_windows", project, grain=grain, last=2)
    assert computed is not None
    alerts = call("monitoring.alerts", project)
    alert = alerts[0]
    assert call("monitoring.alert", alert.alert_id).alert_id == alert.alert_id
    assert call("monitoring.group_alerts", alerts)
    assert call("monitoring.drift_rows", alert.evidence.get("drift") or []) is not None
    call("monitoring.incidents", project)
    call("monitoring.acknowledge", alert.alert_id, "api: looking")
    others = [a.alert_id for a in alerts if a.status == "open" and a.alert_id != alert.alert_id]
    assert others  # the demo's hw-triage has two open alerts
    acked = call("monitoring.acknowledge_alerts", others, "api: all of them")
    assert [a.alert_id for a in acked] == others and {a.status for a in acked} == {"acknowledged"}
    assert call("monitoring.quarantined", project).count == 0
    request = call("monitoring.request_retraining", alert.alert_id, "api")
    assert request in call("monitoring.retrain_requests", project)
    drifted = next((a for a in alerts if a.evidence.get("drift")), alert)
    made = call("monitoring.send_to_labeling", drifted.alert_id, limit=3)
    assert made.task_id in [t.task_id for t in call("monitoring.tasks_of", drifted.alert_id)]

    # serving
    truth = call("serving.sample_truth", project)
    assert truth == ROOT / "sample_data" / project / "data" / "truth.csv"
    later = ROOT / "sample_data" / project / "data" / "later.csv"
    replay = call(
        "serving.simulate",
        project,
        days=1,
        start="2026-07-01",  # production was trained on everything up to September
        source=later,
        truth=truth,
        rate_per_hour=3,
        feedback_rate=0,
    )
    assert replay.items > 0 and replay.errors == 0
    service, health = serve_once(demo.location, project)
    assert service["project"] == project and service["model"] == production.ref
    assert health == 200
    call.called.add("serving.serve")  # it ran in a process of its own (it serves until stopped)

    # what a serving host asks of the server (tests/core/test_serving_hosts.py has the rules)
    pulled = call("serving.production_model", project)
    assert pulled.artifact_id == production.artifact_id and pulled.files
    placed = call("serving.place_candidate", project, "canary", 10)  # tests/remote/…candidates
    assert (placed.mode, placed.share) == ("canary", 10.0)
    assert call("serving.production_model", project).beside.mode == "canary"
    assert call("serving.place_candidate", project, "off") is None
    assert call("serving.feedback_actor", project) == "admin"
    assert call("serving.record_feedback", project, ["api-test-1"]) == 1
    logged = sorted((demo.location / "logs" / project / "predictions").glob("seg-*.parquet"))
    shipped = tmp_path / logged[0].name
    shutil.copyfile(logged[0], shipped)
    received = call(
        "monitoring.receive_segment", project, "api-test", "predictions", shipped.name, shipped
    )
    assert received.records > 0 and not received.duplicate
    assert call("serving.logged_request_ids", project, ["no-such-request"]) == []

    # a build on a remote runner (tests/core/test_builds_remote.py has the rules)
    plan = call("builds.start_remote", "ooo-replies", trigger="api test, remote")
    paths = {sha: demo.workspace.blobs.path(sha) for sha in call("builds.files_needed", plan)}
    out = call("builds.train_plan", plan, paths)
    call("builds.renew_remote", plan.build_id)
    (tmp_path / "model.zip").write_bytes(out.bundle)
    done = call(
        "builds.finish_remote",
        plan.build_id,
        model=tmp_path / "model.zip",
        files=out.files,
        evaluation=out.evaluation,
        baseline=out.baseline,
        params=out.params,
        training_time_s=out.training_time_s,
        started_at=out.started_at,
        duration_s=out.duration_s,
        environment=out.environment,
    )
    assert done.status in ("successful", "failed")
    aborted = call("builds.start_remote", "ooo-replies")
    assert call("builds.abort_remote", aborted.build_id, "api test").status == "aborted"

    call.assert_every_method_of(PART)
