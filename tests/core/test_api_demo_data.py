"""The public API on a copy of the demo, part 1 of 3: every method of the projects, artifacts,
data, labeling, models, runs and accounts areas (tests/core/test_api.py checks that the three parts
together call every method; three files so that both test workers share the work, each ~1/3 of
the time)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from core.api import Actor, Client, CoreError, InvalidInput
from core.api.tracking import Tracker
from core.api.types import AuditQuery, TaskFilter
from tests.conftest import FIXTURES, ROOT
from tests.core.api_calls import Recorder, Routed
from tests.core.test_tracking_remote import ApiSink

PART = "data"  # tests/core/api_calls.py: PARTS


@pytest.fixture
def demo(demo_copy: Path) -> Iterator[Client]:
    yield Client(demo_copy, Actor("admin", "test"))


def test_every_method_of_projects_artifacts_data_labeling_models_runs_and_accounts(
    demo: Client, tmp_path: Path
) -> None:
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

    # models (the production model's probabilities suggest labels below)
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

    # runs (ooo-replies trains in seconds, hw-triage in minutes: the demo has its models)
    trained = call("runs.train", "ooo-replies", name="api")
    table = call("runs.search", project, "status = 'finished'", ["run_id DESC"], 5)
    assert len(table.frame) >= 1
    run_ids = [int(r) for r in table.frame["run_id"].head(2)]
    assert call("runs.get", trained.run_id).name == "api"
    assert call("models.register_run", trained.run_id).project == "ooo-replies"
    swept = call("runs.sweep", "ooo-replies", {"C": [0.5]}, n_jobs=1)
    assert [call("runs.get", i).params["C"] for i in swept] == ["0.5"]
    call("runs.compare", run_ids)

    # promotion (after labeling, which needs no candidate model)
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

    # a remote tracker's calls (tests/core/test_tracking_remote.py has their rules)
    tracker = Tracker(ApiSink(Routed(call, demo.actor)))
    with tracker, tracker.start_run(project, name="api-remote") as run:
        run.log_params({"model": "xgb"})
        run.log_metric("loss", 0.5, step=1)
        run.log_artifact("report", b"a report")
    assert call("runs.get", run.run_id).params == {"model": "xgb"}

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

    call.assert_every_method_of(PART)
