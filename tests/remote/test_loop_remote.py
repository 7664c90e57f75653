"""Case A's whole loop in remote mode (issue 14): a team server holds the workspace; every other
step runs in a process of its own that knows only the server's URL and a token — ingest, label,
freeze, a build on "a CI runner", promote, a serving host on "another machine" that answers
predictions and takes feedback, monitoring and the trace on the server's data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.api import Actor, Client
from tests.remote.conftest import (
    ROLES,
    ROOT,
    Hub,
    free_port,
    health,
    run_cli_here,
    start_server,
    stop_server,
)

CASE = ROOT / "sample_data" / "ooo-replies"
PROJECT = "ooo-replies"
LABELED = 700  # items labeled in this test (of 3,300): enough for a model with a test set


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A server over an empty workspace with one user per role (no project yet)."""
    folder = tmp_path_factory.mktemp("team")
    workspace = folder / "ws"
    admin = Client(workspace, Actor("admin", "test"))
    admin.init()
    admin.accounts.create_user("admin", roles=["admin"])
    for role in ROLES[1:]:
        admin.accounts.create_user(role, roles=[role])
    tokens = {role: admin.accounts.create_token(role, f"loop: {role}") for role in ROLES}
    log = folder / "server.log"
    process, url = start_server(workspace, log)
    hub = Hub(url, workspace, tokens, log, process)
    try:
        yield hub
    finally:
        stop_server(process)


def _ok(done: subprocess.CompletedProcess[str], hub: Hub) -> str:
    assert done.returncode == 0, (
        f"{done.args}\n{done.stdout}\n{done.stderr}\n{hub.output()[-3000:]}"
    )
    return done.stdout


def _labels_file(folder: Path) -> Path:
    """The first ``LABELED`` replies' true labels, as an annotator's CSV."""
    with (CASE / "data" / "truth.csv").open(newline="", encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))[:LABELED]
    path = folder / "labels.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["item_id", "annotator", "label"])
        out.writerows([row["reply_id"], "annotator", row["label"]] for row in truth)
    return path


def test_case_a_loop_runs_against_the_team_server(team: Hub, tmp_path: Path) -> None:
    laptop = team.client_dir()  # a data scientist's laptop: copies of the case's files only
    for name in ("project.yaml", "requirements.yaml"):
        (laptop / name).write_bytes((CASE / name).read_bytes())
    (laptop / "history.csv").write_bytes((CASE / "data" / "history.csv").read_bytes())
    labels = _labels_file(laptop)

    def run(*args: str, token: str = "data_scientist") -> str:
        return _ok(team.run_client(*args, token=token, cwd=laptop), team)

    run("project", "create", "project.yaml")
    run("ingest", PROJECT, "history.csv")
    run("requirements", "import", "requirements.yaml", token="manager")
    imported = run("labels", "import", PROJECT, str(labels), token="reviewer")
    assert f"{LABELED}" in imported, imported
    task = _first_task(team)
    run("freeze", PROJECT, "--task", str(task), token="reviewer")

    runner = team.client_dir()  # a CI runner: nothing but the URL and a CI token
    build = _ok(
        team.run_client(
            "build", PROJECT, "--junit", "build.xml", token="data_scientist", cwd=runner
        ),
        team,
    )
    assert (runner / "build.xml").is_file(), build
    run(
        "promote", PROJECT, f"model:{PROJECT}@1", "--reason", "first model", token="release_manager"
    )

    answered = _serve_predict_and_feedback(team, tmp_path)
    assert answered == 20

    monitor = json.loads(run("monitor", PROJECT, "--json"))
    assert _predictions_seen(monitor) == 20, monitor
    trace = run("trace", PROJECT, "--format", "csv", token="manager")
    assert "SYS-1" in trace and "ML-" in trace
    assert "ok" in run("verify", token="admin").lower()
    # the same question asked here and on the server's machine gets the same answer (there: the
    # command run in this process, as a process of its own would run it, without its start-up)
    here = Client(team.workspace, Actor("manager", "test"))
    for question in (("artifacts", "--project", PROJECT, "--json"), ("alerts", PROJECT, "--json")):
        remote = json.loads(run(*question))
        local = run_cli_here(
            ["--workspace", str(team.workspace), *question],
            env={k: v for k, v in team.env("data_scientist").items() if k != "LOOPLINE_URL"},
        )
        assert remote == json.loads(_ok(local, team)), question
    assert here.monitoring.latest_windows(PROJECT, "day", 14)


def _first_task(hub: Hub) -> int:
    status, body = hub.call("labeling", "tasks", token="reviewer", project=PROJECT)
    assert status == 200, body
    return int(body["result"][0]["task_id"])


def _serve_predict_and_feedback(hub: Hub, tmp_path: Path) -> int:
    """A serving host in a process of its own: 20 predictions of later replies, feedback for
    each, then a clean stop that ships the log."""
    host = hub.client_dir()
    port = free_port()
    env = hub.env("service") | {"LOOPLINE_CACHE": str(host / "cache"), "LOOPLINE_HOST_ID": "eu-1"}
    with (tmp_path / "host.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "serve", PROJECT, "--port", str(port)],
            cwd=host,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while health(url) is None:
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "host.log"
            ).read_text()
            time.sleep(0.2)
        with (CASE / "data" / "later.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[:20]
        for row in rows:
            _post(url + "/predict", {"request_id": row["reply_id"], "inputs": row})
        _post(
            url + "/feedback",
            {"items": [{"request_id": r["reply_id"], "label": "not_out_of_office"} for r in rows]},
            token=hub.token("service"),
        )
    finally:
        stop_server(process)
    return len(rows)


def _post(url: str, body: object, token: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        found: dict[str, object] = json.loads(answer.read())
        return found


def _predictions_seen(report: dict[str, object]) -> int:
    """Predictions monitoring counted over the computed windows (each window's volume)."""
    windows = report["windows"]
    assert isinstance(windows, list)
    return int(sum(w["metrics"].get("volume") or 0 for w in windows))
