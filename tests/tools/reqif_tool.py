"""Runs in tests/tools/.venv-reqif (StrictDoc and the `reqif` library, never Loopline's
environment) for tests/core/test_reqif_tools.py.

Commands (each prints one JSON line):
- ``doors OUT [CHANGES] [refined]``: a DOORS/Polarion-shaped export written by the ``reqif`` library (parsed from
  the template below and written by its unparser): several SPEC-OBJECT-TYPEs (heading, system,
  ML requirement), typed INTEGER/BOOLEAN/DATE/REAL/ENUMERATION/XHTML attributes, a relation type
  "derived from" (and "see also", "conflicts with"), and one SPECIFICATION per level; with
  ``refined``, an ML requirement refining another (derived from it, nested under it).
- ``read FILE``: the file as the ``reqif`` library reads it: each object's identifier, type and
  attribute values by long name, each relation (type, source, target), each specification's
  hierarchy of object identifiers.
- ``validate FILE``: the file checked against the ReqIF 1.2 XML schema the ``reqif`` library
  ships (xmlschema): the list of errors, empty when valid.
- ``sdoc FILE...``: each .sdoc as StrictDoc's own reader parses it: per document its title and
  nodes in order (depth, node type, fields by name, Parent relations' UIDs).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import reqif
import xmlschema
from reqif.parser import ReqIFParser
from reqif.unparser import ReqIFUnparser

SCHEMA = Path(reqif.__file__).parent / "reqif_schema" / "reqif.xsd"


def attribute_value(kind: str, ref: str, value: str) -> str:
    """An ATTRIBUTE-VALUE-<kind> of attribute definition ``ref`` as a tool writes it (the test
    files reqif_schema_tool and reqif_spec_tool compose)."""
    definition = (
        f"<DEFINITION><ATTRIBUTE-DEFINITION-{kind}-REF>{ref}</ATTRIBUTE-DEFINITION-{kind}-REF>"
        "</DEFINITION>"
    )
    if kind == "XHTML":
        return (
            f"<ATTRIBUTE-VALUE-XHTML>{definition}<THE-VALUE>{value}</THE-VALUE>"
            "</ATTRIBUTE-VALUE-XHTML>"
        )
    if kind == "ENUMERATION":
        return (
            f"<ATTRIBUTE-VALUE-ENUMERATION>{definition}<VALUES><ENUM-VALUE-REF>{value}"
            "</ENUM-VALUE-REF></VALUES></ATTRIBUTE-VALUE-ENUMERATION>"
        )
    return f'<ATTRIBUTE-VALUE-{kind} THE-VALUE="{value}">{definition}</ATTRIBUTE-VALUE-{kind}>'


def _attribute_definition(kind: str, ident: str, name: str) -> str:
    multi = ' MULTI-VALUED="false"' if kind == "ENUMERATION" else ""
    return (
        f'<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{ident}" LAST-CHANGE="2026-01-05T10:00:00Z" '
        f'LONG-NAME="{name}"{multi}><TYPE><DATATYPE-DEFINITION-{kind}-REF>DT-{kind}'
        f"</DATATYPE-DEFINITION-{kind}-REF></TYPE></ATTRIBUTE-DEFINITION-{kind}>"
    )


COMMON = [  # (kind, suffix, long name) on every requirement type
    ("INTEGER", "num", "Absolute Number"),
    ("STRING", "id", "Object Identifier"),
    ("STRING", "name", "ReqIF.Name"),
    ("XHTML", "text", "ReqIF.Text"),
    ("ENUMERATION", "status", "Status"),
    ("BOOLEAN", "safety", "Safety Relevant"),
    ("DATE", "due", "Due Date"),
]
OBJECTS = [  # identifier, type, values by suffix
    ("H-1", "heading", {"heading": "1 Stakeholder needs"}),
    ("H-2", "heading", {"heading": "2 Model requirements"}),
    (
        "SR-A",
        "sys",
        {
            "num": "101",
            "id": "STK-101",
            "name": "Replies are sorted",
            "text": "<xhtml:div><xhtml:p>Out-of-office replies are <xhtml:b>recognised</xhtml:b>."
            "</xhtml:p><xhtml:p>Second paragraph,<xhtml:br/>with a line break.</xhtml:p></xhtml:div>",
            "status": "EV-approved",
            "safety": "true",
            "due": "2026-03-01T00:00:00Z",
        },
    ),
    (
        "SR-B",
        "sys",
        {
            "num": "102",
            "id": "STK-102",
            "name": "Sequences resume on time",
            "text": "<xhtml:div>Sequences resume on the return date.</xhtml:div>",
            "status": "EV-draft",
            "safety": "false",
            "due": "2026-04-15T00:00:00Z",
        },
    ),
    (
        "ML-A",
        "ml",
        {
            "num": "201",
            "id": "MLR-201",
            "name": "Precision of the out-of-office class",
            "text": "<xhtml:div>Precision &amp; recall stay high &lt;for every market&gt;.</xhtml:div>",
            "status": "EV-approved",
            "safety": "true",
            "due": "2026-05-01T00:00:00Z",
            "budget": "0.25",
        },
    ),
]
TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
<THE-HEADER><REQ-IF-HEADER IDENTIFIER="hdr"><CREATION-TIME>2026-01-05T10:00:00Z</CREATION-TIME>
<REQ-IF-TOOL-ID>IBM Engineering Requirements Management DOORS</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION>
<SOURCE-TOOL-ID>DOORS 9.7</SOURCE-TOOL-ID><TITLE>Out-of-office module</TITLE></REQ-IF-HEADER></THE-HEADER>
<CORE-CONTENT><REQ-IF-CONTENT>
<DATATYPES>
<DATATYPE-DEFINITION-STRING IDENTIFIER="DT-STRING" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="String" MAX-LENGTH="1000"/>
<DATATYPE-DEFINITION-XHTML IDENTIFIER="DT-XHTML" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Text"/>
<DATATYPE-DEFINITION-INTEGER IDENTIFIER="DT-INTEGER" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Integer" MAX="100000" MIN="0"/>
<DATATYPE-DEFINITION-REAL IDENTIFIER="DT-REAL" ACCURACY="6" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Real" MAX="1000" MIN="0"/>
<DATATYPE-DEFINITION-BOOLEAN IDENTIFIER="DT-BOOLEAN" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Boolean"/>
<DATATYPE-DEFINITION-DATE IDENTIFIER="DT-DATE" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Date"/>
<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="DT-ENUMERATION" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Status"><SPECIFIED-VALUES>
<ENUM-VALUE IDENTIFIER="EV-draft" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Draft"><PROPERTIES><EMBEDDED-VALUE KEY="0" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
<ENUM-VALUE IDENTIFIER="EV-approved" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Approved"><PROPERTIES><EMBEDDED-VALUE KEY="1" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>
</DATATYPES>
<SPEC-TYPES>
@TYPES@
<SPEC-RELATION-TYPE IDENTIFIER="RT-derived" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="derived from"/>
<SPEC-RELATION-TYPE IDENTIFIER="RT-info" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="see also"/>
<SPEC-RELATION-TYPE IDENTIFIER="RT-conflict" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="conflicts with"/>
<SPECIFICATION-TYPE IDENTIFIER="SPT" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Module"/>
</SPEC-TYPES>
<SPEC-OBJECTS>
@OBJECTS@
</SPEC-OBJECTS>
<SPEC-RELATIONS>
@RELATIONS@
</SPEC-RELATIONS>
<SPECIFICATIONS>
<SPECIFICATION IDENTIFIER="SPEC-sys" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="Stakeholder Requirements"><TYPE><SPECIFICATION-TYPE-REF>SPT</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="SH-1" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT><SPEC-OBJECT-REF>H-1</SPEC-OBJECT-REF></OBJECT><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="SH-2" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT><SPEC-OBJECT-REF>SR-A</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>
<SPEC-HIERARCHY IDENTIFIER="SH-3" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT><SPEC-OBJECT-REF>SR-B</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>
</CHILDREN></SPEC-HIERARCHY></CHILDREN></SPECIFICATION>
<SPECIFICATION IDENTIFIER="SPEC-ml" LAST-CHANGE="2026-01-05T10:00:00Z" LONG-NAME="ML Requirements"><TYPE><SPECIFICATION-TYPE-REF>SPT</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="SH-4" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT><SPEC-OBJECT-REF>H-2</SPEC-OBJECT-REF></OBJECT><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="SH-5" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT><SPEC-OBJECT-REF>ML-A</SPEC-OBJECT-REF></OBJECT>@REFINED@</SPEC-HIERARCHY>
</CHILDREN></SPEC-HIERARCHY></CHILDREN></SPECIFICATION>
</SPECIFICATIONS>
</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>
"""


