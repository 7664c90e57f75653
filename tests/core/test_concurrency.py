"""Several processes on one workspace, and a process killed in the middle of writing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from core.artifacts.verify import verify_workspace
from core.store import Workspace
from tests.conftest import ROOT

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """``python -m tests.core.workers ARGS`` in processes of their own, killed at the end if a
    failed test left them running (they would slow down every test after it)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.core.workers", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


WRITES = 25  # per writer: started together, they take turns at least this often (asserted below)


def test_four_writers_and_a_reader_lose_nothing(tmp_path: Path, spawn: Spawn) -> None:
    ws = Workspace.init(tmp_path / "ws")
    stop, go = tmp_path / "stop", tmp_path / "go"
    reader = spawn("read", str(ws.root), str(stop))
    writers = [spawn("write", str(ws.root), f"writer{n}", str(WRITES), str(go)) for n in range(4)]
    for writer in writers:  # each has opened the workspace and waits for the others
        assert writer.stdout is not None
        said = writer.stdout.readline().strip()
        assert said == "ready", writer.communicate(timeout=30)[1]
    go.touch()
    outputs = [w.communicate(timeout=300) for w in writers]
    stop.touch()
    read_out, read_err = reader.communicate(timeout=60)
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert out.strip().endswith("done")
    assert reader.returncode == 0, read_err
    assert int(read_out.split()[-1]) > 0
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM artifacts") == 4 * WRITES
        per_writer = tx.rows(
            "SELECT name, count(*), min(version), max(version), count(DISTINCT version) "
            "FROM artifacts GROUP BY name ORDER BY name"
        )
        assert per_writer == [(f"writer{n}", WRITES, 1, WRITES, WRITES) for n in range(4)]
        assert tx.scalar("SELECT count(*) FROM edges") == 4 * (WRITES - 1)
        assert tx.scalar("SELECT count(*) FROM audit_log WHERE action = 'register'") == 4 * WRITES
        order = [row[0] for row in tx.rows("SELECT name FROM artifacts ORDER BY artifact_id")]
    # the writers really wrote at the same time: one after the other would switch 3 times
    turns = sum(a != b for a, b in pairwise(order))
    assert turns >= WRITES, f"the writers took turns only {turns} times"
    assert verify_workspace(ws).ok


def test_sigkill_mid_registration_leaves_a_sound_workspace(tmp_path: Path, spawn: Spawn) -> None:
    ws = Workspace.init(tmp_path / "ws")
    victim = spawn("forever", str(ws.root))
    assert victim.stdout is not None and victim.stdout.readline().strip() == "started"
    time.sleep(random.Random(7).uniform(0.05, 0.3))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    report = verify_workspace(ws)
    assert report.ok, report.problems
    with ws.store.read() as tx:
        registered = tx.scalar("SELECT count(*) FROM artifacts")
        blobs = [row[0] for row in tx.rows("SELECT blob_hash FROM artifact_files")]
        versions = [row[0] for row in tx.rows("SELECT version FROM artifacts ORDER BY version")]
    assert registered >= 5
    assert versions == list(range(1, registered + 1))
    assert all(ws.blobs.verify(digest) is None for digest in blobs)
