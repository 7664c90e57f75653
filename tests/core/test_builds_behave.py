"""Behavioural tests in builds, on the small tickets project: the suite runs in every build, its
tests become gate checks and JUnit cases with failing examples, its figures are stored per build
and run, the gate can narrow or relax it, and a bad suite or gate aborts the build by name. Builds
are numbered per project."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core.api import Actor, Client, CoreError
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
SUITE = """\
seed: 3
tests:
  - name: billing words route to billing
    type: mft
    capability: routing
    examples:
      template: {text: "please help {a} {b} {c}"}
      fill: {a: [invoice, refund], b: [payment, receipt], c: [charged, price]}
      count: 12
    expect: {label: billing}
  - name: a refund that mentions an error is billing
    type: mft
    capability: routing
    examples:
      template: {text: "please help refund {a} {b} {c}"}
      fill: {a: [crash, error], b: [broken, fails], c: [bug, freezes]}
      count: 10
    expect: {label: billing}
  - name: shouting does not change the team
    type: inv
    capability: robustness
    examples: {test_set: 20}
    perturb: {kind: casing, mode: upper}
    expect: {label_unchanged: true}
"""
WEAK_TEST = "a refund that mentions an error is billing"
LENIENT = "checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n"


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("behave")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder)
    return folder / "ws"


def _client(
    labeled: Path, tmp_path: Path, suite: str | None = SUITE, gate: str = LENIENT
) -> Client:
    shutil.copytree(labeled, tmp_path / "ws")
    gates = tmp_path / "ws" / "gates"
    gates.mkdir()
    (gates / f"{PROJECT}.yaml").write_text(gate, encoding="utf-8")
    if suite is not None:
        (gates / f"{PROJECT}.behave.yaml").write_text(suite, encoding="utf-8")
    return Client(tmp_path / "ws", ADMIN)


def test_a_build_runs_the_suite_and_a_failing_test_fails_it(labeled: Path, tmp_path: Path) -> None:
    client = _client(labeled, tmp_path)
    build = client.builds.run(PROJECT)
    assert (build.status, build.number, build.label) == ("failed", 1, "#1")
    behave = {c.name: c for c in build.checks if c.kind == "behave"}
    assert list(behave) == [
        "behave: billing words route to billing",
        f"behave: {WEAK_TEST}",
        "behave: shouting does not change the team",
    ]
    weak = behave[f"behave: {WEAK_TEST}"]
    assert not weak.passed and weak.value == 0.3 and weak.threshold == 0.9
    assert weak.slice == f"test = {WEAK_TEST}" and weak.metric == "behave_pass_rate"
    assert weak.message.startswith("3/10 passed (0.300; n = 10, 95% CI 0.108–0.603) < 0.9")
    assert "e.g. expected label is billing, got label bug" in weak.message
    assert build.reason == weak.message
    assert behave["behave: billing words route to billing"].passed
    assert behave["behave: shouting does not change the team"].value == 1.0
    results = {r.name: r for r in build.behave}
    assert results[WEAK_TEST].failures[0].example.startswith("please help refund ")
    assert len(results[WEAK_TEST].failures) == 5  # seven failed, at most five kept
    assert "behavioural suite tickets.behave.yaml: 2 of 3 tests passed" in build.log


def test_the_figures_are_stored_with_the_build_and_its_run(labeled: Path, tmp_path: Path) -> None:
    client = _client(labeled, tmp_path)
    build = client.builds.run(PROJECT)
    with client.workspace.store.read() as tx:
        rows = tx.rows(
            "SELECT test_name, run_id, n, passed_n, pass_rate, lower, upper, passed "
            "FROM behave_results WHERE build_id = ? ORDER BY rowid",
            [build.build_id],
        )
    assert [r[0] for r in rows] == [r.name for r in build.behave]
    _, run_id, n, passed_n, rate, lower, upper, passed = rows[0]
    assert (run_id, n, passed_n, rate, passed) == (build.run_id, 12, 12, 1.0, True)
    assert lower == pytest.approx(0.757, abs=1e-3) and upper == 1.0
    artifact = client.artifacts.get(build.artifact_id)
    stored = json.loads(client.workspace.blobs.read_bytes(artifact.file("behave.json").blob_hash))
    assert [t["name"] for t in stored["tests"]] == [r.name for r in build.behave]
    assert client.builds.get(build.build_id).behave == build.behave  # read back as written


def test_junit_has_one_case_per_test_with_its_failing_examples(
    labeled: Path, tmp_path: Path
) -> None:
    client = _client(labeled, tmp_path)
    build = client.builds.run(PROJECT)
    suite = ET.fromstring(client.builds.junit_xml(build)).find("testsuite")
    assert suite is not None and suite.get("name") == f"loopline build #1 {PROJECT}"
    cases = [c for c in suite if c.get("classname") == f"loopline.behave.{PROJECT}"]
    assert [c.get("name") for c in cases] == [c.name for c in build.checks if c.kind == "behave"]
    failure = cases[1].find("failure")
    assert failure is not None and failure.text is not None
    assert "- please help refund " in failure.text
    assert "expected: label is billing" in failure.text and "got: label bug" in failure.text
    assert cases[0].find("failure") is None


def test_the_gate_narrows_and_relaxes_the_suite(labeled: Path, tmp_path: Path) -> None:
    gate = LENIENT + (
        "  - {check: min_pass_rate, threshold: 0.5, tests: "
        "[billing words route to billing, shouting does not change the team]}\n"
    )
    client = _client(labeled, tmp_path, gate=gate)
    build = client.builds.run(PROJECT)
    assert build.status == "successful", build.reason
    assert [c.threshold for c in build.checks if c.kind == "behave"] == [0.5, 0.5]
    assert len(build.behave) == 3  # every test still ran and is kept
    second = client.builds.run(PROJECT)
    assert second.number == 2
    assert client.builds.get_number(PROJECT, 2).build_id == second.build_id
    with pytest.raises(CoreError) as missing:
        client.builds.get_number(PROJECT, 7)
    assert missing.value.message == "Project 'tickets' has no build #7."


def test_a_gate_naming_an_unknown_test_aborts_the_build(labeled: Path, tmp_path: Path) -> None:
    gate = LENIENT + "  - {check: min_pass_rate, tests: [nope]}\n"
    build = _client(labeled, tmp_path, gate=gate).builds.run(PROJECT)
    assert build.status == "aborted"
    assert build.reason == (
        "The gate names behavioural test(s) 'nope', which tickets.behave.yaml does not have."
    )


def test_a_bad_suite_aborts_the_build_by_its_place(labeled: Path, tmp_path: Path) -> None:
    bad = SUITE.replace("kind: casing", "kind: shout")
    build = _client(labeled, tmp_path, suite=bad).builds.run(PROJECT)
    assert build.status == "aborted"
    assert build.reason.startswith(
        "tickets.behave.yaml: tests[2].perturb.kind: Unknown perturbation 'shout'."
    )


def test_without_a_suite_the_build_has_no_behavioural_check_unless_the_gate_asks(
    labeled: Path, tmp_path: Path
) -> None:
    client = _client(labeled, tmp_path, suite=None)
    build = client.builds.run(PROJECT)
    assert build.status == "successful" and build.behave == ()
    assert [c.kind for c in build.checks] == ["min_metric"]
    assert "behavioural suite: none (gates/tickets.behave.yaml)" in build.log
    (tmp_path / "ws" / "gates" / f"{PROJECT}.yaml").write_text(
        LENIENT + "  - {check: min_pass_rate}\n", encoding="utf-8"
    )
    asked = client.builds.run(PROJECT)
    assert asked.status == "failed"
    assert asked.reason == "no behavioural suite: write gates/tickets.behave.yaml (docs/behave.md)"


def test_behave_runs_a_suite_alone_on_a_registered_model(labeled: Path, tmp_path: Path) -> None:
    client = _client(labeled, tmp_path, suite=None)
    build = client.builds.run(PROJECT, promote=True)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE, encoding="utf-8")
    result = client.behave.run(PROJECT, suite=suite_file)
    assert result.model == build.model_text and result.source == "suite.yaml"
    assert [t.passed for t in result.tests] == [True, False, True]
    by_ref = client.behave.run(PROJECT, model=f"model:{PROJECT}@1", suite=suite_file)
    assert by_ref.tests == result.tests  # seeded: the same examples, the same figures
    with pytest.raises(CoreError) as none:
        client.behave.run(PROJECT)
    assert none.value.message == "Project 'tickets' has no behavioural suite."
    with pytest.raises(CoreError) as no_model:
        client.behave.run(PROJECT, model="candidate", suite=suite_file)
    assert no_model.value.message == "Project 'tickets' has no model in candidate."


def test_a_remote_build_runs_the_suite_on_the_runners_model(labeled: Path, tmp_path: Path) -> None:
    from tests.core.test_builds_remote import _remote_build

    client = _client(labeled, tmp_path)
    local = client.builds.run(PROJECT)
    remote = _remote_build(client, tmp_path / "runner")
    assert (remote.status, remote.number) == ("failed", 2)
    assert [(t.name, t.n, t.passed_n) for t in remote.behave] == [
        (t.name, t.n, t.passed_n) for t in local.behave
    ]  # the same model from the same data and seed: the same figures
    assert [c.name for c in remote.checks if c.kind == "behave"] == [
        c.name for c in local.checks if c.kind == "behave"
    ]