def _types() -> str:
    out = [
        '<SPEC-OBJECT-TYPE IDENTIFIER="T-heading" LAST-CHANGE="2026-01-05T10:00:00Z" '
        'LONG-NAME="Heading"><SPEC-ATTRIBUTES>'
        + _attribute_definition("STRING", "A-heading", "ReqIF.ChapterName")
        + "</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>"
    ]
    for key, name in (("sys", "Stakeholder Requirement"), ("ml", "ML Requirement")):
        defs = [_attribute_definition(k, f"A-{key}-{s}", n) for k, s, n in COMMON]
        if key == "ml":
            defs.append(_attribute_definition("REAL", "A-ml-budget", "Error Budget"))
        out.append(
            f'<SPEC-OBJECT-TYPE IDENTIFIER="T-{key}" LAST-CHANGE="2026-01-05T10:00:00Z" '
            f'LONG-NAME="{name}"><SPEC-ATTRIBUTES>{"".join(defs)}</SPEC-ATTRIBUTES>'
            "</SPEC-OBJECT-TYPE>"
        )
    return "\n".join(out)


REFINED = (  # with `refined`: an ML requirement refining MLR-201 (DOORS refinement chains)
    "ML-B",
    "ml",
    {"num": "202", "id": "MLR-202", "name": "Precision on German replies", "status": "EV-draft"},
)
REFINED_RELATIONS = [("R-4", "RT-derived", "ML-B", "ML-A"), ("R-5", "RT-conflict", "ML-B", "SR-B")]


