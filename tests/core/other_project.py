"""A build of a second project, so that the builds of ``tickets`` made after it have another id
(``build_id``, workspace-wide) than number (``number``, within the project): tests that must tell
the two apart (messages people read name the number) start from a workspace holding it."""

from __future__ import annotations

from pathlib import Path

from core.api import Client
from core.api.types import Build
from tests.conftest import ROOT

OTHER = "other-tickets"


def build_in_another_project(client: Client, folder: Path) -> Build:
    """Create project ``OTHER`` (the tickets project under another name) and run one build of it
    (aborted at once: it has no labels); the build."""
    text = (ROOT / "tests" / "fixtures" / "tickets.yaml").read_text(encoding="utf-8")
    spec = folder / f"{OTHER}.yaml"
    spec.write_text(text.replace("\nname: tickets\n", f"\nname: {OTHER}\n", 1), encoding="utf-8")
    client.projects.create(spec)
    build = client.builds.run(OTHER)
    assert (build.project, build.status, build.number) == (OTHER, "aborted", 1), build.reason
    return build
