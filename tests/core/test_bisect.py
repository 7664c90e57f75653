"""`loopline bisect` (issue 17): a seeded regression in the promoted model history of the small
tickets project — v1 and v2 trained on every label, v3 and v4 on six — is found (v3), with the
evidence per version probed; the check as an expectation or a requirement; exact messages."""

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
         "Unknown check 'accuracy is good'. Expected a requirement of 'tickets' with a metric "
         "or an expectation such as 'accuracy >= 0.9' or 'recall @ language = de >= 0.8'."),
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
