"""`loopline bisect` (issue 17): a seeded regression in the promoted model history of the small
tickets project — v1 and v2 trained on every label, v3 and v4 on six — is found (v3), with the
evidence per version probed; the check as an expectation, a requirement or a behavioural test of
the project's suite; exact messages. tests/core/test_bisect_behave.py bisects the demo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.api import Actor, Client, InvalidInput, NotFound
from tests.conftest import ROOT
from tests.core.small_project import PROJECT, WORDS, label_tickets

ADMIN = Actor("admin", "test")
TICKETS = ROOT / "tests" / "fixtures" / "tickets.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Client:
    """Four promoted versions; the third is trained on six labels only (the regression)."""
    folder = tmp_path_factory.mktemp("bisect")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(TICKETS)
    full = label_tickets(client, folder)
    rows = ["item_id,annotator,label"] + [
        f"T-{1000 + i},ops2,{list(WORDS)[i % 3]}" for i in range(6)
    ]
    few = client.labeling.import_labels(
        PROJECT, ("\n".join(rows) + "\n").encode(), "few.csv", task_name="Six labels"
    )
    six = client.labeling.freeze(PROJECT, [few.task_id]).artifact.artifact_id
    for version, (label_set, seed) in enumerate([(full, 0), (full, 1), (six, 0), (six, 1)], 1):
        run = client.runs.train(PROJECT, label_set=label_set, seed=seed)
        model = client.models.register_run(run.run_id)
        client.models.promote(PROJECT, model.artifact_id, reason=f"v{version}")
    return client


def test_bisect_names_the_version_that_broke_the_check(history: Client) -> None:
    report = history.automation.bisect(PROJECT, "accuracy >= 0.9")
    assert report.versions == tuple(f"model:tickets@{v}" for v in (1, 2, 3, 4))
    assert (report.last_good, report.first_bad) == ("model:tickets@2", "model:tickets@3")
    assert report.verdict == (
        "model:tickets@3 broke accuracy >= 0.9: model:tickets@2 before it passed."
    )
    probed = {p.model: p for p in report.probes}
    assert set(probed) <= set(report.versions) and len(probed) == 4  # newest, oldest, halves
    assert probed["model:tickets@3"].passed is False and probed["model:tickets@2"].passed
    assert all(p.n == 36 and p.value is not None for p in report.probes)
    assert probed["model:tickets@3"].note.startswith("accuracy = 0.")


def test_every_version_and_a_slice(history: Client) -> None:
    report = history.automation.bisect(PROJECT, "accuracy @ channel = chat >= 0", every=True)
    assert len(report.probes) == 4 and report.first_bad is None
    assert all(p.n == 13 and p.passed for p in report.probes)  # the test set's chat tickets
    unknown = history.automation.bisect(PROJECT, "accuracy @ channel = fax >= 0.5")
    assert unknown.verdict == (
        "accuracy @ channel = fax >= 0.5 fails since the first promoted version, model:tickets@1."
    )
    assert unknown.probes[-1].note == (
        "no accuracy on slice 'channel = fax' (unknown metric, or too few items)"
    )


def test_a_check_that_holds_finds_nothing(history: Client) -> None:
    report = history.automation.bisect(PROJECT, "accuracy >= 0.5")
    assert report.first_bad is None
    assert report.verdict == "model:tickets@4 passes accuracy >= 0.5: nothing is broken."
    assert [p.model for p in report.probes] == ["model:tickets@4"]


def test_a_requirement_is_a_check(history: Client, tmp_path: Path) -> None:
    shutil.copytree(history.location, tmp_path / "ws")
    history = Client(tmp_path / "ws", ADMIN)
    (tmp_path / "reqs.yaml").write_text(
        "project: tickets\n"
        "system:\n  - {id: SYS-1, title: Tickets reach the right team}\n"
        "ml:\n  - {id: ML-1, title: Routing accuracy, derived_from: [SYS-1], metric: accuracy,\n"
        "     comparator: '>=', threshold: 0.9}\n",
        encoding="utf-8",
    )
    history.requirements.import_file(tmp_path / "reqs.yaml")
    report = history.automation.bisect(PROJECT, "ML-1")
    assert (report.check.requirement_id, report.check.expectation) == ("ML-1", "accuracy >= 0.9")
    assert report.first_bad == "model:tickets@3"


SUITE = """\
seed: 3
tests:
  - name: a billing question goes to billing
    type: mft
    examples:
      template: {text: "please help {a} {b} {c}", channel: mail}
      fill:
        a: [invoice, refund, charged]
        b: [payment, receipt, price]
        c: [invoice, refund, charged, payment, receipt, price]
      count: 20
    expect: {label: billing}
    min_pass_rate: MIN
