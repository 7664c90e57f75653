"""What a requirements tool defines beyond its objects goes back with them (issue 16): its
SPECIFICATION-TYPEs with their own attribute definitions (each specification under its type,
with its values), the DEFAULT-VALUEs of attribute definitions, and the relation type each
derivation came as (StrictDoc's ``Parent``, a tool's ``satisfies``) instead of Loopline's
``derived from``. A re-import of an unchanged StrictDoc export whose generated type identifiers
are new is no change.

The `reqif` library writes the input (tests/tools/reqif_spec_tool.py, shaped like a Jama export)
and reads what Loopline exports; StrictDoc exports an .sdoc.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core.api import Client
from tests.core.reqif_support import (
    PROJECT,
    export_valid,
    new_client,
    spec_tool,
    strictdoc_export,
)
from tests.core.test_reqif_tools import SDOC


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return new_client(tmp_path / "ws")


def _export(client: Client, path: Path, trace: bool = False) -> dict[str, Any]:
    """The set exported (or trace-exported) to ``path``, valid, as the `reqif` library reads it."""
    return spec_tool("read", str(export_valid(client, path, trace)))


def _same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """``after`` holds every specification type, object type (with default values) and
    specification (its type, values and objects) of ``before``, and its relations under the same
    types."""
    for key in ("specification_types", "object_types"):
        for ident, found in before[key].items():
            written = after[key][ident]
            assert written["long_name"] == found["long_name"], ident
            assert written["attributes"][: len(found["attributes"])] == found["attributes"], ident
    specs = {s["identifier"]: s for s in after["specifications"]}
    for spec in before["specifications"]:
        written = specs[spec["identifier"]]
        assert (written["long_name"], written["type"]) == (spec["long_name"], spec["type"])
        assert written["children"] == spec["children"]
        assert {k: written["values"].get(k) for k in spec["values"]} == spec["values"]
        assert written["values"].get(next(k for k in written["values"] if "project" in k)) == (
            PROJECT
        )
    assert sorted(after["relations"]) == sorted(before["relations"])


def test_specification_types_default_values_and_derivation_types_go_back(
    client: Client, tmp_path: Path
) -> None:
    module = tmp_path / "module.reqif"
    assert spec_tool("write", str(module))["errors"] == []
    client.requirements.import_file(module, project=PROJECT)
    ml = next(r for r in client.requirements.list(PROJECT) if r.requirement_id == "ML-1")
    assert ml.derived_from == ("SYS-1", "SYS-2")
    before = spec_tool("read", str(module))
    assert before["object_types"]["OT-req"]["attributes"][3] == [
        "ENUMERATION",
        "AD-risk",
        "Risk",
        "DT-risk",
        "RISK-low",
    ]
    assert before["specification_types"]["SPT-module"]["attributes"][0][-1] == "QA team"
    assert ["RT-trace", "traces to", "OBJ-ml-1", "OBJ-sys-2"] in before["relations"]
    for trace in (False, True):
        after = _export(client, tmp_path / f"back-{trace}.reqif", trace)
        _same(before, after)
        assert "SPT-set" in after["specification_types"]  # (Loopline's own, for its sets)
    # Loopline's export, imported by a second workspace, goes back the same
    second = new_client(tmp_path / "ws2")
    second.requirements.import_file(tmp_path / "back-False.reqif", project=PROJECT)
    _same(before, _export(second, tmp_path / "again.reqif"))


def test_a_parent_of_relation_type_goes_back_from_parent_to_child(
    client: Client, tmp_path: Path
) -> None:
    """A mapping's ``Child: parent_of`` type: the ML requirement is derived from the system
    requirement the relation starts at, and goes back the same way round."""
    module = tmp_path / "module.reqif"
    assert spec_tool("write", str(module), "child")["errors"] == []
    mapping = tmp_path / "map.yaml"
    mapping.write_text("relations:\n  Child: parent_of\n", encoding="utf-8")
    client.requirements.import_file(module, project=PROJECT, mapping=mapping)
    ml = next(r for r in client.requirements.list(PROJECT) if r.requirement_id == "ML-1")
    assert ml.derived_from == ("SYS-1", "SYS-2")
    before = spec_tool("read", str(module))
    assert ["RT-trace", "Child", "OBJ-sys-2", "OBJ-ml-1"] in before["relations"]
    after = _export(client, tmp_path / "back.reqif")
    assert sorted(after["relations"]) == sorted(before["relations"])


def test_strictdoc_derivations_go_back_as_parent_under_its_specification_type(
    client: Client, tmp_path: Path
) -> None:
    exported = strictdoc_export(tmp_path / "sdoc", SDOC)["reqif"]
    client.requirements.import_file(exported, project=PROJECT)
    before = spec_tool("read", str(exported))
    parent = next(r[0] for r in before["relations"] if r[1] == "Parent")
    after = _export(client, tmp_path / "back.reqif")
    derivations = [r for r in after["relations"] if r[2:] in [b[2:] for b in before["relations"]]]
    assert len(derivations) == 3
    assert {(r[0], r[1]) for r in derivations} == {(parent, "Parent")}
    assert [(s["identifier"], s["type"]) for s in after["specifications"]] == [
        (s["identifier"], s["type"]) for s in before["specifications"]
    ]
    assert before["specifications"][0]["type"] == "SDOC_SPECIFICATION_TYPE_SINGLETON"


def _audit_imports(client: Client) -> list[str]:
    with client.workspace.store.read() as tx:
        rows = tx.rows(
            "SELECT details FROM audit_log WHERE action = 'requirements.import' ORDER BY audit_id"
        )
    return [str(row[0]) for row in rows]


def test_a_strictdoc_reexport_with_new_type_identifiers_is_no_change(
    client: Client, tmp_path: Path
) -> None:
    """StrictDoc gives its objects, sections and object, attribute and relation types new
    identifiers on every export (``SECTION_<uuid>``, ``Parent-<uuid>``): a second export of the
    unchanged .sdoc, imported again, records nothing."""
    first = strictdoc_export(tmp_path / "one", SDOC)["reqif"]
    second = strictdoc_export(tmp_path / "two", SDOC)["reqif"]
    client.requirements.import_file(first, project=PROJECT)
    audited = _audit_imports(client)
    text = second.read_text(encoding="utf-8")
    for pattern in (r'<SPEC-OBJECT IDENTIFIER="([^"]+)"', r'SPEC-OBJECT-TYPE IDENTIFIER="([^"]+)"'):
        ids = re.compile(pattern)
        assert ids.findall(text) != ids.findall(first.read_text(encoding="utf-8"))
    result = client.requirements.import_file(second, project=PROJECT)
    assert (result.set_version, result.created, result.changed) == (None, (), ())
    assert _audit_imports(client) == audited
    again = tmp_path / "again.reqif"
    # a definition that says something else (a relation type no object uses renamed) is a
    # change of the structure
    renamed = text.replace('LONG-NAME="File"', 'LONG-NAME="Attached file"')
    assert renamed != text
    again.write_text(renamed, encoding="utf-8")
    client.requirements.import_file(again, project=PROJECT)
    assert len(_audit_imports(client)) == len(audited) + 1
    assert '"document": "restructured"' in _audit_imports(client)[-1]