def _objects(changed: dict[str, dict[str, str]], refined: bool = False) -> str:
    kinds = {s: k for k, s, _ in COMMON} | {"heading": "STRING", "budget": "REAL"}
    out = []
    for ident, kind, values in [*OBJECTS, *([REFINED] if refined else [])]:
        values = {**values, **changed.get(ident, {})}
        refs = "".join(
            attribute_value(kinds[s], "A-heading" if s == "heading" else f"A-{kind}-{s}", v)
            for s, v in values.items()
        )
        out.append(
            f'<SPEC-OBJECT IDENTIFIER="{ident}" LAST-CHANGE="2026-01-05T10:00:00Z">'
            f"<TYPE><SPEC-OBJECT-TYPE-REF>T-{kind}</SPEC-OBJECT-TYPE-REF></TYPE>"
            f"<VALUES>{refs}</VALUES></SPEC-OBJECT>"
        )
    return "\n".join(out)


def _relations(refined: bool = False) -> str:
    out = []
    for ident, kind, src, dst in [
        ("R-1", "RT-derived", "ML-A", "SR-A"),
        ("R-2", "RT-derived", "ML-A", "SR-B"),
        ("R-3", "RT-info", "SR-B", "SR-A"),
        *(REFINED_RELATIONS if refined else []),
    ]:
        out.append(
            f'<SPEC-RELATION IDENTIFIER="{ident}" LAST-CHANGE="2026-01-05T10:00:00Z">'
            f"<TYPE><SPEC-RELATION-TYPE-REF>{kind}</SPEC-RELATION-TYPE-REF></TYPE>"
            f"<SOURCE><SPEC-OBJECT-REF>{src}</SPEC-OBJECT-REF></SOURCE>"
            f"<TARGET><SPEC-OBJECT-REF>{dst}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>"
        )
    return "\n".join(out)


def doors(out: Path, changed: dict[str, dict[str, str]], refined: bool = False) -> dict[str, Any]:
    below = (
        '<CHILDREN><SPEC-HIERARCHY IDENTIFIER="SH-6" LAST-CHANGE="2026-01-05T10:00:00Z"><OBJECT>'
        "<SPEC-OBJECT-REF>ML-B</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY></CHILDREN>"
    )
    text = (
        TEMPLATE.replace("@TYPES@", _types())
        .replace("@OBJECTS@", _objects(changed, refined))
        .replace("@RELATIONS@", _relations(refined))
        .replace("@REFINED@", below if refined else "")
    )
    bundle = ReqIFParser.parse_from_string(text)
    written = ReqIFUnparser.unparse(bundle)
    out.write_text(written, encoding="utf-8")
    return {"written": str(out), "errors": validate(out)}


