"""The `reqif` library's side of the ReqIF specification types, default values and derivation
types round trip (run in tests/tools/.venv-reqif).

- ``write OUT``: a module the library's parser reads whose definitions say
  more than its objects: a SPECIFICATION-TYPE with attribute definitions of its own (one with a
  DEFAULT-VALUE) and two specifications of it with values; attribute definitions with
  DEFAULT-VALUEs (STRING, INTEGER, BOOLEAN, ENUMERATION, XHTML); derivations under two relation
  types ("satisfies", "traces to") and a "relates to". With ``child``, the "traces to" is a
  "Child" relation from the system requirement to the ML one. Prints the schema check's errors.
- ``read FILE``: what the library reads of them: each specification type's and object type's
  attribute definitions (type, identifier, long name, datatype, default value), each
  specification (identifier, long name, type, values by definition), each relation (type
  identifier and long name, source, target).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reqif.parser import ReqIFParser
from reqif_tool import attribute_value, validate

STAMP = 'LAST-CHANGE="2026-03-01T09:00:00Z"'


def _definition(kind: str, ident: str, name: str, datatype: str, default: str = "") -> str:
    multi = ' MULTI-VALUED="false"' if kind == "ENUMERATION" else ""
    return (
        f'<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{ident}" {STAMP} LONG-NAME="{name}"{multi}>'
        + (
            f"<DEFAULT-VALUE>{attribute_value(kind, ident, default)}</DEFAULT-VALUE>"
            if default
            else ""
        )
        + f"<TYPE><DATATYPE-DEFINITION-{kind}-REF>{datatype}</DATATYPE-DEFINITION-{kind}-REF>"
        f"</TYPE></ATTRIBUTE-DEFINITION-{kind}>"
    )


MODULE_DEFINITIONS = [
    ("STRING", "AD-mod-owner", "Module Owner", "DT-str", "QA team"),
    ("XHTML", "AD-mod-scope", "Scope", "DT-rich", ""),
    ("STRING", "AD-mod-name", "ReqIF.Name", "DT-str", ""),
]
REQUIREMENT_DEFINITIONS = [
    ("STRING", "AD-id", "ReqIF.ForeignID", "DT-str", ""),
    ("STRING", "AD-name", "ReqIF.Name", "DT-str", ""),
    ("XHTML", "AD-text", "ReqIF.Text", "DT-rich", "<xhtml:div>To be written.</xhtml:div>"),
    ("ENUMERATION", "AD-risk", "Risk", "DT-risk", "RISK-low"),
    ("INTEGER", "AD-effort", "Effort", "DT-int", "3"),
    ("BOOLEAN", "AD-reviewed", "Reviewed", "DT-bool", "false"),
    ("STRING", "AD-note", "Note", "DT-str", "none yet"),
]
OBJECTS = [  # identifier, [(kind, definition, value)]
    ("OBJ-sys-1", [("STRING", "AD-id", "SYS-1"), ("STRING", "AD-name", "Replies are sorted")]),
    ("OBJ-sys-2", [("STRING", "AD-id", "SYS-2"), ("STRING", "AD-name", "Bounces kept apart")]),
    (
        "OBJ-ml-1",
        [
            ("STRING", "AD-id", "ML-1"),
            ("STRING", "AD-name", "Intent recall"),
            ("ENUMERATION", "AD-risk", "RISK-high"),
        ],
    ),
]
RELATIONS = [  # identifier, type, source, target
    ("REL-1", "RT-sat", "OBJ-sys-2", "OBJ-sys-1"),
    ("REL-2", "RT-sat", "OBJ-ml-1", "OBJ-sys-1"),
    ("REL-3", "RT-trace", "OBJ-ml-1", "OBJ-sys-2"),
    ("REL-4", "RT-rel", "OBJ-sys-2", "OBJ-ml-1"),
]
SPECIFICATIONS = [  # identifier, long name, values, objects
    (
        "SPEC-sys",
        "System requirements",
        [
            ("STRING", "AD-mod-owner", "Product team"),
            (
                "XHTML",
                "AD-mod-scope",
                "<xhtml:div>What the <xhtml:b>desk</xhtml:b> needs</xhtml:div>",
            ),
        ],
        ["OBJ-sys-1", "OBJ-sys-2"],
    ),
    ("SPEC-ml", "ML requirements", [("STRING", "AD-mod-name", "Models")], ["OBJ-ml-1"]),
]


def write(out: Path, child: bool = False) -> dict[str, Any]:
    def defs(found: list[tuple[str, str, str, str, str]]) -> str:
        return "".join(_definition(*d) for d in found)

    objects = "\n".join(
        f'<SPEC-OBJECT IDENTIFIER="{ident}" {STAMP}><TYPE><SPEC-OBJECT-TYPE-REF>OT-req'
        "</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>"
        + "".join(attribute_value(*v) for v in values)
        + "</VALUES></SPEC-OBJECT>"
        for ident, values in OBJECTS
    )
    relations = "\n".join(
        f'<SPEC-RELATION IDENTIFIER="{ident}" {STAMP}><TYPE><SPEC-RELATION-TYPE-REF>{kind}'
        f"</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>{src}</SPEC-OBJECT-REF>"
        f"</SOURCE><TARGET><SPEC-OBJECT-REF>{dst}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>"
        for ident, kind, src, dst in (
            (i, k, *((d, s) if child and k == "RT-trace" else (s, d))) for i, k, s, d in RELATIONS
        )
    )
    specifications = "\n".join(
        f'<SPECIFICATION IDENTIFIER="{ident}" {STAMP} LONG-NAME="{name}"><VALUES>'
        + "".join(attribute_value(*v) for v in values)
        + "</VALUES><TYPE><SPECIFICATION-TYPE-REF>SPT-module</SPECIFICATION-TYPE-REF></TYPE>"
        "<CHILDREN>"
        + "".join(
            f'<SPEC-HIERARCHY IDENTIFIER="SH-{o}" {STAMP}><OBJECT><SPEC-OBJECT-REF>{o}'
            "</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"
            for o in children
        )
        + "</CHILDREN></SPECIFICATION>"
        for ident, name, values, children in SPECIFICATIONS
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
<THE-HEADER><REQ-IF-HEADER IDENTIFIER="hdr"><CREATION-TIME>2026-03-01T09:00:00Z</CREATION-TIME>
<REQ-IF-TOOL-ID>Jama Connect</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION>
<SOURCE-TOOL-ID>Jama 9</SOURCE-TOOL-ID><TITLE>Reply sorting</TITLE></REQ-IF-HEADER></THE-HEADER>
<CORE-CONTENT><REQ-IF-CONTENT>
<DATATYPES>
<DATATYPE-DEFINITION-STRING IDENTIFIER="DT-str" {STAMP} LONG-NAME="Text" MAX-LENGTH="255"/>
<DATATYPE-DEFINITION-XHTML IDENTIFIER="DT-rich" {STAMP} LONG-NAME="Rich text"/>
<DATATYPE-DEFINITION-INTEGER IDENTIFIER="DT-int" {STAMP} LONG-NAME="Points" MAX="100" MIN="0"/>
<DATATYPE-DEFINITION-BOOLEAN IDENTIFIER="DT-bool" {STAMP} LONG-NAME="Yes/no"/>
<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="DT-risk" {STAMP} LONG-NAME="Risk levels"><SPECIFIED-VALUES>
<ENUM-VALUE IDENTIFIER="RISK-low" {STAMP} LONG-NAME="Low"><PROPERTIES><EMBEDDED-VALUE KEY="1" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
<ENUM-VALUE IDENTIFIER="RISK-high" {STAMP} LONG-NAME="High"><PROPERTIES><EMBEDDED-VALUE KEY="2" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>
</DATATYPES>
<SPEC-TYPES>
<SPEC-OBJECT-TYPE IDENTIFIER="OT-req" {STAMP} LONG-NAME="Requirement"><SPEC-ATTRIBUTES>{defs(REQUIREMENT_DEFINITIONS)}</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>
<SPEC-RELATION-TYPE IDENTIFIER="RT-sat" {STAMP} LONG-NAME="satisfies"/>
<SPEC-RELATION-TYPE IDENTIFIER="RT-trace" {STAMP} LONG-NAME="{"Child" if child else "traces to"}"/>
<SPEC-RELATION-TYPE IDENTIFIER="RT-rel" {STAMP} LONG-NAME="relates to"/>
<SPECIFICATION-TYPE IDENTIFIER="SPT-module" {STAMP} LONG-NAME="Module"><SPEC-ATTRIBUTES>{defs(MODULE_DEFINITIONS)}</SPEC-ATTRIBUTES></SPECIFICATION-TYPE>
</SPEC-TYPES>
<SPEC-OBJECTS>
{objects}
</SPEC-OBJECTS>
<SPEC-RELATIONS>
{relations}
</SPEC-RELATIONS>
<SPECIFICATIONS>
{specifications}
</SPECIFICATIONS>
</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>
"""
    ReqIFParser.parse_from_string(text)  # the library reads it
    # (written as composed: the library's unparser drops the DEFINITION of a STRING's or
    # INTEGER's DEFAULT-VALUE, which the schema requires)
    out.write_text(text, encoding="utf-8")
    return {"written": str(out), "errors": validate(out)}


