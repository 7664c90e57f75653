"""Processes for the concurrency and crash tests: `python -m tests.core.workers MODE PATH …`."""

from __future__ import annotations

import os
import sys
import time

from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import list_artifacts, register
from core.store import Workspace


def write(path: str, name: str, count: int, go_file: str | None = None) -> None:
    """Register ``count`` artifacts one at a time, each with a file and an edge to the previous
    (when ``go_file`` is given: say "ready", then start once it exists, as the others do)."""
    ws = Workspace.open(path, busy_timeout=60)
    actor = Actor(name, "test")
    if go_file:
        print("ready", flush=True)
    while go_file and not os.path.exists(go_file):
        time.sleep(0.01)
    previous: int | None = None
    for index in range(count):
        inputs = [("derived_from", previous)] if previous else []
        made = register(
            ws,
            NewArtifact(
                "dataset",
                name,
                files={"rows": f"{name}-{index}-{os.getpid()}".encode() * 50},
                metadata={"index": index},
                inputs=inputs,
            ),
            actor,
        )
        previous = made.artifact_id
    print(f"{name} done", flush=True)


def read(path: str, stop_file: str) -> None:
    """Read the registry in a loop until ``stop_file`` appears; print how many reads worked."""
    ws = Workspace.open(path, busy_timeout=60)
    reads = 0
    while not os.path.exists(stop_file):
        list_artifacts(ws, limit=50)
        reads += 1
        time.sleep(0.01)
    print(f"reads {reads}", flush=True)


def forever(path: str) -> None:
    """Register until killed, announcing progress so the test can kill mid-write."""
    ws = Workspace.open(path, busy_timeout=60)
    actor = Actor("victim", "test")
    index = 0
    while True:
        register(
            ws,
            NewArtifact(
                "model",
                "victim",
                files={"model.bin": os.urandom(256 * 1024)},
                metadata={"index": index},
            ),
            actor,
        )
        index += 1
        if index == 5:
            print("started", flush=True)


def hold(path: str, seconds: str) -> None:
    """Keep the workspace in one open transaction for ``seconds`` (another process finds it busy)."""
    ws = Workspace.open(path, busy_timeout=60)
    with ws.store.transaction() as tx:
        tx.scalar("SELECT count(*) FROM artifacts")
        print("holding", flush=True)
        time.sleep(float(seconds))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "write":
        write(args[0], args[1], int(args[2]), *args[3:])
    elif mode == "read":
        read(args[0], args[1])
    elif mode == "forever":
        forever(args[0])
    elif mode == "hold":
        hold(args[0], args[1])
