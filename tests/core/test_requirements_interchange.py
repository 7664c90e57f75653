"""YAML, CSV and ReqIF: round trips of the sample sets, formula-safe CSV, a requirements tool's
ReqIF, and malformed files that name the element and line and write nothing."""

from __future__ import annotations

import zipfile
from dataclasses import fields
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.projects.service import load_spec_file
from core.requirements.editor import EDITABLE, editor_rows
from core.requirements.interchange import (
    CSV_COLUMNS,
    from_csv,
    from_yaml,
    read_file,
    safe_cell,
    to_csv,
    to_yaml,
    unsafe_cell,
)
from core.requirements.models import (
    CONTENT_FIELDS,
    ML_FIELDS,
    SYSTEM_FIELDS,
    TOOL_FIELDS,
    Requirement,
    file_name,
)
from core.requirements.parse import ML_KEYS, SYSTEM_KEYS, parse_entry, validate_set
from core.requirements.reqif import FIELDS as REQIF_FIELDS
from core.requirements.reqif import to_reqif
from core.requirements.reqif_read import from_reqif
from core.store import Workspace
from tests.conftest import ROOT
from tests.core.test_requirements_support import TESTER, TICKETS_YAML

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws
SAMPLES = sorted((ROOT / "sample_data").glob("*/requirements.yaml"))


def _contents(items: list[Requirement]) -> dict[str, tuple[str, dict[str, object]]]:
    return {r.requirement_id: (r.level, r.content()) for r in items}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.parent.name)
def test_sample_sets_are_valid_and_round_trip_in_every_format(sample: Path) -> None:
    project, items = from_yaml(sample.read_text(encoding="utf-8"), sample.name)
    spec, _ = load_spec_file(sample.parent / "project.yaml")
    validate_set(items, spec, sample.name)
    assert project == sample.parent.name and len(items) >= 10
    assert any(r.derivation for r in items) and any(r.relative_to for r in items)
    again = from_yaml(to_yaml(project, items), "again.yaml")
    assert again[0] == project and _contents(again[1]) == _contents(items)
    assert _contents(from_csv(to_csv(project, items), "set.csv")[1]) == _contents(items)
    assert _contents(from_reqif(to_reqif(project, items).encode(), "set.reqif")[1]) == _contents(
        items
    )


EVERY_FIELD_YAML = """
project: tickets
system:
  - {id: SYS-1, title: Root, statement: Why, category: safety, owner: maria, priority: high}
  - {id: SYS-2, title: Child, parent: SYS-1}
ml:
  - id: ML-1
    title: Derived, on two slices, from two sources
    statement: Bugs are found
    category: model quality
    owner: lead
    priority: low
    derived_from: [SYS-1, SYS-2]
    metric: recall.bug
    slices: [channel = mail, channel = chat]
    comparator: ">="
    model: tickets
    evidence: [monitoring, production]
    window_days: 14
    if_slice_absent: met
    derivation: {kind: recall, volume: 1200, base_rate: 0.39, tolerated: 40, period: month}
  - id: ML-2
    title: Relative
    derived_from: [SYS-2]
    metric: accuracy
    slice: channel = mail
    relative_to: channel = chat
    tolerance: 0.05
"""


