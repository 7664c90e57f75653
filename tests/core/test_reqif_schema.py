"""A requirements tool's ReqIF definitions go back with its requirements (issue 16): datatypes
(enumeration values no requirement uses, string lengths, number ranges), attribute definitions
under the tool's identifiers, sections and text nodes under the tool's object types, XHTML as
the tool wrote it.

The `reqif` library writes the input (tests/tools/reqif_schema_tool.py, shaped like a Polarion
export) and reads the definitions of the files Loopline exports.
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
    schema_tool,
    strictdoc_export,
)
from tests.core.test_reqif_tools import SDOC


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return new_client(tmp_path / "ws")


def _export(client: Client, path: Path, trace: bool = False) -> dict[str, Any]:
    return schema_tool("definitions", str(export_valid(client, path, trace)))


def _same_definitions(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every datatype and object type of ``before`` in ``after``: the same identifiers, long
    names, lengths, ranges and enumeration values in order; each object type's attribute
    definitions first and in the tool's order (Loopline's own follow)."""
    for ident, found in before["datatypes"].items():
        assert after["datatypes"].get(ident) == found, ident
    for ident, found in before["object_types"].items():
        written = after["object_types"][ident]
        assert written["long_name"] == found["long_name"], ident
        assert written["attributes"][: len(found["attributes"])] == found["attributes"], ident
    for ident, name in before["relation_types"].items():
        assert after["relation_types"].get(ident) == name, ident


def test_the_tools_datatypes_and_attribute_definitions_go_back(
    client: Client, tmp_path: Path
) -> None:
    module = tmp_path / "module.reqif"
    assert schema_tool("polarion", str(module))["errors"] == []
    client.requirements.import_file(module, project=PROJECT)
    before = schema_tool("definitions", str(module))
    assert before["datatypes"]["DT-priority"]["values"] == [
        ["PRIO-low", "Low", "10"],
        ["PRIO-medium", "Medium", "20"],
        ["PRIO-high", "High", "30"],
        ["PRIO-critical", "Critical", "40"],
    ]
    for trace in (False, True):
        after = _export(client, tmp_path / f"back-{trace}.reqif", trace)
        _same_definitions(before, after)
        assert after["datatypes"]["DT-short"]["max_length"] == "80"
        assert (after["datatypes"]["DT-effort"]["min"], after["datatypes"]["DT-effort"]) == (
            "1",
            before["datatypes"]["DT-effort"],
        )
        values = after["objects"]["CR-1"]["values"]
        assert values["AD-cr-priority"] == ["PRIO-medium"] and values["AD-cr-effort"] == "8"
        assert after["objects"]["CR-1"]["type"] == "OT-customer"

    # Loopline's export imported elsewhere and exported again: still the tool's definitions
    first = tmp_path / "back-False.reqif"
    elsewhere = new_client(tmp_path / "elsewhere")
    elsewhere.requirements.import_file(first, project=PROJECT)
    again = _export(elsewhere, tmp_path / "again.reqif")
    _same_definitions(before, again)
    assert (
        again["objects"]["CR-1"]["values"]
        == schema_tool("definitions", str(first))["objects"]["CR-1"]["values"]
    )
    # and reading it back in the first workspace changes nothing
    assert client.requirements.import_file(first, project=PROJECT).set_version is None


def _markup(value: str) -> str:
    """XHTML as the file holds it, the layout between elements aside."""
    return re.sub(r">\s+<", "><", value).strip()


def test_sections_and_text_go_back_under_the_tools_object_types(
    client: Client, tmp_path: Path
) -> None:
    """A chapter and an information object of the tool's own types, and StrictDoc's SECTION and
    TEXT (whose identifiers StrictDoc makes per export), go back under the type and attribute
    definitions they came with, not Loopline's SECTION/TEXT."""
    module = tmp_path / "module.reqif"
    schema_tool("polarion", str(module))
    client.requirements.import_file(module, project=PROJECT)
    after = _export(client, tmp_path / "back.reqif")
    assert after["objects"]["CH-1"] == {
        "type": "OT-chapter",
        "values": {"AD-chapter-name": "Customer needs"},
    }
    assert after["objects"]["INFO-1"]["type"] == "OT-info"
    assert set(after["object_types"]) >= {"OT-chapter", "OT-info", "OT-customer"}
    assert not {"ST-section", "ST-text"} & set(after["object_types"])

    sdoc = strictdoc_export(tmp_path / "strictdoc", SDOC)["reqif"]
    before = schema_tool("definitions", str(sdoc))
    elsewhere = new_client(tmp_path / "sdoc")
    elsewhere.requirements.import_file(sdoc, project=PROJECT)
    back = _export(elsewhere, tmp_path / "sdoc-back.reqif")
    _same_definitions(before, back)
    for ident, found in before["objects"].items():
        kind = before["object_types"][found["type"]]["long_name"]
        if kind in ("SECTION", "TEXT"):
            assert back["objects"][ident]["type"] == found["type"], ident
            assert back["objects"][ident]["values"] == found["values"], ident


