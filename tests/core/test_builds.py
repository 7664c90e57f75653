"""Training, registry and the build gate on the demo's real label sets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core.actor import Actor
from core.artifacts.service import get_artifact, list_artifacts
from core.builds.gate import MaxRegression, MinMetric, parse_gate
from core.builds.service import junit_xml, list_builds, run_build
from core.errors import InvalidInput
from core.experiments.service import get_run, load_run_model, train
from core.registry.service import find_alias, promotion_history
from core.releases.service import promote
from core.store import Workspace

CI = Actor("ci", "cli")

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws


def test_training_is_reproducible_and_tracked(demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    first = train(ws, "ooo-replies", CI, seed=3)
    second = train(ws, "ooo-replies", CI, seed=3)
    model_files = {
        r: h for r, h in first.files.items() if r != "evaluation.json"
    }  # it holds timings
    assert model_files == {r: h for r, h in second.files.items() if r != "evaluation.json"}
    assert first.evaluation.overall == second.evaluation.overall
    run = get_run(ws, first.run_id)
    assert run.status == "finished" and run.params["trainer"] == "tfidf_lr"
    assert run.inputs["label_set"] == first.label_set.artifact_id
    assert "language = en" in run.slice_metrics and run.metrics["accuracy"] > 0.85
    assert "span_f1.RETURN_DATE" in run.metrics
    model = load_run_model(ws, first.run_id)
    assert model.predict(first.model and get_test_frame(ws), _spec(ws))[:1]


def _spec(ws: Workspace):  # type: ignore[no-untyped-def]
    from core.projects.service import get_project

    return get_project(ws, "ooo-replies").spec


def get_test_frame(ws: Workspace):  # type: ignore[no-untyped-def]
    from core.experiments.service import project_test_set

    return project_test_set(ws, _spec(ws)).frame.head(3)


def test_build_registers_promotes_and_gates(demo_copy: Path, tmp_path: Path) -> None:
    ws = Workspace.open(demo_copy)
    serving = find_alias(ws, "hw-triage")
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n")
    first = run_build(
        ws, "hw-triage", CI, promote_model=True, params={"n_estimators": 40}, gate=lenient
    )
    assert first.status == "successful" and first.exit_code == 0 and first.registered_model
    # --promote goes through hw-triage's policy (servable, no open alert, behaviour passed),
    # which a passing build meets; a policy's refusal is tested in test_builds_rules.py
    assert first.model_id is not None and serving is not None
    promoted = find_alias(ws, "hw-triage")
    assert promoted is not None and promoted.artifact_id == first.model_id != serving.artifact_id
    assert first.log.splitlines()[-1] == "promoted to production (the promotion policy is met)"
    production = get_artifact(ws, first.model_id)
    assert {e for e in production.metadata} >= {
        "run_id",
        "trainer",
        "dataset_id",
        "label_set_id",
        "metrics",
    }
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        "checks:\n  - {check: max_regression, metric: accuracy, slices: protected, tolerance: 0.0}\n"
        "  - {check: min_metric, metric: accuracy, threshold: 0.99}\n"
    )
    worse = run_build(ws, "hw-triage", CI, trainer="lr", gate=gate)
    assert worse.status == "failed" and worse.exit_code == 1 and worse.model_id is None
    failed = [c for c in worse.checks if not c.passed]
    assert "min accuracy" in [c.name for c in failed]
    assert any(c.slice == "firmware_version = R23.4" for c in worse.checks)
    suite = ET.fromstring(junit_xml(worse)).find("testsuite")
    assert suite is not None and suite.get("failures") == str(len(failed))
    aborted = run_build(ws, "hw-triage", CI, trainer="tfidf_lr")
    assert aborted.status == "aborted" and aborted.exit_code == 2
    assert "is for text_classification projects" in aborted.reason
    assert [b.status for b in list_builds(ws, "hw-triage")][:3] == [
        "aborted",
        "failed",
        "successful",
    ]
    assert find_alias(ws, "hw-triage") == promoted  # a failed or aborted build moves nothing


def test_promotion_history_and_rollback(demo_copy: Path, tmp_path: Path) -> None:
    ws = Workspace.open(demo_copy)
    lenient = tmp_path / "gate.yaml"
    lenient.write_text("checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n")
    one = run_build(
        ws, "hw-triage", CI, promote_model=True, params={"n_estimators": 20}, gate=lenient
    )
    two = run_build(ws, "hw-triage", CI, params={"n_estimators": 30, "max_depth": 3}, gate=lenient)
    assert two.model_id is not None
    promote(ws, "hw-triage", two.model_id, Actor("lead", "cli"), reason="better on R23.4")
    promote(ws, "hw-triage", one.model_id, Actor("lead", "cli"), reason="roll back: complaints")  # type: ignore[arg-type]
    history = promotion_history(ws, "hw-triage")
    assert [(h.artifact_id, h.reason) for h in history[:2]] == [
        (one.model_id, "roll back: complaints"),
        (two.model_id, "better on R23.4"),
    ]
    versions = {
        m.artifact_id: m.version for m in list_artifacts(ws, kind="model", project="hw-triage")
    }
    assert two.model_text == f"hw-triage v{versions[two.model_id]}"  # named for people
    assert (history[0].model_text, history[0].previous_model_text) == (
        one.model_text,
        two.model_text,
    )
    with pytest.raises(InvalidInput, match="Say why"):
        promote(ws, "hw-triage", one.model_id, CI, reason=" ")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"checks": [{"check": "min_metrik", "metric": "f1"}]}, "Unknown check 'min_metrik'"),
        (
            {"checks": [{"check": "min_metric", "metric": "f1", "treshold": 1}]},
            "unexpected keyword argument",
        ),
        ({"rules": []}, "expected a mapping with a list of 'checks'"),
        (
            {"checks": [{"check": "min_pass_rate", "threshold": 2}]},
            r"gate.yaml: checks\[0\].threshold: expected a share from 0 to 1, got 2.",
        ),
        (
            {"checks": [{"check": "min_pass_rate", "rate": 0.9}]},
            r"gate.yaml: checks\[0\]: the min_pass_rate check takes only 'threshold' and 'tests', "
            "not rate.",
        ),
    ],
)
def test_bad_gate_files(data: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_gate(data, "gate.yaml")


def test_every_registered_check_runs_on_an_evaluation() -> None:
    """Contract: each check in the registry returns results with a message, with and without production."""
    from core.behave.models import BehaveResult
    from core.builds.gate import CHECKS, MaxLatency, MeetsRequirements, MinPassRate
    from core.ml.evaluate import Evaluation
    from core.projects.service import load_spec_text
    from core.requirements.rules import Rule
    from tests.conftest import FIXTURES

    spec = load_spec_text((FIXTURES / "tickets.yaml").read_text())
    evaluation = Evaluation(
        {"accuracy": 0.9, "f1_macro": 0.8},
        {"channel = mail": {"accuracy": 0.85}},
        {"channel = mail": 40},
        [[100]],  # 100 items: the accuracy's interval clears 0.5
        ["a"],
        {"latency_p95_ms": 3.0},
    )
    examples = {
        "min_metric": MinMetric("accuracy", 0.5),
        "max_regression": MaxRegression("accuracy", 0.01, "protected"),
        "max_latency": MaxLatency(10.0),
        "requirements": MeetsRequirements(
            rules=(Rule("ML-1", "accuracy", ">=", 0.5, ("channel = mail",), derived_from=("S",)),)
        ),
        "min_pass_rate": MinPassRate(
            results=(BehaveResult("casing", "inv", "", "label unchanged", 20, 19, 0.9),),
            suite="tickets.behave.yaml",
        ),
    }
    assert set(examples) == set(CHECKS)
    for check in examples.values():
        for baseline in (None, evaluation):
            results = check.run(evaluation, baseline, spec)
            assert results and all(r.message and r.passed for r in results)
    assert json.dumps(
        [r.__dict__ for r in examples["max_regression"].run(evaluation, evaluation, spec)]
    )


def test_a_registered_model_reproduces_in_another_process(demo_copy: Path) -> None:
    """`loopline reproduce MODEL` retrains from the recorded inputs under another hash seed."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "-w",
            str(demo_copy),
            "reproduce",
            "model:ooo-replies@1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("model:ooo-replies@1: identical")


