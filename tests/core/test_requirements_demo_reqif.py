"""The demo's requirements as they arrive from a requirements tool: sample_data/ooo-replies/
requirements.reqif is StrictDoc's export of requirements.sdoc (regenerated here with StrictDoc and
found equal, apart from the timestamps and generated identifiers StrictDoc varies), and imported
with reqif-mapping.yaml it is the same set as requirements.yaml, with its sections, statuses and
parent links."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from core.api import Actor, Client
from tests.conftest import ROOT
from tests.core.test_reqif_tools import strictdoc

SAMPLE = ROOT / "sample_data" / "ooo-replies"
ADMIN = Actor("admin", "test")
VARYING = re.compile(
    r'LAST-CHANGE="[^"]*"|<CREATION-TIME>[^<]*</CREATION-TIME>'
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}"
)


def normalized(text: str) -> str:
    """Timestamps dropped; each generated identifier numbered in order of first appearance, so
    references between objects must still agree."""
    seen: dict[str, str] = {}

    def stable(match: re.Match[str]) -> str:
        found = match.group(0)
        if found.startswith(("LAST-CHANGE", "<CREATION-TIME>")):
            return "<time>"
        return seen.setdefault(found, f"<id{len(seen)}>")

    return VARYING.sub(stable, text)


def test_the_committed_reqif_is_what_strictdoc_writes_from_the_sdoc(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    shutil.copy(SAMPLE / "requirements.sdoc", tmp_path / "docs" / "ooo-replies.sdoc")
    strictdoc(
        "export",
        "--formats",
        "reqif-sdoc",
        "--output-dir",
        str(tmp_path / "out"),
        str(tmp_path / "docs"),
    )
    written = next((tmp_path / "out").rglob("*.reqif")).read_text(encoding="utf-8")
    committed = (SAMPLE / "requirements.reqif").read_text(encoding="utf-8")
    assert normalized(written) == normalized(committed)
    assert normalized(written) != written  # something varied and was normalized


def _client(folder: Path) -> Client:
    client = Client(folder, ADMIN)
    client.init()
    client.projects.create(SAMPLE / "project.yaml")
    return client


def test_the_tools_file_is_the_same_set_as_the_yaml_with_its_document(tmp_path: Path) -> None:
    tool = _client(tmp_path / "tool")
    result = tool.requirements.import_file(
        SAMPLE / "requirements.reqif", mapping=SAMPLE / "reqif-mapping.yaml"
    )
    assert result.created[:4] == ("SYS-1", "SYS-2", "SYS-3", "SYS-4") and len(result.created) == 13
    yaml = _client(tmp_path / "yaml")
    yaml.requirements.import_file(SAMPLE / "requirements.yaml")
    mine = {r.requirement_id: r for r in tool.requirements.list("ooo-replies")}
    theirs = {r.requirement_id: r for r in yaml.requirements.list("ooo-replies")}
    assert list(mine) == list(theirs)
    for key, item in theirs.items():
        got = mine[key]
        assert got.entry() == item.entry(), key
        assert (got.level, got.parent, got.derived_from) == (
            item.level,
            item.parent,
            item.derived_from,
        ), key
    assert mine["SYS-3"].parent == "SYS-1"
    assert mine["ML-9"].attributes["STATUS"]["value"] == "Proposed"
    assert mine["SYS-4"].attributes["STATUS"]["value"] == "Draft"
    document = tool.requirements.document("ooo-replies")
    sections = [n.title for n in document if n.kind == "section"]
    assert sections == ["System requirements", "ML requirements"]
    assert sum(n.kind == "text" for n in document) == 2
