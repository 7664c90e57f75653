"""Slice findings: why a compared run's slice falls short — the requirement threshold it misses
and the gate check of its build — beside the production column that meets them."""

from __future__ import annotations

from pathlib import Path

from core.builds.service import list_builds
from core.builds.slices import slice_findings
from core.registry.compare import compare_runs
from core.store import Workspace


def test_the_failed_build_is_explained_by_its_requirement(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    builds = list_builds(ws, "ooo-replies")
    failed = next(b for b in builds if b.status == "failed")
    passed = next(b for b in builds if b.status == "successful" and b.build_id > failed.build_id)
    assert failed.run_id is not None and passed.run_id is not None
    comparison = compare_runs(ws, [failed.run_id, passed.run_id])
    found = slice_findings(ws, comparison)
    # the requirement it misses (which its gate also failed), then the gate's other check on the
    # protected slice: the drop against production
    assert [(f.run_id, f.slice, f.source) for f in found] == [
        (failed.run_id, "language = en", "requirement"),
        (failed.run_id, "language = en", "gate"),
    ]
    text = found[0].text
    assert text.startswith("ML-2: accuracy on language = en = 0.864 < 0.910")
    assert text.endswith(f"; build #{failed.number} (failed) failed its gate on it")
    assert found[1].text == (
        f"build #{failed.number} (failed): accuracy on language = en: 0.864 vs production 0.933 "
        "(−0.069; allowed drop 0.02)"
    )
    assert found[0].column in comparison.slices.columns
    # a production column is checked like any run (it meets ML-2, so nothing is found for it)
    assert "production" in comparison.slices.columns


def test_a_run_without_a_build_or_requirement_has_no_findings(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    builds = [b for b in list_builds(ws, "hw-triage") if b.run_id is not None]
    comparison = compare_runs(ws, [b.run_id for b in builds if b.run_id is not None])
    assert slice_findings(ws, comparison, metric="no_such_metric") == []