def test_a_build_identical_to_production_registers_nothing(demo_copy: Path) -> None:
    """Re-running CI on unchanged inputs must not pile up identical model versions."""
    from core.artifacts.service import list_artifacts

    ws = Workspace.open(demo_copy)
    before = list_artifacts(ws, kind="model", project="hw-triage")
    again = run_build(
        ws, "hw-triage", CI, promote_model=True
    )  # the demo's build 1 had the same inputs
    assert again.status == "successful"
    production = find_alias(ws, "hw-triage")
    assert production is not None and again.model_id == production.artifact_id
    assert list_artifacts(ws, kind="model", project="hw-triage") == before
    assert "identical to production" in again.log


def test_a_violated_requirement_whose_evidence_is_the_build_fails_it(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    """`loopline build` checks every ML requirement with evidence 'build' and names its id."""
    from core.requirements.status import current_statuses
    from tests.core.test_requirements_support import import_text

    ws = evidence_ws
    lenient = tmp_path / "gate.yaml"
    lenient.write_text("checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.0}\n")
    import_text(
        ws,
        "project: tickets\nsystem:\n  - {id: SYS-1, title: Routing}\nml:\n"
        "  - {id: ML-7, title: Mail, derived_from: [SYS-1], metric: accuracy, slice: channel = mail, "
        "threshold: 0.999, evidence: build}\n"
        "  - {id: ML-8, title: Fast, derived_from: [SYS-1], metric: latency_p95_ms, threshold: 60000, "
        "evidence: build}\n"
        "  - {id: ML-9, title: Quick training, derived_from: [SYS-1], metric: training_time_s, "
        "threshold: 3600, evidence: build}\n",
        tmp_path,
    )
    failed = run_build(ws, "tickets", CI, gate=lenient, params={"C": 0.01})
    assert failed.status == "failed" and failed.model_id is None
    assert failed.reason.startswith("ML-7: accuracy on channel = mail = ")
    assert failed.reason.endswith(
        "; fewer than the 30 needed to judge): inconclusive (fails the build: a protected slice)"
    )
    names = [c.name for c in failed.checks if c.kind == "requirement"]
    assert names == [
        "ML-7: accuracy on channel = mail ≥ 0.999",
        "ML-8: latency_p95_ms ≤ 60000",
        "ML-9: training_time_s ≤ 3600",
    ]
    suite = ET.fromstring(junit_xml(failed)).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases[names[0]].get("classname") == "loopline.requirements.tickets"
    assert cases[names[0]].find("failure") is not None and cases[names[1]].find("failure") is None
    found = current_statuses(ws, "tickets")
    # the gate weighs the sample as the matrix does: the mail slice is below the minimum sample
    # (30), so it is inconclusive in both, never met, and the gate fails on it by default
    assert found["ML-7"].status == "inconclusive" and found["ML-7"].build_id == failed.build_id
    assert found["SYS-1"].via == "ML-7"
    explicit = tmp_path / "only-ml8.yaml"
    explicit.write_text("checks:\n  - {check: requirements, ids: [ML-8]}\n")
    passed = run_build(ws, "tickets", CI, gate=explicit, params={"C": 0.02})
    assert passed.status == "successful"
    assert [c.name for c in passed.checks] == ["ML-8: latency_p95_ms ≤ 60000"]
    with pytest.raises(
        InvalidInput,
        match="the requirements check takes only 'ids' and 'inconclusive', not treshold",
    ):
        parse_gate({"checks": [{"check": "requirements", "treshold": 1}]}, "gate.yaml")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("checks:\n  - {check: requirements, ids: [ML-99]}\n")
    aborted = run_build(ws, "tickets", CI, gate=unknown)
    assert aborted.status == "aborted" and "ML-99" in aborted.reason


DS = Actor("ds", "cli")  # the demo's data scientist: may build, may not promote


def _builds_and_runs(ws: Workspace, project: str) -> tuple[int, int]:
    with ws.store.read() as tx:
        builds = tx.scalar("SELECT count(*) FROM builds WHERE project = ?", [project])
        runs = tx.scalar("SELECT count(*) FROM runs WHERE project = ?", [project])
    return int(builds), int(runs)


def test_a_data_scientists_build_promote_is_refused_before_training(
    demo_copy: Path, tmp_path: Path
) -> None:
    """The role matrix refuses promote to a data scientist: say so before anything is written."""
    from core.errors import Forbidden

    ws = Workspace.open(demo_copy)
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n")
    before = _builds_and_runs(ws, "hw-triage")
    with pytest.raises(Forbidden) as refused:
        run_build(
            ws, "hw-triage", DS, promote_model=True, params={"n_estimators": 40}, gate=lenient
        )
    assert refused.value.message == (
        "ds (data_scientist) may not promote or roll back models in hw-triage; "
        "a release_manager role is needed."
    )
    assert _builds_and_runs(ws, "hw-triage") == before  # no build row, no run
    assert all(b.status != "running" for b in list_builds(ws, "hw-triage"))


def test_a_build_start_is_audited_and_its_end_closes_the_row(demo_copy: Path) -> None:
    from core.accounts.audit import AuditQuery, select_entries

    ws = Workspace.open(demo_copy)
    done = run_build(ws, "hw-triage", CI, trainer="tfidf_lr")  # aborted: a text trainer
    assert done.status == "aborted" and done.ended_at is not None
    assert done.number != done.build_id  # the demo has builds of two projects
    with ws.store.read() as tx:
        entries, _ = select_entries(tx, AuditQuery(project="hw-triage", action="build."))
    ours = [e for e in reversed(entries) if e.details.get("build_id") == done.build_id]
    assert [(e.action, e.target) for e in ours] == [  # named as people know the build
        ("build.running", f"build {done.number}"),
        ("build.aborted", f"build {done.number}"),
    ]
    assert not (demo_copy / "locks" / f"build-{done.build_id}.lock").exists()


def _leftover_running_build(ws: Workspace, project: str) -> int:
    """The row a killed build left behind (the process died before closing it)."""
    from core.store import utcnow

    with ws.store.transaction() as tx:
        build_id = int(tx.scalar("SELECT nextval('build_ids')"))
        tx.execute(
            "INSERT INTO builds (build_id, number, project, status, reason, log, started_at, "
            "created_by) SELECT ?, coalesce(max(number), 0) + 1, ?, 'running', '', '', ?, 'ci' "
            "FROM builds WHERE project = ?",
            [build_id, project, utcnow(), project],
        )
    return build_id


def test_a_build_whose_process_died_is_reaped_by_the_next_reader(demo_copy: Path) -> None:
    from core.builds.owner import BuildOwner
    from core.builds.reaper import DEAD_OWNER, reap_dead_builds
    from core.builds.service import get_build

    ws = Workspace.open(demo_copy)
    dead = _leftover_running_build(ws, "hw-triage")
    alive = _leftover_running_build(ws, "hw-triage")
    with BuildOwner.take(ws.root, alive):  # a live build holds its lock
        shown = {b.build_id: b for b in list_builds(ws, "hw-triage")}
        assert shown[dead].status == "aborted" and shown[dead].reason == DEAD_OWNER
        assert shown[dead].ended_at is not None
        assert shown[alive].status == "running"
        assert reap_dead_builds(ws, CI) == []  # nothing left to reap while the owner lives
    assert get_build(ws, alive).status == "aborted"  # its owner let go without closing it
    from core.accounts.audit import AuditQuery, select_entries

    number = get_build(ws, dead).number
    with ws.store.read() as tx:
        entries, _ = select_entries(tx, AuditQuery(action="build.reaped"))
    reaped = [e for e in entries if e.details.get("build_id") == dead]
    assert [(e.actor, e.target) for e in reaped] == [("loopline", f"build {number}")]
    assert DEAD_OWNER == "the build process ended without closing the build (killed?)"