def test_xhtml_goes_back_as_the_tool_wrote_it(client: Client, tmp_path: Path) -> None:
    """Lists, bold, italics, line breaks and a table: kept as the tool's markup and written back
    while the text says the same; shown as text with one line per list item and table row; a
    statement changed in Loopline goes back as its paragraphs."""
    module = tmp_path / "module.reqif"
    schema_tool("polarion", str(module))
    client.requirements.import_file(module, project=PROJECT)
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert found["CR-1"].statement == (
        "Replies are sorted by intent:\n\n- out of office\n- bounce, hard or soft\n\n"
        "First line\nsecond line\n\nmarket | share\nDE | 40 %"
    )
    [info] = [n for n in client.requirements.document(PROJECT) if n.kind == "text"]
    assert info.text == "Read this module with:\n\n1. the glossary\n2. the risk list"

    before = schema_tool("definitions", str(module))["objects"]
    after = _export(client, tmp_path / "back.reqif")["objects"]
    for ident, ref in (("CR-1", "AD-cr-text"), ("CR-2", "AD-cr-text"), ("INFO-1", "AD-info-text")):
        assert _markup(after[ident]["values"][ref]) == _markup(before[ident]["values"][ref])
    assert (
        "<xhtml:li>bounce, <xhtml:b>hard</xhtml:b> or soft</xhtml:li>"
        in (after["CR-1"]["values"]["AD-cr-text"])
    )

    client.requirements.edit(PROJECT, "CR-1", {"statement": "Replies are sorted.\n\nAll of them."})
    changed = _export(client, tmp_path / "changed.reqif")["objects"]
    assert _markup(changed["CR-1"]["values"]["AD-cr-text"]) == (
        "<xhtml:div><xhtml:p>Replies are sorted.</xhtml:p><xhtml:p>All of them.</xhtml:p>"
        "</xhtml:div>"
    )
    assert _markup(changed["CR-2"]["values"]["AD-cr-text"]) == _markup(
        before["CR-2"]["values"]["AD-cr-text"]
    )


def test_odd_definitions_are_written_back_escaped_or_left_out(
    client: Client, tmp_path: Path
) -> None:
    """Names with quotes, ampersands and angle brackets go back escaped; a definition without
    an IDENTIFIER (nothing can refer to it) and one of a type ReqIF does not have are left out:
    the export stays valid."""
    module = tmp_path / "module.reqif"
    schema_tool("polarion", str(module))
    text = module.read_text(encoding="utf-8")
    odd = text.replace(
        'LONG-NAME="Critical"', 'LONG-NAME="Critical &amp; &quot;now&quot; &lt;!&gt;"'
    )
    odd = odd.replace(
        "<DATATYPES>",
        '<DATATYPES><DATATYPE-DEFINITION-STRING LONG-NAME="No id" MAX-LENGTH="5"/>'
        '<DATATYPE-DEFINITION-COLOUR IDENTIFIER="DT-colour" LONG-NAME="Colour"/>',
    )
    assert odd.count("No id") == 1 and odd.count("&quot;now") == 1
    module.write_text(odd, encoding="utf-8")
    client.requirements.import_file(module, project=PROJECT)
    after = _export(client, tmp_path / "back.reqif")
    assert after["datatypes"]["DT-priority"]["values"][-1] == [
        "PRIO-critical",
        'Critical & "now" <!>',
        "40",
    ]
    assert "DT-colour" not in after["datatypes"]
    assert all(d["long_name"] != "No id" for d in after["datatypes"].values())
