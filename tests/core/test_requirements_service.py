"""The requirement service's calls behind the CLI and the page: exporting the workspace's only
project, saving an ML requirement from a derivation, and the flat filtered list of a matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.projects.service import create_project
from core.requirements.derive import derive
from core.requirements.matrix import traceability_matrix
from core.requirements.service import create_derived_requirement, export_requirements
from core.store import Workspace
from tests.conftest import FIXTURES
from tests.core.test_requirements_support import TICKETS_YAML, import_text

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws


def test_export_picks_the_only_project_or_asks(
    ws: Workspace, tickets: object, actor: Actor, tmp_path: Path
) -> None:
    assert export_requirements(ws, None, "yaml") == "project: tickets\nsystem: []\nml: []\n"
    assert export_requirements(ws, "tickets", "csv").startswith("project,level,id,title,")
    with pytest.raises(NotFound, match="No project 'nope'"):
        export_requirements(ws, "nope", "yaml")
    with pytest.raises(InvalidInput) as bad:
        export_requirements(ws, "tickets", "xlsx")
    assert str(bad.value) == "Unknown format 'xlsx'. Expected one of: csv, reqif, yaml."
    other = tmp_path / "other.yaml"
    other.write_text(
        (FIXTURES / "tickets.yaml").read_text().replace("name: tickets", "name: other")
    )
    create_project(ws, other, actor)
    with pytest.raises(InvalidInput) as which:
        export_requirements(ws, None, "yaml")
    assert str(which.value) == "Which project? This workspace has other, tickets."
    assert which.value.hint == "pass --project NAME"
    with pytest.raises(InvalidInput, match=r"^Which project\? There is none\.$"):
        export_requirements(Workspace.init(tmp_path / "empty"), None, "yaml")


def test_a_derived_requirement_keeps_its_inputs(evidence_ws: Workspace, tmp_path: Path) -> None:
    ws = evidence_ws
    import_text(ws, TICKETS_YAML, tmp_path)
    inputs = {"volume": 1200, "base_rate": 0.39, "tolerated": 40, "failure_share": 0.5}
    done = derive("recall", {**inputs, "period": "month"}, "recall.bug")
    saved = create_derived_requirement(
        ws, "tickets", "ML-9", done, Actor("maria", "test"), derived_from=["SYS-1", "SYS-2"]
    )
    assert saved.created == ("ML-9",)
    item = traceability_matrix(ws, "tickets").requirements["ML-9"]
    assert item.title == "recall.bug derived from SYS-1, SYS-2"
    assert item.derived_from == ("SYS-1", "SYS-2") and item.evidence == ("production",)
    assert item.check_text == "recall.bug ≥ 0.83" and item.threshold == done.threshold
    assert item.derivation is not None and item.derivation["steps"] == list(done.steps)
    again = create_derived_requirement(
        ws,
        "tickets",
        "ML-9",
        done,
        Actor("maria", "test"),
        derived_from="SYS-3",
        evidence="monitoring",
        title="Bugs are found",
        note="moved",
    )
    assert again.changed == ("ML-9",)  # an existing id gets a new version
    item = traceability_matrix(ws, "tickets").requirements["ML-9"]
    assert (item.title, item.derived_from, item.evidence) == (
        "Bugs are found",
        ("SYS-3",),
        ("monitoring",),
    )


def test_the_flat_list_filters_on_every_field(evidence_ws: Workspace, tmp_path: Path) -> None:
    ws = evidence_ws
    import_text(ws, TICKETS_YAML, tmp_path)
    matrix = traceability_matrix(ws, "tickets")

    def ids(**filters: str | None) -> list[str]:
        return [item.requirement_id for item, _ in matrix.select(**filters)]

    assert ids() == ["SYS-1", "SYS-2", "SYS-3", "ML-1", "ML-2", "ML-3"]
    assert ids(level="ml") == ["ML-1", "ML-2", "ML-3"]
    assert ids(owner="maria") == ["SYS-1", "SYS-2"] and ids(owner="") == ids()
    assert ids(category="performance", level="system") == ["SYS-3"]
    assert ids(status="met", level="ml") == ["ML-1"]
    assert ids(status="inconclusive") == ["SYS-1", "SYS-2", "ML-2"]  # mail: too few to judge
    assert ids(status="no_evidence") == ["SYS-3", "ML-3"]  # no build yet
    assert ids(status="violated") == []
    assert all(status is not None for _, status in matrix.select(level="ml"))