def test_every_layout_is_made_from_the_one_field_list() -> None:
    """models.CONTENT_FIELDS is the one list: the dataclass, the store's columns, the CSV header,
    the keys parse_entry accepts, the ReqIF attributes and the editor's columns follow it, and a
    requirement using every field comes back the same from each layout."""
    stored = [f.name for f in fields(Requirement)]
    assert stored[3 : 3 + len(CONTENT_FIELDS)] == list(CONTENT_FIELDS)
    assert list(Requirement("p", "SYS-1", "system", "t").content()) == [
        *CONTENT_FIELDS,
        *TOOL_FIELDS,
    ]
    written = [file_name(f) for f in CONTENT_FIELDS]
    assert list(CSV_COLUMNS) == ["project", "level", "id", *written, *TOOL_FIELDS]
    assert {"id", "level", *SYSTEM_FIELDS, *TOOL_FIELDS} == SYSTEM_KEYS
    assert {
        "id",
        "level",
        "slice",
        "absent_slice",
        *map(file_name, ML_FIELDS),
        *TOOL_FIELDS,
    } == ML_KEYS
    assert set(REQIF_FIELDS) == {"id", *map(file_name, ML_FIELDS)} - {"derived_from"}
    assert set(EDITABLE) == {"id", "level", *written} - {"model", "derivation"}

    project, items = from_yaml(EVERY_FIELD_YAML, "every.yaml")
    expected = _contents(items)
    assert expected["ML-1"][1]["threshold"] == 0.915 and expected["ML-2"][1]["tolerance"] == 0.05
    assert _contents(from_yaml(to_yaml(project, items), "again.yaml")[1]) == expected
    assert _contents(from_csv(to_csv(project, items), "again.csv")[1]) == expected
    assert _contents(from_reqif(to_reqif(project, items).encode(), "again.reqif")[1]) == expected
    again = [
        parse_entry({"id": r.requirement_id, **r.entry()}, project, r.level, "e") for r in items
    ]
    assert _contents(again) == expected
    for row, item in zip(editor_rows(items), items, strict=True):
        assert list(row) == list(EDITABLE)
        level = str(row.pop("level"))
        entry = {k: v for k, v in row.items() if v not in (None, "")}
        if item.model:
            entry["model"] = item.model  # the editor leaves the model (and derivation) as they are
        parsed = parse_entry(entry, project, level, "row").content()
        assert {k: v for k, v in parsed.items() if k != "derivation"} == {
            k: v for k, v in item.content().items() if k != "derivation"
        }


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    hostile = ['=HYPERLINK("http://x")', "+1", "-0.05", "@SUM(A1)", "\tx", "plain"]
    assert [safe_cell(v) for v in hostile] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-0.05",
        "'@SUM(A1)",
        "'\tx",
        "plain",
    ]
    assert [unsafe_cell(safe_cell(v)) for v in hostile] == hostile
    assert unsafe_cell("'quoted on purpose") == "'quoted on purpose"
    project, items = from_yaml(TICKETS_YAML, "t.yaml")
    evil = Requirement("tickets", "SYS-9", "system", "=cmd|' /C calc'!A0", statement="-2+3")
    text = to_csv(project, [*items, evil])
    assert "'=cmd|" in text and ",'-2+3," in text
    back = {r.requirement_id: r for r in from_csv(text, "t.csv")[1]}
    assert back["SYS-9"].title == "=cmd|' /C calc'!A0" and back["SYS-9"].statement == "-2+3"


def test_csv_with_a_bad_header_or_row_names_it() -> None:
    with pytest.raises(
        InvalidInput, match=r"^t.csv: missing column\(s\) level. unknown column\(s\) colour. "
    ):
        from_csv("id,title,colour\nSYS-1,A,red\n", "t.csv")
    with pytest.raises(
        InvalidInput, match=r"^t.csv: row 3 \(ML-1\).threshold: expected a number, got 'high'."
    ):
        from_csv(
            "project,level,id,title,derived_from,metric,threshold\n"
            "tickets,system,SYS-1,A,,,\ntickets,ml,ML-1,B,SYS-1,accuracy,high\n",
            "t.csv",
        )
    with pytest.raises(InvalidInput, match="t.csv: the file mixes projects a, b."):
        from_csv("project,level,id,title\na,system,S-1,A\nb,system,S-2,B\n", "t.csv")


