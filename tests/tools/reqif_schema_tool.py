"""The `reqif` library's side of the ReqIF definitions round trip (run in tests/tools/.venv-reqif).

- ``polarion OUT [CHANGED-JSON]``: writes, through the library's parser and unparser, a module
  shaped like a Polarion/DOORS export whose definitions say more than its values: an
  ENUMERATION with values no requirement uses, STRINGs with MAX-LENGTH, an INTEGER and a REAL
  with MIN/MAX, a BOOLEAN no attribute uses, an attribute definition no object uses, chapter and
  information objects of the tool's own types, XHTML with lists, bold, italics, line breaks and
  a table. Prints the schema check's errors (empty: valid).
- ``definitions FILE``: what the library reads of the file's definitions: every datatype (kind,
  identifier, long name, max length, min, max, accuracy, enumeration values in order), every
  object type with its attribute definitions in order, every relation type; each object's type
  and values by attribute definition identifier (XHTML as the markup the file holds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reqif.parser import ReqIFParser
from reqif.unparser import ReqIFUnparser
from reqif_tool import attribute_value, validate

STAMP = 'LAST-CHANGE="2026-02-01T09:00:00Z"'
RICH_TEXT = (
    "<xhtml:div><xhtml:p>Replies are <xhtml:b>sorted</xhtml:b> by <xhtml:i>intent</xhtml:i>:"
    "</xhtml:p><xhtml:ul><xhtml:li>out of office</xhtml:li><xhtml:li>bounce, "
    "<xhtml:b>hard</xhtml:b> or soft</xhtml:li></xhtml:ul><xhtml:p>First line<xhtml:br/>"
    "second line</xhtml:p><xhtml:table><xhtml:tr><xhtml:td>market</xhtml:td><xhtml:td>share"
    "</xhtml:td></xhtml:tr><xhtml:tr><xhtml:td>DE</xhtml:td><xhtml:td>40 %</xhtml:td></xhtml:tr>"
    "</xhtml:table></xhtml:div>"
)
INFO_TEXT = (
    "<xhtml:div><xhtml:p>Read this module with:</xhtml:p><xhtml:ol><xhtml:li>the glossary"
    "</xhtml:li><xhtml:li>the <xhtml:i>risk</xhtml:i> list</xhtml:li></xhtml:ol></xhtml:div>"
)
DATATYPES = f"""<DATATYPES>
<DATATYPE-DEFINITION-STRING IDENTIFIER="DT-short" {STAMP} LONG-NAME="Short text" MAX-LENGTH="80"/>
<DATATYPE-DEFINITION-STRING IDENTIFIER="DT-long" {STAMP} LONG-NAME="Long text" MAX-LENGTH="4000"/>
<DATATYPE-DEFINITION-XHTML IDENTIFIER="DT-rich" {STAMP} LONG-NAME="Rich text"/>
<DATATYPE-DEFINITION-INTEGER IDENTIFIER="DT-effort" {STAMP} LONG-NAME="Story points" MAX="40" MIN="1"/>
<DATATYPE-DEFINITION-REAL IDENTIFIER="DT-share" ACCURACY="3" {STAMP} LONG-NAME="Share" MAX="1.0" MIN="0.0"/>
<DATATYPE-DEFINITION-BOOLEAN IDENTIFIER="DT-flag" {STAMP} LONG-NAME="Flag"/>
<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="DT-priority" {STAMP} LONG-NAME="Priority levels"><SPECIFIED-VALUES>
<ENUM-VALUE IDENTIFIER="PRIO-low" {STAMP} LONG-NAME="Low"><PROPERTIES><EMBEDDED-VALUE KEY="10" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
<ENUM-VALUE IDENTIFIER="PRIO-medium" {STAMP} LONG-NAME="Medium"><PROPERTIES><EMBEDDED-VALUE KEY="20" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
<ENUM-VALUE IDENTIFIER="PRIO-high" {STAMP} LONG-NAME="High"><PROPERTIES><EMBEDDED-VALUE KEY="30" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
<ENUM-VALUE IDENTIFIER="PRIO-critical" {STAMP} LONG-NAME="Critical"><PROPERTIES><EMBEDDED-VALUE KEY="40" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>
</DATATYPES>"""


def _definition(kind: str, ident: str, name: str, datatype: str) -> str:
    multi = ' MULTI-VALUED="false"' if kind == "ENUMERATION" else ""
    return (
        f'<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{ident}" {STAMP} LONG-NAME="{name}"{multi}>'
        f"<TYPE><DATATYPE-DEFINITION-{kind}-REF>{datatype}</DATATYPE-DEFINITION-{kind}-REF>"
        f"</TYPE></ATTRIBUTE-DEFINITION-{kind}>"
    )


TYPES = {  # identifier → (long name, [(kind, identifier, long name, datatype)])
    "OT-chapter": ("Chapter", [("STRING", "AD-chapter-name", "ReqIF.ChapterName", "DT-short")]),
    "OT-info": ("Information", [("XHTML", "AD-info-text", "ReqIF.Text", "DT-rich")]),
    "OT-customer": (
        "Customer Requirement",
        [
            ("STRING", "AD-cr-id", "ReqIF.ForeignID", "DT-short"),
            ("STRING", "AD-cr-name", "ReqIF.Name", "DT-short"),
            ("XHTML", "AD-cr-text", "ReqIF.Text", "DT-rich"),
            ("ENUMERATION", "AD-cr-priority", "Customer Priority", "DT-priority"),
            ("INTEGER", "AD-cr-effort", "Effort", "DT-effort"),
            ("REAL", "AD-cr-share", "Market Share", "DT-share"),
            ("STRING", "AD-cr-notes", "Verification Notes", "DT-long"),  # no object has one
        ],
    ),
}
OBJECTS = [  # identifier, type, [(kind, definition, value)]
    ("CH-1", "OT-chapter", [("STRING", "AD-chapter-name", "Customer needs")]),
    ("INFO-1", "OT-info", [("XHTML", "AD-info-text", INFO_TEXT)]),
    (
        "CR-1",
        "OT-customer",
        [
            ("STRING", "AD-cr-id", "CR-1"),
            ("STRING", "AD-cr-name", "Replies are sorted"),
            ("XHTML", "AD-cr-text", RICH_TEXT),
            ("ENUMERATION", "AD-cr-priority", "PRIO-medium"),
            ("INTEGER", "AD-cr-effort", "8"),
            ("REAL", "AD-cr-share", "0.4"),
        ],
    ),
    (
        "CR-2",
        "OT-customer",
        [
            ("STRING", "AD-cr-id", "CR-2"),
            ("STRING", "AD-cr-name", "Bounces are kept apart"),
            ("XHTML", "AD-cr-text", "<xhtml:div>Bounces never reach an agent.</xhtml:div>"),
            ("ENUMERATION", "AD-cr-priority", "PRIO-medium"),
        ],
    ),
]


def polarion(out: Path, changed: dict[str, str]) -> dict[str, Any]:
    types = "\n".join(
        f'<SPEC-OBJECT-TYPE IDENTIFIER="{ident}" {STAMP} LONG-NAME="{name}"><SPEC-ATTRIBUTES>'
        + "".join(_definition(*d) for d in definitions)
        + "</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>"
        for ident, (name, definitions) in TYPES.items()
    )
    objects = "\n".join(
        f'<SPEC-OBJECT IDENTIFIER="{ident}" {STAMP}><TYPE><SPEC-OBJECT-TYPE-REF>{kind}'
        "</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>"
        + "".join(attribute_value(k, ref, changed.get(f"{ident}/{ref}", v)) for k, ref, v in values)
        + "</VALUES></SPEC-OBJECT>"
        for ident, kind, values in OBJECTS
    )
    hierarchy = "".join(
        f'<SPEC-HIERARCHY IDENTIFIER="SH-{ident}" {STAMP}><OBJECT><SPEC-OBJECT-REF>{ident}'
        "</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"
        for ident in ("INFO-1", "CR-1", "CR-2")
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
<THE-HEADER><REQ-IF-HEADER IDENTIFIER="hdr"><CREATION-TIME>2026-02-01T09:00:00Z</CREATION-TIME>
<REQ-IF-TOOL-ID>Polarion ALM</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION>
<SOURCE-TOOL-ID>Polarion 2404</SOURCE-TOOL-ID><TITLE>Reply sorting</TITLE></REQ-IF-HEADER></THE-HEADER>
<CORE-CONTENT><REQ-IF-CONTENT>
{DATATYPES}
<SPEC-TYPES>
{types}
<SPEC-RELATION-TYPE IDENTIFIER="RT-refines" {STAMP} LONG-NAME="refines"/>
<SPEC-RELATION-TYPE IDENTIFIER="RT-relates" {STAMP} LONG-NAME="relates to"/>
<SPECIFICATION-TYPE IDENTIFIER="SPT-doc" {STAMP} LONG-NAME="Document"/>
</SPEC-TYPES>
<SPEC-OBJECTS>
{objects}
</SPEC-OBJECTS>
<SPEC-RELATIONS>
<SPEC-RELATION IDENTIFIER="R-1" {STAMP}><TYPE><SPEC-RELATION-TYPE-REF>RT-refines</SPEC-RELATION-TYPE-REF></TYPE>
<SOURCE><SPEC-OBJECT-REF>CR-2</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>CR-1</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>
</SPEC-RELATIONS>
<SPECIFICATIONS>
<SPECIFICATION IDENTIFIER="SPEC-1" {STAMP} LONG-NAME="Customer requirements"><TYPE><SPECIFICATION-TYPE-REF>SPT-doc</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="SH-CH-1" {STAMP}><OBJECT><SPEC-OBJECT-REF>CH-1</SPEC-OBJECT-REF></OBJECT><CHILDREN>{hierarchy}</CHILDREN></SPEC-HIERARCHY>
</CHILDREN></SPECIFICATION>
</SPECIFICATIONS>
</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>
"""
    written = ReqIFUnparser.unparse(ReqIFParser.parse_from_string(text))
    out.write_text(written, encoding="utf-8")
    return {"written": str(out), "errors": validate(out)}


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def definitions(path: Path) -> dict[str, Any]:
    content = ReqIFParser.parse(str(path)).core_content.req_if_content
    datatypes = {}
    for d in content.data_types:
        kind = type(d).__name__.removeprefix("ReqIFDataTypeDefinition").upper()
        datatypes[d.identifier] = {
            "kind": kind,
            "long_name": d.long_name,
            "max_length": _text(getattr(d, "max_length", None)),
            "min": _text(getattr(d, "min_value", None)),
            "max": _text(getattr(d, "max_value", None)),
            "accuracy": _text(getattr(d, "accuracy", None)),
            "values": [
                [v.identifier, v.long_name, v.key] for v in getattr(d, "values", None) or []
            ],
        }
    object_types, relation_types = {}, {}
    for t in content.spec_types:
        name = type(t).__name__
        if name == "ReqIFSpecObjectType":
            object_types[t.identifier] = {
                "long_name": t.long_name,
                "attributes": [
                    [a.attribute_type.name, a.identifier, a.long_name, a.datatype_definition]
                    for a in t.attribute_definitions or []
                ],
            }
        elif name == "ReqIFSpecRelationType":
            relation_types[t.identifier] = t.long_name
    objects = {
        o.identifier: {
            "type": o.spec_object_type,
            "values": {a.definition_ref: a.value for a in o.attributes},
        }
        for o in content.spec_objects
    }
    return {
        "datatypes": datatypes,
        "object_types": object_types,
        "relation_types": relation_types,
        "objects": objects,
    }


def main() -> None:
    command, target = sys.argv[1], Path(sys.argv[2])
    if command == "polarion":
        changed = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
        print(json.dumps(polarion(target, changed)))
    elif command == "definitions":
        print(json.dumps(definitions(target), default=str))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
