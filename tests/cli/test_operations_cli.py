"""`loopline serve` and `loopline simulate` as a user runs them: messages, exit codes, output."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.actor import Actor
from core.projects.service import create_project
from core.store import Workspace
from tests.conftest import FIXTURES, ROOT

LOOPLINE = [sys.executable, "-m", "core.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOOPLINE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_serve_needs_a_production_model(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    create_project(ws, FIXTURES / "tickets.yaml", Actor("tester", "test"))
    done = run("--workspace", str(ws.root), "serve", "tickets", "--port", "0")
    assert done.returncode == 2
    assert (
        done.stderr.splitlines()[0] == "error: Project 'tickets' has no production model to serve."
    )
    assert done.stderr.splitlines()[1].startswith("hint: promote one: `loopline promote tickets")
    unknown = run("--workspace", str(ws.root), "serve", "nope", "--port", "0")
    assert unknown.returncode == 2 and "nope" in unknown.stderr.splitlines()[0]


def test_serve_refuses_a_port_in_use(demo_workspace: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run("--workspace", str(demo_workspace), "serve", "ooo-replies", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: Port {port} on 127.0.0.1 is in use.",
        "hint: choose another with --port (0 picks a free one)",
    ]


def test_simulate_replays_and_reports(demo_workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    shutil.copytree(demo_workspace, path, ignore=shutil.ignore_patterns("logs"))
    done = run(
        "--workspace", str(path), "simulate", "ooo-replies", "--days", "2", "--start", "2026-08-01"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0].startswith("Replayed ")
        and " of ooo-replies from 2026-08-01 00:00 to 2026-08-03 00:00" in lines[0]
    )
    assert lines[1].startswith("Feedback: ")  # truth from sample_data/ooo-replies by default
    assert lines[2].startswith("  language: de ")
    assert lines[-1].startswith(f"Log: {path}/logs/ooo-replies/predictions (")
    assert "simulate: 100% done" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feedback-rate", "2"], "error: --feedback-rate must be between 0 and 1, got 2.0."),
        (["--rate-per-hour", "0"], "error: --rate-per-hour must be at least 1, got 0."),
        (["--truth", "missing.csv"], "error: No truth file at missing.csv."),
    ],
)
def test_simulate_refuses_bad_options(demo_workspace: Path, args: list[str], message: str) -> None:
    done = run(
        "--workspace",
        str(demo_workspace),
        "simulate",
        "ooo-replies",
        "--days",
        "1",
        "--start",
        "2026-08-01",
        *args,
    )
    assert done.returncode == 2 and done.stderr.splitlines()[0] == message
