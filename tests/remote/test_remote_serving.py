"""Serving hosts anywhere, end to end: `loopline server` over a workspace in one process, serving
hosts (`loopline serve` with LOOPLINE_URL and a serving host's token) in processes of their own
whose folder and environment have no path to the workspace and that cannot import DuckDB.

A host serves /predict and /feedback with the production model it pulled; a promotion on the
server is followed within the poll interval; with the server SIGKILLed the hosts keep answering
and spool their log; once it is back on the same address every prediction is in the server's log
exactly once; a host restarted while the server is down serves its cached model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.api import Actor, Client
from core.experiments.service import train
from core.registry.service import register_run_model
from core.serving.log import FEEDBACK, PREDICTIONS, read_log
from core.store import Workspace
from tests.core.test_requirements_support import TESTER
from tests.remote.conftest import CLEARED, ROLES, ROOT, free_port, health, stop_server

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base

POLL = 0.5  # the hosts' --poll-seconds
# a serving host's token: role service (monitor.record pulls the production model and its files
# and ships the log; feedback checks a sender)
HOST_ROLE = "service"
NO_DUCKDB = (  # the host process: `loopline` with DuckDB made unimportable
    "import runpy, sys; sys.modules['duckdb'] = None; sys.argv[0] = 'loopline'; "
    "runpy.run_module('core.cli', run_name='__main__')"
)
ROW = {
    "ticket_id": "T-900",
    "opened_at": "2026-08-01T10:00:00",
    "channel": "mail",
    "text": "my invoice was charged twice",
    "priority": 2,
}


class Server:
    """`loopline server` over ``workspace`` on a fixed port, so it can be killed and started
    again at the address the hosts know."""

    def __init__(self, workspace: Path, log: Path) -> None:
        self.workspace, self.log = workspace, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "core.cli", "--workspace", str(self.workspace)),
                    *("server", "--port", str(self.port), "--log-level", "warning"),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: health(self.url) is not None, 90, self.output)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class ServingHost:
    """`loopline serve tickets` as a serving host, in an empty folder, without DuckDB."""

    def __init__(self, server: Server, token: str, host_id: str, cache: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(LOOPLINE_URL=server.url, LOOPLINE_TOKEN=token)
        folder = cache.parent / f"{host_id}-cwd"
        folder.mkdir(exist_ok=True)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-c", NO_DUCKDB, "serve", "tickets", "--port", "0"),
                *("--host-id", host_id, "--cache", str(cache), "--poll-seconds", str(POLL)),
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.lines = [self.process.stdout.readline()]
        while self.lines[-1] and not self.lines[-1].startswith("Serving "):  # warnings first
            self.lines.append(self.process.stdout.readline())
        ready = self.lines[-1]
        threading.Thread(target=self._drain, daemon=True).start()
        if not ready.startswith("Serving "):
            self.process.wait(timeout=30)
            raise AssertionError(f"the serving host did not start:\n{self.output()}")
        self.url = ready.split(" at ")[-1].strip()
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.token = token
        self.sent: list[str] = []  # the request id of every prediction answered

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def serves(self, version: int) -> bool:
        """Whether a prediction now comes from model version ``version``."""
        return bool(self.predict()["model"]["version"] == version)

    def shipped_all(self) -> bool:
        """Whether everything logged so far is written and shipped."""
        health = self.health()
        return bool(health["log"]["pending"] == 0 and health["spooled_segments"] == 0)

    def predict(self) -> dict[str, Any]:
        answer = self.http.post("/predict", json={"inputs": ROW})
        assert answer.status_code == 200, f"{answer.text}\n{self.output()}"
        found: dict[str, Any] = answer.json()
        self.sent.append(found["request_id"])
        return found

    def feedback(self, request_id: str) -> httpx.Response:
        return self.http.post(
            "/feedback",
            json={"request_id": request_id, "label": "billing"},
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/health").json()
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.http.close()


def wait_for(condition: Callable[[], bool], seconds: float, said: Callable[[], str]) -> float:
    """Seconds until ``condition`` held; fails with ``said()`` after ``seconds``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"timed out after {seconds} s:\n{said()}")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def served_base(evidence_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tickets workspace (model v1 in production, v2 registered) with one user per role and
    a token each (tokens.json beside it)."""
    folder = tmp_path_factory.mktemp("hosts")
    target = folder / "ws"
    shutil.copytree(evidence_base, target)
    ws = Workspace.open(target)
    register_run_model(ws, train(ws, "tickets", TESTER, seed=5).run_id, TESTER)
    admin = Client(target, Actor("admin", "test"))
    admin.accounts.create_user("admin", roles=["admin"])
    for role in ROLES[1:]:
        admin.accounts.create_user(role, roles=[role])
    tokens = {role: admin.accounts.create_token(role, f"serving hosts: {role}") for role in ROLES}
    (folder / "tokens.json").write_text(json.dumps(tokens))
    return target


@pytest.fixture
def server(served_base: Path, tmp_path: Path) -> Iterator[Server]:
    workspace = tmp_path / "ws"
    shutil.copytree(served_base, workspace)
    running = Server(workspace, tmp_path / "server.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def tokens(served_base: Path) -> dict[str, str]:
    found: dict[str, str] = json.loads((served_base.parent / "tokens.json").read_text())
    return found


def promote(server: Server, token: str, model: str) -> None:
    answer = httpx.post(
        f"{server.url}/api/v1/call/models/promote",
        json={"project": "tickets", "model": model, "reason": "serving hosts test"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def test_hosts_serve_follow_a_promotion_and_deliver_every_prediction_once_across_an_outage(
    served_base: Path, server: Server, tmp_path: Path
) -> None:
    keys = tokens(served_base)
    one = ServingHost(server, keys[HOST_ROLE], "eu-1", tmp_path / "cache-1")
    two = ServingHost(server, keys[HOST_ROLE], "eu-2", tmp_path / "cache-2")
    try:
        first = one.predict()  # the time a fresh host takes to its first prediction
        fresh_seconds = time.perf_counter() - one.started
        assert first["model"]["version"] == 1
        for host in (one, two) * 10:
            host.predict()
        assert one.feedback(first["request_id"]).json() == {"accepted": 1, "actor": HOST_ROLE}

        promote(server, keys["release_manager"], "model:tickets@2")
        moved = time.monotonic()
        for host in (one, two):
            wait_for(partial(host.serves, 2), 30, host.output)
        switch_seconds = time.monotonic() - moved
        assert switch_seconds < POLL + 10

        server.kill()  # the server is gone: the hosts keep answering and spool their log
        assert [h.predict()["model"]["version"] for h in (one, two) * 15] == [2, 2] * 15
        wait_for(lambda: one.health()["ship_error"] is not None, 30, one.output)
        wait_for(lambda: one.health()["spooled_segments"] > 0, 30, one.output)
        server.start()
        for host in (one, two):
            host.predict()
        for host in (one, two):
            wait_for(host.shipped_all, 60, host.output)
    finally:
        one.stop()
        two.stop()
        server.stop()
    logged = read_log(server.workspace, "tickets", PREDICTIONS)
    sent = one.sent + two.sent
    assert len(sent) >= 1 + 20 + 30 + 2 and len(set(sent)) == len(sent)
    assert sorted(logged["request_id"]) == sorted(sent)  # every prediction, exactly once
    assert set(logged["model_version"]) == {1, 2}
    feedback = read_log(server.workspace, "tickets", FEEDBACK)
    assert list(feedback["request_id"]) == [first["request_id"]]
    assert list(feedback["actor"]) == [HOST_ROLE]
    # a receive cut by the kill may leave its hidden temporary file, which no reader sees
    folder = server.workspace / "logs/tickets/predictions"
    stored = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert {name.split(".")[1] for name in stored} == {"eu-1", "eu-2"}
    print(
        f"\nfresh host to first prediction: {fresh_seconds:.2f} s; switch: {switch_seconds:.2f} s"
    )


def test_a_host_restarted_while_the_server_is_down_serves_its_cached_model(
    served_base: Path, server: Server, tmp_path: Path
) -> None:
    keys = tokens(served_base)
    cache = tmp_path / "cache"
    host = ServingHost(server, keys[HOST_ROLE], "eu-1", cache)
    assert host.predict()["model"]["version"] == 1
    host.stop()
    server.kill()
    again = ServingHost(server, keys[HOST_ROLE], "eu-1", cache)
    try:
        cached_seconds = time.perf_counter() - again.started
        answered = [again.predict() for _ in range(5)]
        assert {a["model"]["version"] for a in answered} == {1}
        health = again.health()
        assert health["started_offline"].startswith(
            f"Cannot reach the Loopline server at {server.url}"
        )
        refused = again.feedback(answered[0]["request_id"])  # never checked by this process
        assert refused.status_code == 503
        assert refused.json()["error"].endswith("this token cannot be checked until it is back.")
        server.start()
        wait_for(again.shipped_all, 60, again.output)
    finally:
        again.stop()
        server.stop()
    logged = read_log(server.workspace, "tickets", PREDICTIONS)
    assert len(logged) == 6 and logged["request_id"].is_unique
    print(f"\nhost restarted from its cache, server down: {cached_seconds:.2f} s to listening")


def test_a_fresh_host_without_a_token_or_with_the_server_down_says_why(
    served_base: Path, tmp_path: Path
) -> None:
    """No server is started for this: a host without a token refuses before it asks one, and a
    server that is down is an address where nothing answers (as after a kill)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(LOOPLINE_URL=f"http://127.0.0.1:{free_port()}")
    done = subprocess.run(
        [sys.executable, "-c", NO_DUCKDB, "serve", "tickets", "--cache", str(tmp_path / "c")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "A serving host needs an API token (LOOPLINE_TOKEN) of the server." in done.stderr
    env["LOOPLINE_TOKEN"] = tokens(served_base)[HOST_ROLE]
    done = subprocess.run(
        [sys.executable, "-c", NO_DUCKDB, "serve", "tickets", "--cache", str(tmp_path / "c")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no production model of 'tickets' is cached here." in done.stderr