DOORS = b"""<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <THE-HEADER><REQ-IF-HEADER IDENTIFIER="h1"><TITLE>Module export</TITLE></REQ-IF-HEADER></THE-HEADER>
  <CORE-CONTENT><REQ-IF-CONTENT>
    <DATATYPES>
      <DATATYPE-DEFINITION-STRING IDENTIFIER="dt-s" LONG-NAME="T"/>
      <DATATYPE-DEFINITION-XHTML IDENTIFIER="dt-x" LONG-NAME="X"/>
      <DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="dt-prio" LONG-NAME="Prio">
        <SPECIFIED-VALUES>
          <ENUM-VALUE IDENTIFIER="ev-high" LONG-NAME="high"/>
          <ENUM-VALUE IDENTIFIER="ev-low" LONG-NAME="low"/>
        </SPECIFIED-VALUES>
      </DATATYPE-DEFINITION-ENUMERATION>
    </DATATYPES>
    <SPEC-TYPES>
      <SPEC-OBJECT-TYPE IDENTIFIER="t-req" LONG-NAME="Requirement">
        <SPEC-ATTRIBUTES>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-id" LONG-NAME="ReqIF.ForeignID"/>
          <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="a-text" LONG-NAME="ReqIF.Text"/>
          <ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="a-prio" LONG-NAME="Priority"/>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-metric" LONG-NAME="Metric"/>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-thr" LONG-NAME="Threshold"/>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-who" LONG-NAME="Created By"/>
        </SPEC-ATTRIBUTES>
      </SPEC-OBJECT-TYPE>
      <SPEC-RELATION-TYPE IDENTIFIER="rt" LONG-NAME="Derived From"/>
    </SPEC-TYPES>
    <SPEC-OBJECTS>
      <SPEC-OBJECT IDENTIFIER="o1"><TYPE><SPEC-OBJECT-TYPE-REF>t-req</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="SR-10"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-id</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a-text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION>
          <THE-VALUE><xhtml:div>Tickets reach <xhtml:b>the right team</xhtml:b>.</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
        <ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>a-prio</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION>
          <VALUES><ENUM-VALUE-REF>ev-high</ENUM-VALUE-REF></VALUES></ATTRIBUTE-VALUE-ENUMERATION>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="someone"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-who</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
      </VALUES></SPEC-OBJECT>
      <SPEC-OBJECT IDENTIFIER="o2"><TYPE><SPEC-OBJECT-TYPE-REF>t-req</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="SR-11"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-id</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a-text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION>
          <THE-VALUE><xhtml:div>Mail tickets too.</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
      </VALUES></SPEC-OBJECT>
      <SPEC-OBJECT IDENTIFIER="o3"><TYPE><SPEC-OBJECT-TYPE-REF>t-req</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="ML-1"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-id</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a-text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION>
          <THE-VALUE><xhtml:div>Accuracy of 80 %</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="accuracy"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-metric</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="80%"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-thr</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
      </VALUES></SPEC-OBJECT>
    </SPEC-OBJECTS>
    <SPEC-RELATIONS>
      <SPEC-RELATION IDENTIFIER="r1"><TYPE><SPEC-RELATION-TYPE-REF>rt</SPEC-RELATION-TYPE-REF></TYPE>
        <SOURCE><SPEC-OBJECT-REF>o3</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>o2</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>
    </SPEC-RELATIONS>
    <SPECIFICATIONS>
      <SPECIFICATION IDENTIFIER="s1" LONG-NAME="Routing"><CHILDREN>
        <SPEC-HIERARCHY IDENTIFIER="h-1"><OBJECT><SPEC-OBJECT-REF>o1</SPEC-OBJECT-REF></OBJECT><CHILDREN>
          <SPEC-HIERARCHY IDENTIFIER="h-2"><OBJECT><SPEC-OBJECT-REF>o2</SPEC-OBJECT-REF></OBJECT><CHILDREN>
            <SPEC-HIERARCHY IDENTIFIER="h-3"><OBJECT><SPEC-OBJECT-REF>o3</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>
          </CHILDREN></SPEC-HIERARCHY>
        </CHILDREN></SPEC-HIERARCHY>
      </CHILDREN></SPECIFICATION>
    </SPECIFICATIONS>
  </REQ-IF-CONTENT></CORE-CONTENT>
</REQ-IF>
"""