def read(path: Path) -> dict[str, Any]:
    bundle = ReqIFParser.parse(str(path))
    content = bundle.core_content.req_if_content
    names = {}
    for spec_type in content.spec_types:
        for attribute in getattr(spec_type, "attribute_definitions", None) or []:
            names[attribute.identifier] = attribute.long_name
    relation_names = {t.identifier: t.long_name for t in content.spec_types}
    definitions = {
        d.identifier: d
        for spec_type in content.spec_types
        for d in getattr(spec_type, "attribute_definitions", None) or []
    }

    def typed(attribute: Any) -> list[Any]:
        """[ReqIF type, value]: an enumeration's value names, XHTML's text (tags dropped)."""
        kind = attribute.attribute_type.name
        value = attribute.value
        if kind == "ENUMERATION":
            datatype = bundle.lookup.get_data_type_by_ref(
                definitions[attribute.definition_ref].datatype_definition
            )
            value = [datatype.values_map[ref].long_name for ref in value]
        elif kind == "XHTML":  # blocks and breaks as lines, inline markup dropped
            text = re.sub(r"<(?:xhtml:)?(?:p|div|br|li)\b[^>]*>", "\n", value)
            text = re.sub(r"<[^>]+>", "", text).replace("&amp;", "&")
            text = text.replace("&lt;", "<").replace("&gt;", ">")
            value = "\n".join(" ".join(ln.split()) for ln in text.splitlines() if ln.strip())
        return [kind, value]

    objects = {
        o.identifier: {
            "type": relation_names.get(o.spec_object_type),
            "values": {names.get(a.definition_ref): a.value for a in o.attributes},
            "typed": {names.get(a.definition_ref): typed(a) for a in o.attributes},
        }
        for o in content.spec_objects
    }
    relations = [
        [relation_names.get(r.relation_type_ref), r.source, r.target]
        for r in content.spec_relations
    ]

    def tree(node: Any) -> list[Any]:
        return [[c.spec_object, tree(c)] for c in (node.children or [])]

    specifications = {s.long_name: tree(s) for s in content.specifications}
    return {"objects": objects, "relations": relations, "specifications": specifications}


def sdoc(paths: list[Path]) -> dict[str, Any]:
    from strictdoc.backend.sdoc.reader import SDReader

    documents = []
    for path in paths:
        document = SDReader.read(path.read_text(encoding="utf-8"), str(path))
        nodes: list[dict[str, Any]] = []

        def walk(parent: Any, depth: int, into: list[dict[str, Any]] = nodes) -> None:
            for node in getattr(parent, "section_contents", None) or []:
                if not hasattr(node, "node_type"):
                    continue
                into.append(
                    {
                        "depth": depth,
                        "type": node.node_type,
                        "fields": {
                            f.field_name: f.get_text_value().strip() for f in node.fields_as_parsed
                        },
                        "parents": [
                            r.ref_uid
                            for r in node.relations
                            if getattr(r, "ref_type", "") == "Parent"
                        ],
                    }
                )
                walk(node, depth + 1)

        walk(document, 0)
        documents.append({"title": document.title, "nodes": nodes})
    return {"documents": documents}


def validate(path: Path) -> list[str]:
    schema = xmlschema.XMLSchema(str(SCHEMA))
    return [str(e.reason) for e in schema.iter_errors(str(path))]


def main() -> None:
    command, target = sys.argv[1], Path(sys.argv[2])
    if command == "doors":
        changed = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
        print(json.dumps(doors(target, changed, "refined" in sys.argv[4:])))
    elif command == "read":
        print(json.dumps(read(target), default=str))
    elif command == "sdoc":
        print(json.dumps(sdoc([Path(p) for p in sys.argv[2:]])))
    elif command == "validate":
        print(json.dumps({"errors": validate(target)}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
