"""`loopline promote --to`, `loopline environments` and `loopline candidate` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.core.release_project import two_models

LOOPLINE = [sys.executable, "-m", "core.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOOPLINE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(two_models(tmp_path_factory.mktemp("release-cli")))


def test_promote_lists_the_unmet_conditions(ws: str) -> None:
    done = run(
        "-w", ws, "promote", "tickets", "model:tickets@2", "--to", "production", "--reason", "r"
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        "error: model:tickets@2 cannot enter production: 1 of 5 conditions unmet — min_served: "
        "0 of 200 predictions served or shadowed (serve it with `loopline serve PROJECT --shadow` "
        "while in acceptance)."
    )


def test_environments_and_candidate(ws: str) -> None:
    done = run("-w", ws, "environments", "tickets")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Environments of tickets (policy: policies/tickets.yaml)"
    assert lines[1].startswith("  acceptance  model:tickets@2 since ")
    assert lines[2].startswith("  production  model:tickets@1 since ")
    assert lines[3] == "model:tickets@2: not ready for production"
    assert "  [ ] min_served: 0 of 200 predictions served or shadowed" in done.stdout
    candidate = run("-w", ws, "candidate", "tickets", "--check-canary")
    assert candidate.returncode == 0, candidate.stderr
    assert candidate.stdout.splitlines()[0] == "tickets: no canary runs"
    assert "0 request(s) scored by both" in candidate.stdout.splitlines()[1]


def test_a_candidate_runs_in_the_shadow_or_as_a_canary_not_both(ws: str) -> None:
    done = run("-w", ws, "serve", "tickets", "--shadow", "--canary", "5")
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


def test_acceptance_takes_a_servable_model(ws: str, tmp_path: Path) -> None:
    done = run(
        "-w", ws, "promote", "tickets", "model:tickets@1", "--to", "acceptance", "--reason", "back"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "acceptance of tickets is now model:tickets@1"
