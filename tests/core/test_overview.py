"""The Home page's picture of each project, the artifact preview, the demo and the progress bar."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.preview import preview
from core.artifacts.service import count_by_kind, get_artifact, register
from core.data.service import ingest
from core.demo import build_demo
from core.errors import CoreError
from core.overview import workspace_overview
from core.progress import Bar
from core.projects.service import Project
from core.store import Workspace
from tests.conftest import FIXTURES


def test_overview_follows_the_loop(ws: Workspace, tickets: Project, actor: Actor) -> None:
    (empty,) = workspace_overview(ws)
    assert [s.key for s in empty.stages] == ["dm", "mod", "dev", "ops"]
    assert [s.state for s in empty.stages] == ["empty"] * 4
    ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    (after,) = workspace_overview(ws)
    dm = after.stages[0]
    assert (dm.state, dm.headline) == ("attention", "dataset v1")
    assert dm.details == ("4 rows", "2026-03-01 → 2026-03-03", "no frozen label set yet")
    assert after.counts["dataset"] == 1


def test_preview_shows_tables_json_and_text(ws: Workspace, tickets: Project, actor: Actor) -> None:
    result = ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    (table,) = preview(ws, result.dataset, limit=2)
    assert (table.shape, table.total_rows, len(table.table or [])) == ("table", 4, 2)
    assert table.columns[0] == "ticket_id"
    (report,) = preview(ws, result.report)
    assert report.shape == "json" and report.data["rows"] == 4
    (spec,) = preview(ws, get_artifact(ws, "project:tickets"))
    assert spec.shape == "text" and "name: tickets" in (spec.text or "")
    binary = register(ws, NewArtifact("model", "m", files={"model.bin": bytes(range(256))}), actor)
    assert preview(ws, binary)[0].shape == "binary"


def test_demo_holds_both_projects_labeled(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    counts = count_by_kind(ws)
    assert counts["project"] == 2 and counts["dataset"] >= 2 and counts["label_set"] >= 2
    assert counts["model"] >= 2 and counts["build"] >= 2
    with pytest.raises(CoreError, match="A workspace already exists"):
        build_demo(demo_workspace)


def test_a_failed_demo_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.demo.SAMPLE_DATA", tmp_path / "no-sample-data")
    with pytest.raises(CoreError, match="The sample data folder"):
        build_demo(tmp_path / "demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no workspace, no staging folder


def test_progress_bar_prints_stages_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Bar("ingest", stream)
    bar("reading", 0.1)
    bar("reading", 0.2)
    bar("done", 1.0)
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["ingest:  10% reading", "ingest: 100% done"]
