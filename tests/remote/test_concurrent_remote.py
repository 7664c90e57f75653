"""Everyone at once (issue 14): 8 remote clients logging runs, a remote build on a runner and a
process on the server's machine reading and writing the workspace directly (as the app does),
all together — no write lost, no client sees a lock error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.api import Actor, Client
from tests.core.small_project import PROJECT, label_tickets
from tests.remote.conftest import ROOT, Hub

CLIENTS = 8
RUNS_EACH = 25

NOTEBOOK = textwrap.dedent(
    """
    import json, sys
    from core.remote.tracking import Tracker
    me = sys.argv[1]
    errors = []
    try:
        with Tracker() as tracker:
            for i in range(int(sys.argv[2])):
                with tracker.start_run("tickets", name=f"{me}-{i}", tags={"client": me}) as run:
                    run.log_params({"client": me, "i": i})
                    for step in range(3):
                        run.log_metric("loss", 1.0 / (step + 1 + i), step=step)
                    run.log_metrics({"f1_macro": 0.5 + i / 100})
    except Exception as error:  # what a client would see
        errors.append(f"{type(error).__name__}: {error}")
    print(json.dumps({"client": me, "errors": errors, "duckdb": "duckdb" in sys.modules}))
    """
)

# the app reads and writes until the file argv[2] exists (everyone else is done), 600 s at most
APP = textwrap.dedent(
    """
    import json, os, sys, time
    from core.api import Actor, Client
    client = Client(sys.argv[1], Actor("admin", "app"))
    deadline = time.monotonic() + 600
    reads = writes = 0
    errors = []
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
        try:
            client.runs.search("tickets", "", limit=50)
            client.projects.overview()
            reads += 2
            client.accounts.create_token("admin", f"app token {writes}")
            writes += 1
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.05)
    print(json.dumps({"reads": reads, "writes": writes, "errors": errors}))
    """
)


def test_remote_clients_a_runner_and_the_app_at_once_lose_nothing(
    fresh_hub: Hub, tmp_path: Path
) -> None:
    hub = fresh_hub
    admin = Client(hub.workspace, Actor("admin", "test"))
    label_tickets(admin, tmp_path)
    tokens_before = len(admin.accounts.tokens("admin"))
    everyone_done = tmp_path / "everyone-done"
    started = time.monotonic()
    notebooks = [
        subprocess.Popen(
            [sys.executable, "-c", NOTEBOOK, f"nb{n}", str(RUNS_EACH)],
            cwd=hub.client_dir(),
            env=hub.env("data_scientist"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(CLIENTS)
    ]
    runner = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "build", PROJECT, "--junit", "build.xml"],
        cwd=hub.client_dir(),
        env=hub.env("data_scientist"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(hub.workspace), str(everyone_done)],
        cwd=ROOT,
        env=hub.env(None) | {"LOOPLINE_URL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    try:
        said = [json.loads(_done(p)) for p in notebooks]
        built = runner.communicate(timeout=600)
    finally:  # the app was at it all along, and stops now (not after a fixed 40 s)
        everyone_done.touch()
    seen_by_app = json.loads(_done(app))

    assert all(not s["errors"] and not s["duckdb"] for s in said), said
    assert runner.returncode in (0, 1), built  # the gate's verdict, not a crash or an abort
    assert not seen_by_app["errors"] and seen_by_app["writes"] > 0, seen_by_app
    frame = admin.runs.search(PROJECT, "", limit=10_000).frame
    names = sorted(n for n in frame["name"] if str(n).startswith("nb"))
    assert names == sorted(  # every run, each once
        f"nb{n}-{i}" for n in range(CLIENTS) for i in range(RUNS_EACH)
    )
    (build,) = admin.builds.list(PROJECT)
    assert build.status in ("successful", "failed")
    assert len(admin.accounts.tokens("admin")) == tokens_before + seen_by_app["writes"]
    assert admin.artifacts.verify().ok
    assert time.monotonic() - started < 900


def _done(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return out.strip().splitlines()[-1]
