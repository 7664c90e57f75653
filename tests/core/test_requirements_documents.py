"""What the store keeps of a requirements tool's export (issue 16, m0012): the tool's identifier
and typed attributes survive edits that do not carry them, rows written before m0012 read as
having none, Loopline's own ReqIF round trip changes nothing, and each import's document
structure is kept under its set version."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from core.api import Client
from tests.conftest import ROOT
from tests.core.test_reqif_tools import run_tool

PROJECT = "tickets"


@pytest.fixture
def client(tmp_path: Path) -> Client:
    api = Client(tmp_path / "ws", Actor("admin", "test"))
    api.init()
    api.projects.create(ROOT / "tests" / "fixtures" / "tickets.yaml")
    return api


def test_an_edit_keeps_the_tool_identity_and_a_check_can_be_added(
    client: Client, tmp_path: Path
) -> None:
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module))
    client.requirements.import_file(module, project=PROJECT)
    before = {r.requirement_id: r for r in client.requirements.list(PROJECT)}["MLR-201"]
    client.requirements.edit(
        PROJECT, "MLR-201", {"metric": "accuracy", "threshold": 0.8}, note="check added"
    )
    after = {r.requirement_id: r for r in client.requirements.list(PROJECT)}["MLR-201"]
    assert after.check_text == "accuracy ≥ 0.8" and after.evidence == ("production",)
    assert after.external_id == "ML-A" and after.attributes == before.attributes
    assert after.derived_from == ("STK-101", "STK-102")
    changed = client.requirements.versions(PROJECT, "MLR-201")[0].changes
    assert {"metric", "threshold", "evidence", "comparator"} <= set(changed)
    assert "attributes" not in changed


def test_rows_without_tool_fields_and_our_own_reqif_round_trip(
    client: Client, tmp_path: Path
) -> None:
    yaml_file = tmp_path / "set.yaml"
    yaml_file.write_text(
        "project: tickets\nsystem:\n  - {id: SYS-1, title: Routed right}\nml:\n"
        "  - {id: ML-1, title: Accurate, derived_from: [SYS-1], metric: accuracy, threshold: 0.8}\n",
        encoding="utf-8",
    )
    client.requirements.import_file(yaml_file)
    stored = client.requirements.list(PROJECT)
    assert [(r.external_id, r.attributes) for r in stored] == [(None, {}), (None, {})]
    own = tmp_path / "own.reqif"
    own.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    again = client.requirements.import_file(own, project=PROJECT)
    assert again.set_version is None and again.unchanged == 2  # nothing changed
    # our own export carries one specification and no sections, the ML requirement nested under
    # the system requirement it is derived from: the document it leaves is just that
    document = client.requirements.document(PROJECT)
    assert [(n.kind, n.depth, n.requirement_id) for n in document] == [
        ("requirement", 0, "SYS-1"),
        ("requirement", 1, "ML-1"),
    ]
