"""Impact before a rollback: a version that violated requirements while it served is red again —
its old evidence named — and `loopline impact` exits 1, as its help says."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from core.artifacts.service import get_artifact
from core.builds.impact import impact, served_evidence
from core.cli import main
from core.releases.service import promote
from core.store import Workspace


@pytest.fixture
def v1_serving(demo_copy: Path) -> Workspace:
    """The demo with hw-triage v1 serving again (v2 violated ML-8 and SYS-1 when it served)."""
    ws = Workspace.open(demo_copy)
    promote(ws, "hw-triage", "model:hw-triage@1", Actor("lead", "test"), reason="back to v1")
    return ws


def test_a_rollback_to_a_version_that_violated_is_red_and_impact_exits_1(
    v1_serving: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = v1_serving
    result = impact(ws, "hw-triage", model="model:hw-triage@2")
    assert result.violates
    violated = {c.requirement_id: c for c in result.changes if c.after == "violated"}
    assert set(violated) == {"ML-8", "SYS-1"}
    assert violated["ML-8"].message == (
        "v2 violated ML-8 when it served: violated 0.630 vs 0.809 on firmware_version = R24.1 "
        "(model:hw-triage@2 (run #6), 2026-09-02); its evidence now would leave it inconclusive "
        "(now inconclusive)"
    )
    assert (
        main(["--workspace", str(ws.root), "impact", "hw-triage", "--model", "model:hw-triage@2"])
        == 1
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", 2 to violated.")


def test_a_version_that_never_served_brings_no_old_evidence(v1_serving: Workspace) -> None:
    served = served_evidence(v1_serving, "hw-triage", 10**9)
    assert served == {}
    v1 = get_artifact(v1_serving, "model:hw-triage@1").artifact_id
    own = served_evidence(v1_serving, "hw-triage", v1)  # v1: no violation while it served
    assert own and all(s.status != "violated" for s in own.values())