def _attributes(found: Any) -> list[list[Any]]:
    return [
        [
            a.attribute_type.name,
            a.identifier,
            a.long_name,
            a.datatype_definition,
            None if a.default_value is None else str(a.default_value),
        ]
        for a in getattr(found, "attribute_definitions", None)
        or getattr(found, "spec_attributes", None)
        or []
    ]


def read(path: Path) -> dict[str, Any]:
    content = ReqIFParser.parse(str(path)).core_content.req_if_content
    names = {t.identifier: t.long_name for t in content.spec_types}
    kinds = {type(t).__name__: {} for t in content.spec_types}
    for t in content.spec_types:
        kinds[type(t).__name__][t.identifier] = {
            "long_name": t.long_name,
            "attributes": _attributes(t),
        }
    return {
        "specification_types": kinds.get("ReqIFSpecificationType", {}),
        "object_types": kinds.get("ReqIFSpecObjectType", {}),
        "specifications": [
            {
                "identifier": s.identifier,
                "long_name": s.long_name,
                "type": s.specification_type,
                "values": {v.definition_ref: v.value for v in s.values or []},
                "children": [c.spec_object for c in s.children or []],
            }
            for s in content.specifications
        ],
        "relations": [
            [r.relation_type_ref, names.get(r.relation_type_ref), r.source, r.target]
            for r in content.spec_relations
        ],
    }


def main() -> None:
    command, target = sys.argv[1], Path(sys.argv[2])
    if command == "write":
        print(json.dumps(write(target, sys.argv[3:] == ["child"])))
    elif command == "read":
        print(json.dumps(read(target), default=str))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