def test_a_requirements_tool_export_is_read() -> None:
    """DOORS-like: XHTML text, an enumeration, other attribute names, parents from the hierarchy."""
    project, items = from_reqif(DOORS, "module.reqif", "tickets")
    found = {r.requirement_id: r for r in items}
    assert project == "tickets" and set(found) == {"SR-10", "SR-11", "ML-1"}
    assert (
        found["SR-10"].statement == "Tickets reach the right team."
        and found["SR-10"].priority == "high"
    )
    assert found["SR-10"].title == "Tickets reach the right team."
    assert found["SR-11"].parent == "SR-10" and found["SR-11"].level == "system"
    assert found["ML-1"].level == "ml" and found["ML-1"].derived_from == ("SR-11",)
    assert found["ML-1"].threshold == pytest.approx(0.8) and found["ML-1"].comparator == ">="


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"<REQ-IF><CORE-CONTENT>",
            r"^bad.reqif: line 1, column 22: not well-formed XML \(no element found\)",
        ),
        (
            b"<?xml version='1.0'?>\n<SPEC>\n</SPEC>\n",
            r"^bad.reqif: expected a <REQ-IF> document, found <SPEC>.",
        ),
        (
            b"<?xml version='1.0'?>\n<!DOCTYPE r [<!ENTITY a 'aaaa'>]>\n<REQ-IF>&a;</REQ-IF>",
            r"^bad.reqif: refused: the file uses a DTD, entities or external references",
        ),
        (
            DOORS.replace(
                b"<ATTRIBUTE-DEFINITION-STRING-REF>a-metric<",
                b"<ATTRIBUTE-DEFINITION-STRING-REF>a-9<",
            ),
            r"^bad.reqif: line 42: <SPEC-OBJECT IDENTIFIER='o3'>: line 46: <ATTRIBUTE-VALUE-STRING> refers "
            r"to unknown attribute definition 'a-9'.",
        ),
        (
            DOORS.replace(b"<TARGET><SPEC-OBJECT-REF>o2<", b"<TARGET><SPEC-OBJECT-REF>o7<"),
            r"^bad.reqif: line 51: <SPEC-RELATION IDENTIFIER='r1'>: its TARGET refers to unknown SPEC-OBJECT 'o7'.",
        ),
        (
            DOORS.replace(b'THE-VALUE="80%"', b'THE-VALUE="most"'),
            r"^bad.reqif: line 42: <SPEC-OBJECT IDENTIFIER='o3'> \(ML-1\).threshold: expected a number, got 'most'.",
        ),
    ],
)
def test_malformed_reqif_names_element_and_line(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        from_reqif(data, "bad.reqif", "tickets")


def test_a_malformed_import_writes_nothing(evidence_ws: Workspace, tmp_path: Path) -> None:
    from core.artifacts.service import list_artifacts
    from core.requirements.service import import_requirements

    bad = tmp_path / "bad.reqif"
    bad.write_bytes(DOORS.replace(b"<TARGET><SPEC-OBJECT-REF>o2<", b"<TARGET><SPEC-OBJECT-REF>o7<"))
    with pytest.raises(InvalidInput, match="unknown SPEC-OBJECT 'o7'"):
        import_requirements(evidence_ws, bad, TESTER, project="tickets")
    good = tmp_path / "good.reqifz"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("module.reqif", DOORS)
    result = import_requirements(evidence_ws, good, TESTER, project="tickets")
    assert result.created == ("SR-10", "SR-11", "ML-1")
    assert [a.version for a in list_artifacts(evidence_ws, kind="requirements")] == [1]


def test_unknown_file_types_and_missing_project(tmp_path: Path) -> None:
    odd = tmp_path / "set.docx"
    odd.write_text("x")
    with pytest.raises(
        InvalidInput, match=r"set.docx: unknown file type '.docx'. Expected one of: .csv"
    ):
        read_file(odd)
    plain = tmp_path / "set.yaml"
    plain.write_text("system: []\n")
    with pytest.raises(InvalidInput, match="set.yaml: which project?"):
        read_file(plain)