"""
BILLING = "a billing question goes to billing"


def _with_suite(history: Client, folder: Path, min_pass_rate: float = 0.9) -> Client:
    """A copy of the history whose project has a behavioural suite (gates/tickets.behave.yaml)."""
    shutil.copytree(history.location, folder / "ws")
    (folder / "ws" / "gates").mkdir(exist_ok=True)
    suite = SUITE.replace("MIN", str(min_pass_rate))
    (folder / "ws" / "gates" / "tickets.behave.yaml").write_text(suite, encoding="utf-8")
    return Client(folder / "ws", ADMIN)


def test_a_behavioural_test_is_a_check(history: Client, tmp_path: Path) -> None:
    """The suite's test re-run on each version with the same 20 examples: pass rate, n, the
    Wilson interval and a failing example per version; the test's own min_pass_rate."""
    client = _with_suite(history, tmp_path)
    report = client.automation.bisect(PROJECT, f"behave:{BILLING}", every=True)
    assert (report.check.test, report.check.threshold) == (BILLING, 0.9)
    assert report.check.expectation == f"behave: {BILLING} (pass rate >= 0.9)"
    assert (report.last_good, report.first_bad) == ("model:tickets@2", "model:tickets@3")
    assert report.verdict == (
        f"model:tickets@3 broke behave: {BILLING} (pass rate >= 0.9): model:tickets@2 before it "
        "passed."
    )
    assert [p.n for p in report.probes] == [20] * 4
    good, bad = report.probes[1], report.probes[2]
    assert good.passed and good.value is not None and good.value >= 0.9 and not good.example
    assert not bad.passed and bad.value is not None and bad.value < 0.9
    assert bad.lower is not None and bad.upper is not None and bad.lower <= bad.value <= bad.upper
    assert bad.note.startswith(
        f"{round(bad.value * 20)}/20 passed ({bad.value:.3f}; n = 20, 95% CI"
    )
    assert bad.note.endswith("fails >= 0.9")
    assert bad.example.startswith("please help ") and "expected label is billing, got label " in (
        bad.example
    )
    again = client.automation.bisect(PROJECT, f"behave: '{BILLING}'", every=True)
    assert again.probes == report.probes  # seeded: the same examples, the same figures


def test_a_behavioural_test_with_its_own_threshold(history: Client, tmp_path: Path) -> None:
    client = _with_suite(history, tmp_path, min_pass_rate=1.0)
    strict = client.automation.bisect(PROJECT, f"behave:{BILLING}")
    lenient = client.automation.bisect(PROJECT, f"behave_pass_rate @ test = {BILLING} >= 0")
    assert strict.check.threshold == 1.0 and strict.first_bad is not None
    assert lenient.check.test == BILLING and lenient.first_bad is None
    assert lenient.verdict == (
        f"model:tickets@4 passes behave: {BILLING} (pass rate >= 0): nothing is broken."
    )


