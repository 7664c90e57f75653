"""Helpers of the public-API tests (tests/core/test_api*.py): call ``client.<area>.<method>`` by
name, record what was called, and check that every method of a part of the API was."""

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

AREA_TYPES = area_types()
AREAS = tuple(AREA_TYPES)  # every area of the client: a new one is called by a test or fails

# What each tests/core/test_api_demo_<part>.py calls (parts of about equal time, so that both
# test workers share them): whole areas, and single methods that no other part's area covers.
PARTS: dict[str, tuple[str, ...]] = {
    "data": ("projects", "artifacts", "data", "labeling", "models", "runs", "accounts"),
    "builds": ("builds", "behave", "automation"),
    "operations": (
        *("requirements", "monitoring", "serving"),
        *("builds.start_remote", "builds.files_needed", "builds.train_plan"),
        *("builds.renew_remote", "builds.finish_remote", "builds.abort_remote"),
    ),
}


def methods(areas: Iterable[str] = AREAS) -> set[str]:
    """``area.method`` for every public method of ``areas``."""
    return {
        f"{area}.{name}"
        for area in areas
        for name, member in inspect.getmembers(AREA_TYPES[area])
        if not name.startswith("_") and callable(member)
    }


def owned(part: str) -> set[str]:
    """The methods ``part`` must call: those ``PARTS`` names for it one by one, and every method
    of the areas it names that no part names one by one."""
    singles = {claim for claims in PARTS.values() for claim in claims if "." in claim}
    claims = PARTS[part]
    return {
        method
        for method in methods()
        if method in claims or (method.split(".")[0] in claims and method not in singles)
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

    def assert_every_method_of(self, part: str) -> None:
        """Fails unless every method of ``part`` (``PARTS``) was called."""
        missing = owned(part) - self.called
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
