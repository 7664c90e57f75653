"""Shared fixtures: real workspaces in temporary folders, never mocks of the store."""

from __future__ import annotations

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
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, built once per test session through the real `loopline demo` path."""
    from core.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "ws"
    build_demo(path)
    return path