def test_a_requirement_on_a_behavioural_test_is_a_check(history: Client, tmp_path: Path) -> None:
    client = _with_suite(history, tmp_path)
    (tmp_path / "reqs.yaml").write_text(
        "project: tickets\n"
        "system:\n  - {id: SYS-1, title: Billing questions reach billing}\n"
        "ml:\n  - {id: ML-1, title: Billing questions are billing, derived_from: [SYS-1],\n"
        "     metric: behave_pass_rate, slices: ['test = a billing question goes to billing'],\n"
        "     comparator: '>=', threshold: 0.9, evidence: build}\n"
        "  - {id: ML-2, title: Both channels, derived_from: [SYS-1], metric: accuracy,\n"
        "     slices: ['channel = mail', 'channel = chat'], comparator: '>=', threshold: 0.8}\n",
        encoding="utf-8",
    )
    client.requirements.import_file(tmp_path / "reqs.yaml")
    report = client.automation.bisect(PROJECT, "ML-1")
    assert (report.check.requirement_id, report.check.test) == ("ML-1", BILLING)
    assert report.first_bad == "model:tickets@3"
    with pytest.raises(InvalidInput) as error:
        client.automation.bisect(PROJECT, "ML-2")
    assert error.value.message == (
        "Requirement ML-2 holds on 2 slices (channel = mail; channel = chat): bisect follows one "
        "figure."
    )
    assert error.value.hint == (
        "write the expectation for one of them: 'accuracy @ channel = mail >= 0.8'"
    )


def test_a_behavioural_check_that_names_no_known_test(history: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        history.automation.bisect(PROJECT, f"behave:{BILLING}")
    assert missing.value.message == (
        f"Project 'tickets' has no behavioural suite to take the test '{BILLING}' from."
    )
    client = _with_suite(history, tmp_path)
    for check, message in [
        ("behave:billing questions",
         "tickets.behave.yaml has no behavioural test 'billing questions'. "
         f"Expected one of: {BILLING}."),
        ("behave: ", "The check 'behave: ' names no behavioural test."),
        ("behave_pass_rate >= 0.9",
         "The check 'behave_pass_rate >= 0.9': behave_pass_rate is a behavioural test's pass "
         "rate and needs the test as its slice, not 'none'."),
    ]:  # fmt: skip
        with pytest.raises(InvalidInput) as error:
            client.automation.bisect(PROJECT, check)
        assert error.value.message == message


def test_the_cli_prints_a_behavioural_tests_evidence(history: Client, tmp_path: Path) -> None:
    client = _with_suite(history, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(client.location), "bisect", PROJECT,
         "--check", f"behave:{BILLING}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"tickets: behave: {BILLING} (pass rate >= 0.9) over 4 versions"
    assert lines[1].split() == ["version", "promoted", "pass", "rate", "n", "95%", "CI", "verdict"]
    assert any(line.startswith("model:tickets@3, e.g. please help ") for line in lines)
    assert lines[-1].startswith("model:tickets@3 broke behave: ")


def test_the_cli_prints_the_evidence_and_exits_1(history: Client) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(history.location), "bisect", PROJECT,
         "--check", "accuracy >= 0.9", "--json"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["first_bad"] == "model:tickets@3"
    assert [p["passed"] for p in report["probes"]] == [True, True, False, False]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("accuracy is good",
         "Unknown check 'accuracy is good'. Expected a requirement of 'tickets' with a metric, "
         "an expectation such as 'accuracy >= 0.9' or 'recall @ language = de >= 0.8', "
         "or a behavioural test such as 'behave:NAME'."),
    ],
)  # fmt: skip
def test_a_bad_check_is_named(history: Client, check: str, message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        history.automation.bisect(PROJECT, check)
    assert error.value.message == message


def test_a_project_never_in_production_has_nothing_to_bisect(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    client.projects.create(TICKETS)
    with pytest.raises(NotFound) as error:
        client.automation.bisect(PROJECT, "accuracy >= 0.9")
    assert error.value.message == (
        "Project 'tickets' has never had a model in production: nothing to bisect."
    )


def test_bisect_needs_the_right_to_read_experiments(history: Client, tmp_path: Path) -> None:
    """An annotator may not re-run the project's promoted models; the refusal says who may."""
    from core.api import Forbidden

    copy = tmp_path / "ws"
    shutil.copytree(history.workspace.root, copy)
    admin = Client(copy, ADMIN)
    admin.accounts.create_user("admin", roles=["admin"])
    admin.accounts.create_user("ann", roles=["annotator"])
    with pytest.raises(Forbidden) as refused:
        Client(copy, Actor("ann", "test")).automation.bisect(PROJECT, "accuracy >= 0.9")
    assert refused.value.message == (
        "ann (annotator) may not see runs, builds and models in tickets; a data_scientist or "
        "release_manager or manager role is needed."
    )
