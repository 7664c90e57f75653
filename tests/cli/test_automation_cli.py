"""`loopline webhooks …` and `loopline schedules` from the terminal (issue 17): a webhook added
with its secret shown once, listed, tested against a dead receiver (exit 1), its log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.api import Actor, Client
from tests.conftest import ROOT

TICKETS = ROOT / "tests" / "fixtures" / "tickets.yaml"


def _run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_webhooks_and_schedules_from_the_terminal(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", Actor("admin", "test"))
    client.init()
    (tmp_path / "tickets.yaml").write_text(
        TICKETS.read_text(encoding="utf-8")
        + "retraining:\n  schedules:\n    - {name: nightly, cron: '0 2 * * *'}\n",
        encoding="utf-8",
    )
    client.projects.create(tmp_path / "tickets.yaml")
    added = _run(client.location, "webhooks", "add", "tickets", "http://127.0.0.1:9/hook")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[0] == "Webhook #1 of tickets: http://127.0.0.1:9/hook (json)"
    assert "secret (shown once;" in added.stdout
    listed = _run(client.location, "webhooks", "list", "tickets")
    assert "http://127.0.0.1:9/hook" in listed.stdout and "active" in listed.stdout
    tested = _run(client.location, "webhooks", "test", "1")
    assert tested.returncode == 1 and tested.stderr.startswith("Not delivered: no answer: ")
    log = _run(client.location, "webhooks", "log", "tickets")
    assert "webhook.test" in log.stdout and "failed" in log.stdout
    schedules = _run(client.location, "schedules", "tickets")
    assert schedules.returncode == 0
    assert "nightly  schedule  cron '0 2 * * *'" in schedules.stdout
    bad = _run(client.location, "webhooks", "add", "tickets", "ftp://x")
    assert bad.returncode == 2
    assert "Webhook URL 'ftp://x' is not an http(s) URL." in bad.stderr
