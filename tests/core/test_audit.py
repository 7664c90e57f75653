"""The audit log: append-only (no core code edits or deletes a row), complete (every kind of change
leaves a row naming who, when, via which surface, what), refused changes leave none."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from core.accounts.assignments import assign
from core.accounts.audit import AuditQuery
from core.accounts.auditlog import export_audit_csv, search_audit
from core.accounts.sessions import LoginRefused, login, logout
from core.accounts.tokens import create_token, list_tokens, revoke_token
from core.accounts.users import (
    create_user,
    grant,
    reset_password,
    revoke,
    set_active,
    update_user,
)
from core.actor import Actor
from core.data.service import ingest
from core.errors import Forbidden
from core.labeling.freeze import freeze
from core.labeling.interchange import import_annotations, read_annotation_table
from core.labeling.queue import next_item, save_annotation, skip_item, undo_last
from core.labeling.review import decide
from core.labeling.tasks import create_task, set_task_status
from core.projects.service import create_project
from core.store import Workspace, utcnow
from tests.conftest import FIXTURES, ROOT

PASSWORD = "correct horse battery"
WRITES = re.compile(
    r"\b(UPDATE|DELETE\s+FROM|TRUNCATE(\s+TABLE)?|DROP\s+TABLE(\s+IF\s+EXISTS)?|ALTER\s+TABLE|"
    r"INSERT\s+OR\s+REPLACE\s+INTO|INSERT\s+OR\s+IGNORE\s+INTO)\s+\"?audit_log\b",
    re.IGNORECASE,
)


def test_no_core_module_edits_or_deletes_audit_rows() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if WRITES.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"only appends are allowed to audit_log: {offenders}"
    assert WRITES.search('tx.execute("DELETE FROM audit_log WHERE 1")')  # the check itself works
    assert WRITES.search("UPDATE audit_log SET actor = 'x'")


def actions(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    found: dict[str, list[tuple[object, ...]]] = {}
    with ws.store.read() as tx:
        for row in tx.rows(
            'SELECT action, actor, via, project, target, details, "at" FROM audit_log ORDER BY audit_id'
        ):
            found.setdefault(str(row[0]), []).append(row[1:])
    return found


def test_every_kind_of_change_leaves_its_row(ws: Workspace, tmp_path: Path) -> None:
    """Data management and accounts on a fresh workspace; builds, registration and promotion are
    checked on the demo (tests/core/test_audit.py::test_builds_and_releases_are_audited)."""
    started = utcnow() - timedelta(seconds=1)
    setup = Actor("setup", "cli")
    create_project(ws, FIXTURES / "tickets.yaml", setup)
    create_project(ws, FIXTURES / "tickets.yaml", setup, update=True)  # same file: no change
    ingest(ws, "tickets", FIXTURES / "tickets.csv", setup)
    create_user(ws, setup, "root", roles=["admin"], password=PASSWORD)
    root = Actor("root", "cli")
    create_user(ws, root, "ann", roles=["annotator"], password=PASSWORD)
    create_user(ws, root, "rev", roles=["reviewer"])
    create_user(ws, root, "dan", roles=["data_scientist"])
    ann, rev, dan = Actor("ann", "app"), Actor("rev", "app"), Actor("dan", "cli")
    task = create_task(ws, "tickets", dan, name="first", overlap=2)
    assign(ws, rev, task.task_id, ["ann"])
    first = next_item(ws, task.task_id, ann)
    assert first is not None
    save_annotation(ws, task.task_id, first.item_id, ann, "billing", note="sure")
    undo_last(ws, task.task_id, ann)
    save_annotation(ws, task.task_id, first.item_id, ann, "bug")
    second = next_item(ws, task.task_id, ann)
    assert second is not None
    skip_item(ws, task.task_id, second.item_id, ann)
    verdicts = read_annotation_table(
        f"item_id,annotator,label\n{first.item_id},op-anna,billing\n".encode(), "verdicts.csv"
    )
    import_annotations(ws, "tickets", verdicts, dan, task_id=task.task_id, source="verdicts")
    decide(ws, task.task_id, first.item_id, rev, "billing", note="the invoice")
    freeze(ws, "tickets", rev, [task.task_id], note="v1")
    set_task_status(ws, task.task_id, "closed", dan)
    set_task_status(ws, task.task_id, "open", dan)
    grant(ws, root, "dan", "release_manager")
    revoke(ws, root, "dan", "release_manager")
    update_user(ws, root, "dan", display_name="Dan D.")
    reset_password(ws, root, "rev")
    set_active(ws, root, "rev", False)
    set_active(ws, root, "rev", True)
    token = create_token(ws, root, "dan", "CI")
    revoke_token(ws, root, list_tokens(ws, root)[0].token_id)
    session = login(ws, "ann", PASSWORD, client="10.1.2.3")
    logout(ws, session.secret)
    with pytest.raises(LoginRefused):
        login(ws, "ann", "not the password", client="10.1.2.3")
    export_audit_csv(ws, root, AuditQuery(action="login"))
    assert token

    found = actions(ws)
    expected = {
        "project.create": ("setup", "cli", "tickets"),
        "ingest": ("setup", "cli", "tickets"),
        "register": ("setup", "cli", "tickets"),
        "users.add": ("setup", "cli", None),
        "task.create": ("dan", "cli", "tickets"),
        "task.assign": ("rev", "app", "tickets"),
        "annotate": ("ann", "app", "tickets"),
        "annotate.undo": ("ann", "app", "tickets"),
        "annotate.skip": ("ann", "app", "tickets"),
        "annotations.import": ("dan", "cli", "tickets"),
        "review": ("rev", "app", "tickets"),
        "freeze": ("rev", "app", "tickets"),
        "task.closed": ("dan", "cli", "tickets"),
        "task.open": ("dan", "cli", "tickets"),
        "users.grant": ("root", "cli", None),
        "users.revoke": ("root", "cli", None),
        "users.update": ("root", "cli", None),
        "users.reset_password": ("root", "cli", None),
        "users.disable": ("root", "cli", None),
        "users.enable": ("root", "cli", None),
        "tokens.create": ("root", "cli", None),
        "tokens.revoke": ("root", "cli", None),
        "login": ("ann", "app", None),
        "logout": ("ann", "app", None),
        "login.failed": ("ann", "app", None),
        "audit.export": ("root", "cli", None),
    }
    for action, (actor, via, project) in expected.items():
        assert action in found, f"no audit row for {action}"
        row = found[action][0]
        assert row[:3] == (actor, via, project), (action, row)
        assert started <= row[5] <= utcnow(), action  # when (UTC)
    assert "first" in str(found["task.create"][0][4])  # what: the details name the task
    assert found["annotate"][0][3] == f"task #{task.task_id} item {first.item_id}"
    assert '"client": "10.1.2.3"' in str(found["login.failed"][0][4])
    assert PASSWORD not in str(found)  # no secret in it
    assert token.split(".")[-1] not in str(found)


def test_a_refused_change_leaves_no_row_and_no_change(
    ws: Workspace, tickets: object, tmp_path: Path
) -> None:
    ingest(ws, "tickets", FIXTURES / "tickets.csv", Actor("me", "test"))
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    create_user(ws, Actor("root", "test"), "ann", roles=["annotator"])
    before = actions(ws)
    blobs = sorted(ws.blobs.root.rglob("*"))
    more = tmp_path / "more.csv"
    more.write_text(
        (FIXTURES / "tickets.csv").read_text() + "T-99,2026-03-09T10:00:00Z,mail,new,1,,\n"
    )
    with pytest.raises(Forbidden, match=r"ann \(annotator\) may not ingest data in tickets"):
        ingest(ws, "tickets", more, Actor("ann", "app"))
    with pytest.raises(Forbidden, match=r"ann \(annotator\) may not create, close and assign"):
        create_task(ws, "tickets", Actor("ann", "app"), name="mine")
    assert actions(ws) == before
    assert sorted(ws.blobs.root.rglob("*")) == blobs  # refused before the file was stored
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM artifacts WHERE kind = 'dataset'") == 1
        assert tx.scalar("SELECT count(*) FROM tasks") == 0


def test_only_managers_and_admins_read_the_log(ws: Workspace) -> None:
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    create_user(ws, Actor("root", "test"), "maria", roles=["manager"])
    create_user(ws, Actor("root", "test"), "dan", roles=["data_scientist"])
    entries, total = search_audit(ws, Actor("maria", "test"), AuditQuery())
    assert total == 3 and [e.action for e in entries] == ["users.add"] * 3
    with pytest.raises(
        Forbidden, match=r"dan \(data_scientist\) may not read and export the audit log"
    ):
        search_audit(ws, Actor("dan", "test"), AuditQuery())
    with pytest.raises(Forbidden):
        export_audit_csv(ws, Actor("dan", "test"), AuditQuery())


def test_audit_filters(ws: Workspace, tickets: object) -> None:
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    root = Actor("root", "test")
    create_user(ws, root, "dan", roles=["data_scientist"], project="tickets")
    grant(ws, root, "dan", "reviewer")
    by = search_audit
    assert [e.target for e in by(ws, root, AuditQuery(action="users.add"))[0]] == ["dan", "root"]
    assert len(by(ws, root, AuditQuery(action="users."))[0]) == 3  # a family
    assert len(by(ws, root, AuditQuery(action="users_"))[0]) == 0  # '_' is no wildcard
    assert [e.action for e in by(ws, root, AuditQuery(actor="me"))[0]] == ["users.add"]
    assert {e.action for e in by(ws, root, AuditQuery(project="tickets"))[0]} == {
        "users.add",
        "project.create",
        "register",
    }
    assert {e.action for e in by(ws, root, AuditQuery(text="reviewer"))[0]} == {"users.grant"}
    now = utcnow()
    assert by(ws, root, AuditQuery(since=now + timedelta(minutes=1)))[1] == 0
    assert by(ws, root, AuditQuery(until=now - timedelta(days=1)))[1] == 0
    entries, total = by(ws, root, AuditQuery(limit=1))
    assert len(entries) == 1 and total == 5


def test_builds_and_releases_are_audited(demo_copy: Path, tmp_path: Path) -> None:
    from core.builds.service import run_build
    from core.registry.service import find_alias
    from core.releases.service import promote

    ws = Workspace.open(demo_copy)
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n")
    before = len(actions(ws).get("promote", []))
    build = run_build(
        ws,
        "hw-triage",
        Actor("ci", "cli"),
        promote_model=True,
        params={"n_estimators": 30},
        gate=lenient,
    )
    assert build.status == "successful"
    found = actions(ws)
    assert found["build.successful"][-1][:4] == (
        "ci",
        "cli",
        "hw-triage",
        f"build {build.number}",  # as people know it; the id in the details
    )
    assert build.number != build.build_id  # the demo has builds of two projects
    details = found["build.successful"][-1][4]
    assert json.loads(str(details))["build_id"] == build.build_id
    assert any(r[3].startswith("model:hw-triage@") for r in found["register"] if r[0] == "ci")
    assert len(found["promote"]) == before + 1 and found["promote"][-1][0] == "ci"
    older = next(a for a in found["promote"] if a[2] == "hw-triage")[3]
    current = find_alias(ws, "hw-triage")
    assert current is not None
    promote(ws, "hw-triage", str(older), Actor("lead", "app"), reason="roll back: complaints")
    rollback = actions(ws)["promote"][-1]
    assert rollback[:3] == ("lead", "app", "hw-triage") and "roll back: complaints" in str(
        rollback[4]
    )
    with pytest.raises(
        Forbidden, match=r"ds \(data_scientist\) may not promote or roll back models"
    ):
        promote(ws, "hw-triage", current.artifact_id, Actor("ds", "cli"), reason="mine")


def test_training_runs_are_audited(demo_copy: Path) -> None:
    from core.experiments.service import train

    ws = Workspace.open(demo_copy)
    result = train(ws, "hw-triage", Actor("ds", "cli"), params={"n_estimators": 10})
    assert any(str(result.run_id) in str(r[3]) for r in actions(ws).get("run.log", []))


def test_a_refused_build_writes_nothing(demo_copy: Path) -> None:
    from core.builds.service import run_build
    from tests.core.test_hardening import tables

    ws = Workspace.open(demo_copy)
    before = tables(ws)
    with pytest.raises(Forbidden, match=r"alice \(annotator\) may not build models in hw-triage"):
        run_build(ws, "hw-triage", Actor("alice", "cli"), params={"n_estimators": 5})
    assert tables(ws) == before


def test_each_flushed_batch_of_runs_leaves_one_row_per_project(ws: Workspace) -> None:
    from core.experiments.tracking import Tracker

    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    create_user(ws, Actor("root", "test"), "dan", roles=["data_scientist"])
    dan = Actor("dan", "cli")
    with Tracker(ws, dan, flush_interval=60) as tracker:
        ids = []
        for project in ("a", "a", "b"):
            with tracker.start_run(project) as run:
                run.log_metric("f1", 0.5)
            ids.append(run.run_id)
    rows = actions(ws)["run.log"]
    assert [(r[0], r[1], r[2]) for r in rows] == [("dan", "cli", "a"), ("dan", "cli", "b")]
    assert rows[0][3] == f"runs #{ids[0]}, #{ids[1]}" and rows[1][3] == f"run #{ids[2]}"
    assert f'"run_ids": [{ids[0]}, {ids[1]}]' in str(rows[0][4])


def test_a_refused_run_is_refused_before_any_work(ws: Workspace, tickets: object) -> None:
    from core.experiments.service import train
    from core.experiments.tracking import Tracker
    from tests.core.test_hardening import tables

    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    create_user(ws, Actor("root", "test"), "ann", roles=["annotator"])
    ann = Actor("ann", "cli")
    before = tables(ws)
    refusal = r"ann \(annotator\) may not train models and log runs in tickets"
    with Tracker(ws, ann) as tracker, pytest.raises(Forbidden, match=refusal):
        tracker.start_run("tickets")
    with pytest.raises(Forbidden, match=refusal):
        train(ws, "tickets", ann)  # refused before it looks for a label set
    assert tables(ws) == before
