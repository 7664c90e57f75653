"""Helpers of the public-API tests (tests/core/test_api*.py): call ``client.<area>.<method>`` by
name, record what was called, and check that every method of some areas was."""

from __future__ import annotations

import inspect
import json
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from core.api import Actor, Client, serialise
from core.remote.client import area_types
from tests.conftest import ROOT

AREAS = tuple(area_types())  # every area of the client: a new one is called by a test or fails


def methods(client: Client, areas: Iterable[str] = AREAS) -> set[str]:
    """``area.method`` for every public method of ``areas``."""
    return {
        f"{area}.{name}"
        for area in areas
        for name, member in inspect.getmembers(type(getattr(client, area)))
        if not name.startswith("_") and callable(member)
    }


class Recorder:
    """Calls ``client.<area>.<method>`` by name, records it and checks the result serialises."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.called: set[str] = set()

    def __call__(self, path: str, *args: Any, **kwargs: Any) -> Any:
        area, name = path.split(".")
        result = getattr(getattr(self.client, area), name)(*args, **kwargs)
        self.called.add(path)
        json.dumps(serialise(result))  # raises when a result has no JSON form
        return result

    def assert_every_method_of(self, areas: Iterable[str]) -> None:
        missing = methods(self.client, areas) - self.called
        assert not missing, f"not called: {sorted(missing)}"


class Routed:
    """A client whose ``runs`` calls go through the recorder (for the tracker's sink)."""

    def __init__(self, call: Recorder, actor: Actor) -> None:
        self.actor = actor
        self.runs = _Area(call, "runs")


class _Area:
    def __init__(self, call: Recorder, area: str) -> None:
        self._call, self._area = call, area

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self._call(f"{self._area}.{name}", *args, **kwargs)


def serve_once(location: Path, project: str) -> tuple[dict[str, Any], int]:
    """``client.serving.serve`` in a process of its own on a free port: the service it reported
    ready, and how ``GET /health`` answered; then SIGTERM must end it (gracefully: uvicorn
    flushes the log, then re-raises the signal)."""
    code = (
        "import json\n"
        "from core.api import Actor, Client, serialise\n"
        f"api = Client({str(location)!r}, Actor('admin', 'test'))\n"
        f"api.serving.serve({project!r}, port=0, "
        "ready=lambda s: print(json.dumps(serialise(s)), flush=True))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"serve said nothing: {process.communicate(timeout=30)[1]}")
        service = json.loads(line)
        health = httpx.get(f"{service['url']}/health", timeout=30).status_code
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)  # a service that does not stop fails here
    assert "Traceback" not in errors, errors
    return service, health
