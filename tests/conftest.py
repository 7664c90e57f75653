"""Shared fixtures: real workspaces in temporary folders, never mocks of the store."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.actor import Actor
from core.projects.service import Project, create_project
from core.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def actor() -> Actor:
    return Actor("tester", "test")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def tickets(ws: Workspace, actor: Actor) -> Project:
    """The made-up third project, defined only by its YAML file."""
    return create_project(ws, FIXTURES / "tickets.yaml", actor)


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo as `loopline demo` built it for this run (or ``LOOPLINE_TEST_DEMO``); never
    opened by a test: the fixtures below copy it."""
    prebuilt = os.environ.get("LOOPLINE_TEST_DEMO")
    return Path(prebuilt) if prebuilt else _shared_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def demo_pristine(demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo no other test module has touched (for tests of what the demo wrote)."""
    path = tmp_path_factory.mktemp("demo-pristine") / "ws"
    shutil.copytree(demo_source, path)
    return path


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, built once per test run by the real `loopline demo` command (or
    copied from ``LOOPLINE_TEST_DEMO``, a demo a developer built with the same code, to rerun
    tests quickly; CI never sets it). With pytest-xdist the first worker to need it builds it
    for all (the others wait on a lock) and each worker reads a copy of its own. Tests must not
    write to it: use ``demo_copy`` for that."""
    path = tmp_path_factory.mktemp("demo") / "ws"
    prebuilt = os.environ.get("LOOPLINE_TEST_DEMO")  # a developer's demo built once, for reruns
    shutil.copytree(prebuilt or _shared_demo(tmp_path_factory), path)
    return path


def _shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo for every worker of this run, in the folder the workers' temp folders share."""
    base = tmp_path_factory.getbasetemp()
    return _build_shared_demo(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


def _build_shared_demo(shared: Path) -> Path:
    """The demo built by `loopline demo` in ``shared/demo-shared/ws``, once: whoever comes first
    builds it under the lock, the others wait for it and find it built."""
    built = shared / "demo-shared" / "ws"
    shared.joinpath("demo-shared").mkdir(exist_ok=True)
    with (shared / "demo-shared" / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (built / "loopline.duckdb").is_file():
            staging = built.with_name("ws.building")
            shutil.rmtree(staging, ignore_errors=True)
            done = subprocess.run(
                [sys.executable, "-m", "core.cli", "--workspace", str(staging), "demo"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=3600,  # a loaded machine builds it in 30 min and more
            )
            assert done.returncode == 0, f"`loopline demo` failed:\n{done.stdout}\n{done.stderr}"
            staging.rename(built)
    return built


DEMO_FIXTURES = frozenset({"demo_source", "demo_workspace"})  # every demo fixture uses one

# The slowest test files, longest first (a path that is not there is left out): the API's
# every-method test on the demo, in three parts (~30-45 s each alone), and the four-writers test
# (4 x 25, 170 s at load 17).
SLOWEST = (
    "tests/core/test_api_demo_operations.py",
    "tests/core/test_api_demo_data.py",
    "tests/core/test_api_demo_builds.py",
    "tests/core/test_concurrency.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files that need the demo run last, so that under `make test` the workers run the
    others while the demo is built beside them (``pytest_sessionstart``) instead of waiting for
    it. Within each group the slowest files (``SLOWEST``) come first, each followed by one
    ordinary file: xdist gives a worker its next file as soon as the current one has two tests
    or fewer left, so a one-test slow file takes the file after it along, and that must not be
    the next slow one. The other files keep their order. pyproject.toml's
    ``--no-loadscope-reorder`` makes xdist keep this order (by default it hands out the files
    with the most tests first)."""
    needing = {item.path for item in items if DEMO_FIXTURES & set(item.fixturenames)}
    files = list(dict.fromkeys(item.path for item in items))
    slow = {ROOT / name: rank for rank, name in enumerate(SLOWEST)}
    order: list[Path] = []
    for last in (False, True):
        group = [path for path in files if (path in needing) == last]
        heavy = sorted((path for path in group if path in slow), key=slow.__getitem__)
        light = [path for path in group if path not in slow]
        for index, path in enumerate(heavy):
            order += [path, *light[index : index + 1]]
        order += light[len(heavy) :]
    rank = {path: index for index, path in enumerate(order)}
    items.sort(key=lambda item: rank[item.path])


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``LOOPLINE_TEST_PREBUILD=1`` (`make test`) the controller of a parallel run starts
    building the shared demo at once, beside the workers, so the files that need it find it
    built; without it the first test that needs the demo builds it."""
    config = session.config
    parallel = getattr(config.option, "numprocesses", None) and not os.environ.get(
        "PYTEST_XDIST_WORKER"
    )
    wanted = os.environ.get("LOOPLINE_TEST_PREBUILD") == "1" and not os.environ.get(
        "LOOPLINE_TEST_DEMO"
    )
    if parallel and wanted:
        shared = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        threading.Thread(target=_build_shared_demo, args=(shared,), daemon=True).start()


@pytest.fixture
def demo_copy(demo_workspace: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace, for tests that change it."""
    target = tmp_path / "demo"
    shutil.copytree(demo_workspace, target)
    return target


SHADOW_STAGE_POLICY = """\
acceptance:
  - check: servable
production:
  - check: servable
  - check: min_served
    predictions: 200
  - check: no_open_alerts
  - check: requirements_met
  - check: behaviour_passed
"""


def shadow_stage_policy(workspace: Path, project: str) -> None:
    """The promotion policy of a project with a shadow stage (production waits for 200 served or
    shadowed predictions), written where core/releases reads it."""
    folder = Path(workspace) / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{project}.yaml").write_text(SHADOW_STAGE_POLICY, encoding="utf-8")
