"""The public API (core.api): every method of every area called on a real workspace, each result
JSON-serialisable through ``serialise``; exact messages for bad input."""

from __future__ import annotations

import inspect
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from core.api import Actor, Client, CoreError, Forbidden, IngestRefused, InvalidInput, serialise
from core.api.tracking import Tracker
from core.api.types import AuditQuery, Project, TaskFilter
from core.remote.client import area_types
from tests.conftest import FIXTURES, ROOT
from tests.core.test_tracking_remote import ApiSink

AREAS = tuple(area_types())  # every area of the client: a new one is called below or fails


def methods(client: Client) -> set[str]:
    """``area.method`` for every public method of every area."""
    return {
        f"{area}.{name}"
        for area in AREAS
        for name, member in inspect.getmembers(type(getattr(client, area)))
        if not name.startswith("_") and callable(member)
    }


class Recorder:
    """Calls ``client.<area>.<method>`` by name, records it and checks the result serialises."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.called: set[str] = set()

    def __call__(self, path: str, *args: Any, **kwargs: Any) -> Any:
        area, name = path.split(".")
        result = getattr(getattr(self.client, area), name)(*args, **kwargs)
        self.called.add(path)
        json.dumps(serialise(result))  # raises when a result has no JSON form
        return result


# -- small workspaces ------------------------------------------------------------------------


@pytest.fixture
def client(ws: Any, tickets: Project) -> Client:
    return Client(ws.root, Actor("tester", "test"))


def test_a_missing_workspace_is_named_with_a_hint(tmp_path: Path) -> None:
    api = Client(tmp_path / "nowhere", Actor("tester", "test"))
    with pytest.raises(CoreError) as caught:
        api.projects.list()
    assert caught.value.message == f"No workspace at {tmp_path / 'nowhere'}."
    assert caught.value.hint.startswith("run `loopline init` or `loopline demo`")


def test_init_makes_a_workspace_where_there_was_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "from-env"))
    api = Client(None, Actor("tester", "test"))  # None: $LOOPLINE_WORKSPACE
    assert api.location == tmp_path / "from-env" and not api.exists()
    assert api.init() == tmp_path / "from-env"
    assert api.exists() and api.projects.list() == []
    assert api.init() == tmp_path / "from-env"  # an existing workspace is opened as it is


def test_serve_refuses_a_tiny_body_limit_before_anything_else(client: Client) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.serving.serve("tickets", max_body_bytes=10)
    assert caught.value.message == "--max-body-bytes must be at least 1000, got 10."


def test_suggestions_need_a_model_or_a_predictions_file(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.labeling.create_task("tickets", name="x", suggest_with="production")
    assert caught.value.message == "Project 'tickets' has no production model yet."
    missing = tmp_path / "none.csv"
    with pytest.raises(InvalidInput) as caught:
        client.labeling.create_task("tickets", name="x", predictions=missing)
    assert caught.value.message == f"No predictions file at {missing}."
    assert client.serving.sample_truth("tickets") is None  # not a sample project


def test_clients_of_one_folder_share_one_workspace_handle(client: Client) -> None:
    other = client.acting_as(Actor("someone", "test"))
    assert other.workspace is client.workspace
    assert other.actor == Actor("someone", "test") and other.location == client.location


def test_projects_and_data_on_the_tickets_project(client: Client, tmp_path: Path) -> None:
    call = Recorder(client)
    assert [p.name for p in call("projects.list")] == ["tickets"]
    assert call("projects.get", "tickets").title == "Support ticket routing"
    assert call("projects.visible", ["tickets", "other"]) == ["tickets", "other"]
    assert call("data.detect_format", "new.CSV") == "csv"
    done = call("data.ingest", "tickets", FIXTURES / "tickets.csv")
    assert (done.new_rows, done.total_rows) == (4, 4)
    report = call("data.quality", done.dataset.artifact_id)
    assert report["rows"] == 4
    assert isinstance(call("data.quality_flags", report), list)
    ranges = call("data.profile", done.dataset.artifact_id, ["priority"], None)
    assert set(ranges["*"]) == {"priority"}
    assert call("data.unusual", {"priority": 99}, ranges, None)["priority"].startswith("high")
    assert call("artifacts.count_by_kind", "tickets") == {
        "data_source": 1,
        "dataset": 1,
        "project": 1,
        "report": 1,
    }
    preview = call("artifacts.preview", done.dataset.artifact_id)
    assert preview[0].shape == "table"
    record = serialise(done.dataset)
    assert isinstance(record, dict)
    assert (
        record["kind"] == "dataset" and record["created_at"] == done.dataset.created_at.isoformat()
    )


def test_a_refused_ingest_names_the_file_and_writes_nothing(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ticket_id,opened_at,channel,text\nT1,2024-01-01,fax,hello\n")
    with pytest.raises(IngestRefused) as caught:
        client.data.ingest("tickets", bad)
    assert caught.value.problems[0].column == "channel"
    assert client.artifacts.list(kind="dataset") == []


def test_an_unknown_format_is_refused_with_the_allowed_ones(client: Client) -> None:
    with pytest.raises(CoreError) as caught:
        client.data.detect_format("notes.txt")
    assert "notes.txt" in caught.value.message


def test_a_label_file_of_another_kind_is_refused(client: Client) -> None:
    with pytest.raises(CoreError) as caught:
        client.labeling.import_labels("tickets", b"x", "labels.xlsx")
    assert caught.value.message == (
        "labels.xlsx: expected a Label Studio .json export or a .csv of item_id, annotator, label."
    )


def test_serialise_turns_results_into_json_values() -> None:
    frame = pd.DataFrame(
        {"value": [1.5, float("nan")], "at": pd.to_datetime(["2024-05-01", None])},
        index=pd.Index(["a", "b"], name="metric"),
    )
    assert serialise(frame) == [
        {"metric": "a", "value": 1.5, "at": "2024-05-01T00:00:00"},
        {"metric": "b", "value": None, "at": None},
    ]
    assert serialise(pd.DataFrame({"x": [1, 2]})) == [{"x": 1}, {"x": 2}]
    assert serialise({1: b"\x00\x01", "when": datetime(2024, 1, 2, tzinfo=UTC)}) == {
        "1": "AAE=",
        "when": "2024-01-02T00:00:00+00:00",
    }
    assert serialise((Path("a/b"), timedelta(minutes=1), {2, 1})) == ["a/b", 60.0, [1, 2]]
    # an actor's token is left out: it is hidden from repr
    assert serialise(Actor("ada", "cli", token="llt.ada.secret")) == {
        "name": "ada",
        "via": "cli",
        "os_user": None,
        "chosen": False,
        "address": None,
    }
    refused = Forbidden("No.", hint="ask an admin")
    assert serialise(refused) == {"error": "Forbidden", "message": "No.", "hint": "ask an admin"}
    with pytest.raises(TypeError, match="serialise: no JSON form for object"):
        serialise(object())


# -- every method, on a copy of the demo -----------------------------------------------------


@pytest.fixture
def demo(demo_copy: Path) -> Iterator[Client]:
    yield Client(demo_copy, Actor("admin", "test"))


def test_every_method_of_every_area_runs_on_the_demo(demo: Client, tmp_path: Path) -> None:
    call = Recorder(demo)
    project = "hw-triage"
    spec = call("projects.get", project).spec
    call("projects.list")
    call("projects.visible", [project])
    assert {o.project.name for o in call("projects.overview")} == {"hw-triage", "ooo-replies"}
    changed = tmp_path / "project.yaml"
    shutil.copy(ROOT / "sample_data" / project / "project.yaml", changed)
    changed.write_text(changed.read_text().replace("description:", "description: (v2)", 1))
    assert call("projects.create", changed, update=True).spec_version >= 2

    # artifacts
    datasets = call("artifacts.list", kind="dataset", project=project)
    dataset = datasets[0]
    assert call("artifacts.get", dataset.artifact_id) == dataset
    assert call("artifacts.find", 10**9) is None
    assert call("artifacts.count_by_kind")["dataset"] >= 2
    graph = call("artifacts.lineage", dataset.artifact_id, "down")
    assert graph.nodes
    assert call("artifacts.lineage_lines", graph)[0] == graph.nodes[dataset.artifact_id].label
    call("artifacts.preview", dataset.artifact_id, 5)
    assert call("artifacts.verify").ok
    assert call("artifacts.prune", dry_run=True).dry_run
    assert call("artifacts.reproduce", datasets[-1].artifact_id).identical

    # data
    call("data.detect_format", "x.parquet")
    rows = ROOT / "sample_data" / project / "data"
    first = sorted(rows.glob("*.csv"))[0]
    stages: list[str] = []
    ingested = call(
        "data.ingest", project, first, progress=lambda stage, fraction: stages.append(stage)
    )
    assert stages and ingested.dataset.project == project
    report = call("data.quality", dataset.artifact_id)
    call("data.quality_flags", report)
    numeric = [c.name for c in spec.columns if c.type in ("integer", "number")][:2]
    ranges = call("data.profile", dataset.artifact_id, numeric, spec.compare_within)
    call("data.unusual", {}, ranges, spec.compare_within)

    # models
    production = call("models.find_alias", project)
    assert production is not None
    history = call("models.promotion_history", project)
    assert history[0].artifact_id == production.artifact_id
    probabilities = call("models.predict_dataset", production.artifact_id)
    assert list(probabilities.columns) == list(spec.labels.classes)

    # labeling
    tasks = call("labeling.tasks", project)
    assert call("labeling.task", tasks[0].task_id) == tasks[0]
    task = call(
        "labeling.create_task",
        project,
        name="api test",
        task_filter=TaskFilter(limit=5),
        suggest_with=production.artifact_id,
    )
    assert (task.items, task.ordering, task.model_id) == (5, "uncertainty", production.artifact_id)
    item = call("labeling.next_item", task.task_id)
    label = spec.labels.classes[0]
    call("labeling.answer", task.task_id, item.item_id, label, note="api")
    second = call("labeling.next_item", task.task_id)
    call("labeling.skip", task.task_id, second.item_id)
    assert call("labeling.undo", task.task_id).item_id == second.item_id
    assert [a.status for a in call("labeling.item_history", task.task_id, item.item_id)] == [
        "labeled"
    ]
    assert call("labeling.progress", task.task_id, "admin").mine_total == 1
    assert call("labeling.left_for", [task.task_id], "admin")[task.task_id] == 4
    assert call("labeling.labels_left", [task.task_id]) == {task.task_id: 4}
    predictions = tmp_path / "predictions.csv"
    probabilities.rename_axis("item_id").to_csv(predictions)
    from_file = demo.labeling.create_task(
        project, name="api file", task_filter=TaskFilter(limit=3), predictions=predictions
    )
    assert (from_file.items, from_file.ordering, from_file.model_id) == (3, "uncertainty", None)
    by_alias = demo.labeling.create_task(
        project, name="api alias", task_filter=TaskFilter(limit=3), suggest_with="production"
    )
    assert (by_alias.ordering, by_alias.model_id) == ("uncertainty", production.artifact_id)
    with pytest.raises(InvalidInput) as caught:
        demo.labeling.create_task(project, name="x", suggest_with="candidate")
    assert caught.value.message == f"Project {project!r} has no candidate model yet."
    call("labeling.agreement", [t.task_id for t in tasks])
    call("labeling.agreement_so_far", tasks[0].task_id)
    cases, waiting = call("labeling.review_queue", tasks[0].task_id, 5)
    assert waiting >= len(cases)
    call("labeling.decide", task.task_id, item.item_id, label, note="api review")
    sets = call("artifacts.list", kind="label_set", project=project)
    latest = max(sets, key=lambda a: a.version)
    frozen = call(
        "labeling.freeze", project, [task.task_id], extends=latest.artifact_id, note="api"
    )
    assert frozen.artifact.version == latest.version + 1
    exported = call("labeling.export", frozen.artifact.artifact_id, "csv")
    assert exported.startswith(b"item_id") or b"," in exported
    lines = f"item_id,annotator,label\n{second.item_id},bruno,{label}\n".encode()
    imported = call("labeling.import_labels", project, lines, "more.csv", task_id=task.task_id)
    assert imported.annotations == 1

    # runs and builds
    trained = call("runs.train", project, name="api")
    table = call("runs.search", project, "status = 'finished'", ["run_id DESC"], 5)
    assert len(table.frame) >= 1
    run_ids = [int(r) for r in table.frame["run_id"].head(2)]
    assert call("runs.get", trained.run_id).name == "api"
    assert call("models.register_run", trained.run_id).project == project
    swept = call("runs.sweep", "ooo-replies", {"C": [0.5]}, n_jobs=1)
    assert [call("runs.get", i).params["C"] for i in swept] == ["0.5"]
    call("runs.compare", run_ids)
    call("builds.slice_findings", run_ids)
    builds = call("builds.list", project)
    call("builds.get", builds[0].build_id)
    build = call("builds.run", project, trigger="api test")
    assert build.status in ("successful", "failed")
    assert f'classname="loopline.gate.{project}"' in call("builds.junit_xml", build)
    assert call("builds.get_number", project, build.number).build_id == build.build_id
    suite = ROOT / "sample_data" / project / "behave.yaml"  # tests/core/test_behave*.py
    behaved = call("behave.run", project, suite=suite)  # on production
    assert (behaved.project, len(behaved.tests)) == (project, 7)

    # promotion
    models = call("artifacts.list", kind="model", project=project)
    older = min(models, key=lambda m: m.version)
    assert (
        call("models.rollback", project, older.artifact_id, reason="api").version == older.version
    )
    back = call("models.promote", project, production.artifact_id, reason="api: back")
    assert back.artifact_id == production.artifact_id
    accepted = call("models.release", project, older.artifact_id, to="acceptance", reason="api")
    assert accepted.artifact_id == older.artifact_id
    assert call("models.readiness", project, older.artifact_id).environment == "production"
    assert call("models.environments", project).stages[0].model == older.ref
    call("models.compare_candidate", project)
    assert call("models.check_canary", project).rolled_back is False

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

    # accounts
    assert "maria" in [u.name for u in call("accounts.users")]
    assert call("accounts.user", "nobody") is None
    call("accounts.user_for_email", "nobody@example.com")
    call("accounts.create_user", "api-user", roles=["annotator"], password="a-long-password-1")
    call("accounts.grant", "api-user", "reviewer", project)
    call("accounts.revoke", "api-user", "reviewer", project)
    secret = call("accounts.create_token", "api-user", "api test", expires_days=1)
    token = next(t for t in call("accounts.tokens", "api-user") if t.label == "api test")
    call("accounts.revoke_token", token.token_id)
    call("accounts.set_active", "api-user", False)
    added = call("accounts.add_user", "api-temp", roles=["annotator"], temporary_password=True)
    assert added.password and not added.first
    assert call("accounts.update_user", "api-temp", display_name="API").display_name == "API"
    assert call("accounts.reset_password", "api-temp") != added.password
    assert call("accounts.assign", task.task_id, ["api-temp"]) == ["api-temp"]
    assert call("accounts.whoami").name == "admin"
    assert "admin" in call("accounts.roles")
    assert call("accounts.permission_matrix").startswith("|")
    assert call("accounts.audited_actions").startswith("| action | permission |")
    assert call("accounts.parse_time", "2026-01-02") == datetime(2026, 1, 2)
    assert secret.startswith("llt.api-user.")
    assert call("accounts.is_open") is False
    session = call("accounts.sign_in", "maria", "loopline-demo", client="test")
    assert call("accounts.resume", session.secret).name == "maria"
    call("accounts.sign_out", session.secret)
    call("accounts.record_sign_in", "maria", client="test", method="oidc test")
    entries, total = call("accounts.audit", AuditQuery(actor="admin", limit=5))
    assert total >= len(entries) > 0
    assert "users.add" in call("accounts.audit_actions")
    assert "admin" in call("accounts.audit_actors")
    exported_audit = call("accounts.export_audit", AuditQuery(limit=5))
    assert exported_audit.startswith("\ufeffaudit_id,at_utc,actor".encode())
    assert call("accounts.allowed", "audit.read")
    assert call("accounts.refusal", "promote", project) is None
    annotator = demo.acting_as(Actor("alice", "test")).accounts
    refused = annotator.refusal("promote", project)
    assert refused is not None and "alice" in refused.message

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

    # a project drafted from a CSV, a labels file of another shape, a dataset out, MLflow in
    draft = call("data.draft", FIXTURES / "tickets.csv", name="drafted", classes=["a", "b"])
    assert "ticket_id" in draft.text
    theirs = tmp_path / "verdicts.csv"
    theirs.write_text("case_id,diagnosis\nU-1,hardware_fault\n", encoding="utf-8")
    mapped = call(
        "data.map_label_columns", theirs, item_col="case_id", label_col="diagnosis", annotator="lab"
    )
    assert mapped.decode().splitlines()[1] == "U-1,lab,hardware_fault"
    exported = call("data.export", f"dataset:{project}@1")
    assert exported.splitlines()[0].startswith(b"unit_id") or b"," in exported.splitlines()[0]
    with pytest.raises(CoreError):  # tests/core/test_mlflow_import.py imports a store MLflow wrote
        demo.data.import_mlflow(f"sqlite:///{tmp_path}/none.db", "exp", project)
    call.called.add("data.import_mlflow")

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

    # a remote tracker's calls (tests/core/test_tracking_remote.py has their rules)
    tracker = Tracker(ApiSink(_Routed(call, demo.actor)))
    with tracker, tracker.start_run(project, name="api-remote") as run:
        run.log_params({"model": "xgb"})
        run.log_metric("loss", 0.5, step=1)
        run.log_artifact("report", b"a report")
    assert call("runs.get", run.run_id).params == {"model": "xgb"}

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

    # automation (tests/core/test_scheduler.py, test_notify.py and test_bisect.py have the rules)
    assert call("automation.schedules", project) == []
    hook = call("automation.add_webhook", project, "http://127.0.0.1:9/hook")
    assert [h.webhook_id for h in call("automation.webhooks", project)] == [hook.webhook_id]
    assert call("automation.test_webhook", hook.webhook_id).status == "failed"
    assert call("automation.deliver", retry_base_s=0.1).delivered == 0
    assert call("automation.scheduler_pass").fired == ()
    assert call("automation.deliveries", project)[-1].event == "webhook.test"
    assert not call("automation.remove_webhook", hook.webhook_id).active
    assert call("automation.bisect", "ooo-replies", "accuracy >= 0").first_bad is None

    missing = methods(demo) - call.called
    assert not missing, f"not called: {sorted(missing)}"


class _Routed:
    """A client whose ``runs`` calls go through the recorder (for the tracker's sink)."""

    def __init__(self, call: Recorder, actor: Actor) -> None:
        self.actor = actor
        self.runs = _Area(call, "runs")


class _Area:
    def __init__(self, call: Recorder, area: str) -> None:
        self._call, self._area = call, area

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self._call(f"{self._area}.{name}", *args, **kwargs)


def serve_once(location: Path, project: str) -> tuple[dict[str, Any], int]:
    """``client.serving.serve`` in a process of its own on a free port: the service it reported
    ready, and how ``GET /health`` answered; then SIGTERM must end it (gracefully: uvicorn
    flushes the log, then re-raises the signal)."""
    code = (
        "import json\n"
        "from core.api import Actor, Client, serialise\n"
        f"api = Client({str(location)!r}, Actor('admin', 'test'))\n"
        f"api.serving.serve({project!r}, port=0, "
        "ready=lambda s: print(json.dumps(serialise(s)), flush=True))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"serve said nothing: {process.communicate(timeout=30)[1]}")
        service = json.loads(line)
        health = httpx.get(f"{service['url']}/health", timeout=30).status_code
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)  # a service that does not stop fails here
    assert "Traceback" not in errors, errors
    return service, health
