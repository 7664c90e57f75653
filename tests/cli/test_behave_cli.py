"""`loopline behave`: a suite alone on a model, as a table with the failing examples or as JSON;
exit 1 when a test fails, 2 with the reason when there is no suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.api import Actor, Client
from tests.cli.test_build_cli import run
from tests.core.small_project import PROJECT, label_tickets
from tests.core.test_builds_behave import LENIENT, SUITE


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("behave-cli")
    client = Client(folder / "ws", Actor("admin", "test"))
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder)
    (folder / "ws" / "gates").mkdir()
    (folder / "ws" / "gates" / f"{PROJECT}.yaml").write_text(LENIENT, encoding="utf-8")
    assert client.builds.run(PROJECT, promote=True).status == "successful"
    (folder / "suite.yaml").write_text(SUITE, encoding="utf-8")
    return folder


def test_behave_prints_each_test_and_the_failing_examples(promoted: Path) -> None:
    done = run(
        "-w", str(promoted / "ws"), "behave", PROJECT, "--suite", str(promoted / "suite.yaml")
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tickets: tickets v1 on suite.yaml: 2 of 3 tests passed"
    assert any(
        line.startswith(
            "FAIL  a refund that mentions an error is billing  mft   0.300      10  0.108–0.603"
        )
        for line in lines
    ), done.stdout
    assert "FAIL a refund that mentions an error is billing (expected: label is billing)" in lines
    assert "    expected label is billing; got label bug" in lines


def test_behave_as_json(promoted: Path) -> None:
    done = run(
        "-w", str(promoted / "ws"), "behave", PROJECT, "--model", f"model:{PROJECT}@1",
        "--suite", str(promoted / "suite.yaml"), "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["model"], result["passed"]) == ("tickets v1", False)
    weak = result["tests"][1]
    assert (weak["n"], weak["passed_n"], weak["passed"]) == (10, 3, False)
    assert weak["lower"] == pytest.approx(0.108, abs=1e-3)
    assert len(weak["failures"]) == 5


def test_behave_without_a_suite_says_where_to_write_one(promoted: Path) -> None:
    done = run("-w", str(promoted / "ws"), "behave", PROJECT)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: Project 'tickets' has no behavioural suite.",
        "hint: write gates/tickets.behave.yaml in the workspace (see docs/behave.md; the sample "
        "projects' suites are sample_data/<project>/behave.yaml) or pass --suite",
    ]
