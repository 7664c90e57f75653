"""`loopline build` on a CI runner: a process with only LOOPLINE_URL and a token trains the small
tickets project against `loopline server`, the server gates and records; the runner never loads
DuckDB; a runner killed mid-build (or a server killed mid-build) leaves the build aborted once its
lease lapses, and `verify` clean."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core.api import Actor, Client
from core.builds.reaper import LAPSED
from tests.core.small_project import PROJECT, label_tickets
from tests.remote.conftest import Hub, run_cli_here

# the CLI in a runner process, then whether it loaded DuckDB (printed last)
RUNNER = """
import runpy, sys
sys.argv = ["loopline", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("core.cli", run_name="__main__")
except SystemExit as done:
    code = done.code or 0
print("duckdb loaded:", "duckdb" in sys.modules)
sys.exit(code)
"""


def _label(hub: Hub, tmp_path: Path) -> Client:
    """The hub's tickets project labeled and frozen (written beside the running server)."""
    admin = Client(hub.workspace, Actor("admin", "test"))
    if not admin.labeling.tasks(PROJECT):
        label_tickets(admin, tmp_path)
    return admin


def _runner(hub: Hub, *args: str, token: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args],
        cwd=cwd,
        env={**hub.env(token), "PYTHONPATH": str(Path(__file__).parents[2])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _builds(hub: Hub) -> list[dict[str, object]]:
    status, body = hub.call("builds", "list", token="admin", project=PROJECT)
    assert status == 200, body
    return list(body["result"])


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"waited {timeout:.0f} s for {what}")


def test_a_runner_builds_and_the_server_records_it(hub: Hub, tmp_path: Path) -> None:
    admin = _label(hub, tmp_path)
    folder = hub.client_dir()
    started = time.monotonic()
    runner = _runner(
        hub, "build", PROJECT, "--junit", "build.xml", "--promote", token="admin", cwd=folder
    )
    out, err = runner.communicate(timeout=600)
    seconds = time.monotonic() - started
    assert runner.returncode == 0, f"{out}\n{err}\nserver:\n{hub.output()}"
    assert out.strip().endswith("duckdb loaded: False"), out
    build = admin.builds.list(PROJECT)[0]
    assert build.status == "successful" and f"Build #{build.number} SUCCESSFUL" in out
    assert "registered tickets v1" in out and "promoted to production" in out
    production = admin.models.find_alias(PROJECT, "production")
    assert production is not None and production.artifact_id == build.model_id
    run = admin.runs.get(build.run_id)  # type: ignore[arg-type]
    assert run.tags["runner"] == "remote" and run.created_by == "admin"
    suite = ET.parse(folder / "build.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert suite.get("name") == f"loopline build #{build.build_id} {PROJECT}"
    assert not [p for p in admin.artifacts.verify().problems if p.severity == "error"]
    print(f"remote build of {PROJECT}: {seconds:.1f} s (runner process, start to exit)")


def test_a_runner_without_the_right_to_build_is_refused(hub: Hub, tmp_path: Path) -> None:
    _label(hub, tmp_path)
    done = hub.run_client("build", PROJECT, token="annotator")
    assert done.returncode == 2
    assert "may not build" in done.stderr or "may not build" in done.stdout, done.stderr


def test_a_runner_killed_mid_build_is_aborted_after_its_lease(hub: Hub, tmp_path: Path) -> None:
    admin = _label(hub, tmp_path)
    before = {int(b["build_id"]) for b in _builds(hub)}  # type: ignore[call-overload]
    runner = _runner(
        hub, "build", PROJECT, "--lease", "2", token="data_scientist", cwd=hub.client_dir()
    )
    new: list[dict[str, object]] = []

    def running() -> bool:
        new[:] = [b for b in _builds(hub) if b["build_id"] not in before]
        return bool(new) and new[0]["status"] == "running"

    _wait_for(running, 120, "the runner's build to start")
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    build_id = int(new[0]["build_id"])  # type: ignore[call-overload]
    time.sleep(2.5)  # the lease lapses
    build = admin.builds.get(build_id)
    assert (build.status, build.reason) == ("aborted", LAPSED)
    assert build.run_id is None and build.model_id is None
    verify = hub.run_client("verify", token="admin")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_cancelled_runner_aborts_its_build_at_once(hub: Hub, tmp_path: Path) -> None:
    admin = _label(hub, tmp_path)
    before = {int(b["build_id"]) for b in _builds(hub)}  # type: ignore[call-overload]
    runner = _runner(hub, "build", PROJECT, token="data_scientist", cwd=hub.client_dir())
    new: list[dict[str, object]] = []

    def running() -> bool:
        new[:] = [b for b in _builds(hub) if b["build_id"] not in before]
        return bool(new) and new[0]["status"] == "running"

    _wait_for(running, 120, "the runner's build to start")
    runner.send_signal(signal.SIGTERM)  # a cancelled CI job; the lease (120 s) has not lapsed
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "interrupted" in err, out + err
    build = admin.builds.get(int(new[0]["build_id"]))  # type: ignore[call-overload]
    assert (build.status, build.reason) == (
        "aborted",
        "the runner was stopped (SIGTERM: a cancelled job?)",
    )


def test_a_server_killed_mid_build_leaves_it_aborted_after_restart(
    hub: Hub, tmp_path: Path
) -> None:
    """The module's server, killed and started again on its URL (the tests after this one use
    it as they would a server that never went away)."""
    admin = _label(hub, tmp_path)
    before = {int(b["build_id"]) for b in _builds(hub)}  # type: ignore[call-overload]
    runs = admin.runs.search(PROJECT).total
    runner = _runner(hub, "build", PROJECT, "--lease", "3", token="admin", cwd=hub.client_dir())
    new: list[dict[str, object]] = []

    def running() -> bool:
        new[:] = [b for b in _builds(hub) if b["build_id"] not in before]
        return bool(new) and new[0]["status"] == "running"

    try:
        _wait_for(running, 120, "the runner's build to start")
        hub.kill()  # SIGKILL: no chance to clean up
        out, err = runner.communicate(timeout=600)
        assert runner.returncode != 0 and "Cannot reach the Loopline server" in err, out + err
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
        if hub.process is not None and hub.process.poll() is not None:
            hub.start()  # on the same URL
    time.sleep(3.5)  # the lease lapses
    build = admin.builds.get(int(new[0]["build_id"]))  # type: ignore[call-overload]
    assert (build.status, build.reason) == ("aborted", LAPSED)
    assert admin.runs.search(PROJECT).total == runs  # nothing half-registered
    verify = hub.run_client("verify", token="admin")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_modeling_commands_say_the_same_remotely_and_locally(hub: Hub, tmp_path: Path) -> None:
    _label(hub, tmp_path)
    trained = hub.run_client("train", PROJECT, "--seed", "5", token="data_scientist")
    assert trained.returncode == 0, trained.stderr
    run_id = trained.stdout.split()[1].lstrip("#")
    promoted = hub.run_client(
        "promote", PROJECT, "--reason", "remote test", _registered(hub, run_id), token="admin"
    )
    assert promoted.returncode == 0, promoted.stderr
    swept = hub.run_client(
        "sweep", PROJECT, "--grid", "C=1,2", "--jobs", "1", token="data_scientist"
    )
    assert swept.returncode == 0 and swept.stdout.startswith("2 runs: #"), swept.stderr
    for command in (
        ["run", run_id],
        ["runs", PROJECT],
        ["models", PROJECT],
        ["builds", PROJECT],
    ):
        remote = hub.run_client(*command, token="admin")  # a client process
        local = run_cli_here(  # the same command on the workspace itself, in this process
            ["--workspace", str(hub.workspace), *command],
            env={**hub.env("admin"), "LOOPLINE_URL": ""},
        )
        assert remote.returncode == 0 and remote.stdout, remote.stderr
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), command


def _registered(hub: Hub, run_id: str) -> str:
    done = hub.run_client("register", run_id, token="data_scientist")
    assert done.returncode == 0, done.stderr
    status, body = hub.call("artifacts", "list", kind="model", project=PROJECT)
    assert status == 200, body
    return str(max(int(m["artifact_id"]) for m in body["result"]))
