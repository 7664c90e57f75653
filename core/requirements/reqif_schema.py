"""A requirements tool's own ReqIF definitions, as an import keeps them (``requirement_schemas``,
one JSON document per imported set version) and an export writes them back (issue 16).

What is kept, each element's XML attributes as the tool wrote them (but LAST-CHANGE):

- ``datatypes``: every DATATYPE-DEFINITION-* in the file's order (identifier, long name,
  MAX-LENGTH, MIN, MAX, ACCURACY, …), an enumeration with every value in order (identifier, long
  name, KEY, OTHER-CONTENT), used by a requirement or not;
- ``object_types``: every SPEC-OBJECT-TYPE with its attribute definitions in order (kind,
  identifier, long name, MULTI-VALUED, …, the datatype it refers to);
- ``relation_types``: every SPEC-RELATION-TYPE and what it meant on import;
- ``specification_types``: every SPECIFICATION-TYPE with its attribute definitions, as
  ``object_types`` (an attribute definition's DEFAULT-VALUE kept with it, in both);
- ``specifications``: each specification of a kept type by its name: its XML attributes, type
  and values by attribute definition;
- ``derivations``: the relation type each derivation came as, by requirement id and the id it
  is derived from (StrictDoc's ``Parent``, a tool's ``satisfies``);
- ``nodes``: each section or text node's object type and the attribute definitions its title
  and text came from;
- ``xhtml``: each XHTML value as the tool wrote it (lists, bold, tables, …), by object and
  attribute definition, with the plain text it was read as: an unchanged value goes back as it
  came.

An export writes every kept datatype and attribute definition under the tool's identifiers, and
each object under its tool's object type; what Loopline adds (its own fields, statuses) gets
identifiers of its own that read back as Loopline's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

OWN_OBJECT_TYPES = ("ST-system", "ST-ml", "ST-section", "ST-text")  # Loopline's own
OWN_SPECIFICATION_TYPES = ("SPT-set",)
OWN_RELATION_TYPE = "RT-derived"  # Loopline's "derived from"
# the IDENTIFIER of an attribute definition Loopline writes for its own field or status (and
# the project of a specification under a tool's type)
_OWN_DEFINITION = re.compile(r"^_(system|ml|type\.\d+|section|text|spec\.\d+)-|^A-project$")
_OWN_DATATYPE = re.compile(r"^_?DT-(STRING|XHTML|INTEGER|REAL|BOOLEAN|DATE)$|^DT-_")


def is_own_definition(ident: str) -> bool:
    """Is this attribute definition one Loopline writes for its own fields (not a tool's)?"""
    return bool(_OWN_DEFINITION.match(ident))


def is_own_datatype(ident: str) -> bool:
    """Is this datatype one Loopline writes (DT-STRING, …; an enumeration of an attribute
    whose definition is Loopline's, "DT-_…")?"""
    return bool(_OWN_DATATYPE.match(ident))


def attributes_xml(attrs: Mapping[str, Any]) -> str:
    """XML attributes, each quoted."""
    return "".join(f" {name}={quoteattr(str(value))}" for name, value in attrs.items())


@dataclass(frozen=True)
class ToolSchema:
    """The kept definitions (see the module's docstring); empty when no tool gave any."""

    datatypes: list[dict[str, Any]] = field(default_factory=list)
    object_types: list[dict[str, Any]] = field(default_factory=list)
    relation_types: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    xhtml: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    specification_types: list[dict[str, Any]] = field(default_factory=list)
    specifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    derivations: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> ToolSchema:
        data = data or {}
        return cls(
            list(data.get("datatypes", [])),
            list(data.get("object_types", [])),
            list(data.get("relation_types", [])),
            dict(data.get("nodes", {})),
            dict(data.get("xhtml", {})),
            list(data.get("specification_types", [])),
            dict(data.get("specifications", {})),
            dict(data.get("derivations", {})),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "datatypes": self.datatypes,
            "object_types": self.object_types,
            "relation_types": self.relation_types,
            "nodes": self.nodes,
            "xhtml": self.xhtml,
            "specification_types": self.specification_types,
            "specifications": self.specifications,
            "derivations": self.derivations,
        }

    def __bool__(self) -> bool:
        return bool(
            self.datatypes
            or self.object_types
            or self.relation_types
            or self.xhtml
            or self.specification_types
        )

    def specification_type(self, ident: str) -> dict[str, Any] | None:
        return next(
            (t for t in self.specification_types if t["attrs"].get("IDENTIFIER") == ident), None
        )

    def derivation_type(self, requirement: str, parent: str) -> tuple[str, bool] | None:
        """The identifier of the relation type the tool gave this derivation as, and whether
        it points from parent to child (a ``parent_of`` type such as ``Child``); for a link
        with none recorded, the tool's only type meaning derivation; None: Loopline's own."""
        kept = {
            str(r["attrs"].get("IDENTIFIER")): r.get("meaning")
            for r in self.relation_types
            if r["attrs"].get("IDENTIFIER") != OWN_RELATION_TYPE
        }
        found = self.derivations.get(requirement, {}).get(parent)
        if found is None:
            forward = [i for i, meaning in kept.items() if meaning == "derived_from"]
            found = forward[0] if len(forward) == 1 else None
        if found is None or kept.get(found) not in ("derived_from", "parent_of"):
            return None
        return found, kept[found] == "parent_of"

    def object_type(self, *, name: str | None = None, ident: str | None = None) -> Any:
        """The first object type of this long name or identifier (None when none)."""
        for found in self.object_types:
            attrs = found["attrs"]
            if (ident is not None and attrs.get("IDENTIFIER") == ident) or (
                name is not None and attrs.get("LONG-NAME", attrs.get("IDENTIFIER")) == name
            ):
                return found
        return None

    def datatype(self, ident: str) -> dict[str, Any] | None:
        return next((d for d in self.datatypes if d["attrs"].get("IDENTIFIER") == ident), None)

    def enum_refs(self, ident: str) -> dict[str, str]:
        """An enumeration's value identifiers by their names (long name, else KEY)."""
        found = self.datatype(ident)
        return {
            str(v["attrs"].get("LONG-NAME", v.get("key", ""))): str(v["attrs"]["IDENTIFIER"])
            for v in (found or {}).get("values", [])
        }

    def relation_type(self, name: str) -> str | None:
        """The identifier of the relation type of this long name."""
        for found in self.relation_types:
            if found["attrs"].get("LONG-NAME") == name:
                return str(found["attrs"]["IDENTIFIER"])
        return None

    def identifiers(self) -> set[str]:
        """Every identifier the kept definitions use."""
        out = {str(d["attrs"].get("IDENTIFIER")) for d in self.datatypes}
        out |= {str(v["attrs"].get("IDENTIFIER")) for d in self.datatypes for v in d["values"]}
        for found in (*self.object_types, *self.specification_types):
            out.add(str(found["attrs"].get("IDENTIFIER")))
            out |= {str(a["attrs"].get("IDENTIFIER")) for a in found["attributes"]}
        return out | {str(r["attrs"].get("IDENTIFIER")) for r in self.relation_types}

    def original(self, object_id: str, definition: str, text: str) -> str | None:
        """The XHTML the tool wrote for this value, when it still reads as ``text``."""
        found = self.xhtml.get(object_id, {}).get(definition)
        if found is None or found["text"].strip() != text.strip():
            return None
        return str(found["xhtml"])

    def datatype_lines(self, stamp: str, skip: set[str]) -> list[str]:
        """Every kept datatype as the tool defined it (but those in ``skip``)."""
        out: list[str] = []
        for d in self.datatypes:
            if d["attrs"].get("IDENTIFIER") in skip:
                continue
            tag = f"DATATYPE-DEFINITION-{d['kind']}"
            head = f"        <{tag}{attributes_xml(d['attrs'])} {stamp}"
            if d["kind"] != "ENUMERATION":
                out.append(head + "/>")
                continue
            out += [head + ">", "          <SPECIFIED-VALUES>"]
            for number, value in enumerate(d["values"]):
                embedded = {
                    "KEY": value.get("key", str(number)),
                    "OTHER-CONTENT": value.get("other_content", ""),
                }
                out.append(
                    f"            <ENUM-VALUE{attributes_xml(value['attrs'])} {stamp}><PROPERTIES>"
                    f"<EMBEDDED-VALUE{attributes_xml(embedded)}/></PROPERTIES></ENUM-VALUE>"
                )
            out += ["          </SPECIFIED-VALUES>", f"        </{tag}>"]
        return out


def value_xml(raw: Mapping[str, Any], definition: str) -> str:
    """A value as ``reqif_read`` kept it (a default value, a specification's), of the attribute
    definition ``definition``."""
    kind = str(raw["kind"])
    ref = (
        f"<DEFINITION><ATTRIBUTE-DEFINITION-{kind}-REF>{escape(definition)}"
        f"</ATTRIBUTE-DEFINITION-{kind}-REF></DEFINITION>"
    )
    if kind == "XHTML":
        return (
            f"<ATTRIBUTE-VALUE-XHTML>{ref}<THE-VALUE>{raw.get('xhtml', '')}</THE-VALUE>"
            "</ATTRIBUTE-VALUE-XHTML>"
        )
    if kind == "ENUMERATION":
        refs = "".join(f"<ENUM-VALUE-REF>{escape(r)}</ENUM-VALUE-REF>" for r in raw["refs"])
        return f"<ATTRIBUTE-VALUE-ENUMERATION>{ref}<VALUES>{refs}</VALUES></ATTRIBUTE-VALUE-ENUMERATION>"
    return (
        f"<ATTRIBUTE-VALUE-{kind} THE-VALUE={quoteattr(str(raw.get('value', '')))}>{ref}"
        f"</ATTRIBUTE-VALUE-{kind}>"
    )


def meaning(schema: Mapping[str, Any] | None) -> Any:
    """What kept definitions say, without the identifiers a tool may generate anew on each
    export (StrictDoc's ``SECTION_<uuid>``, ``Parent-<uuid>``): datatypes, object, relation and
    specification types by long name, kind and attributes, attribute definitions by long name
    with their datatype's meaning, enumeration values by long name and key; what refers to a
    definition, by its long name. Two imports of the same document compare equal."""
    tool = ToolSchema.of(schema)
    names: dict[str, str] = {}  # identifier → long name (the identifier when none)

    def name(attrs: Mapping[str, Any]) -> None:
        ident = str(attrs.get("IDENTIFIER"))
        names[ident] = str(attrs.get("LONG-NAME", ident))

    for d in tool.datatypes:
        name(d["attrs"])
        for v in d["values"]:
            name(v["attrs"])
    for t in (*tool.object_types, *tool.specification_types, *tool.relation_types):
        name(t["attrs"])
        for a in t.get("attributes", []):
            name(a["attrs"])

    def plain(attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return sorted((k, str(v)) for k, v in attrs.items() if k != "IDENTIFIER")

    def raw(value: Mapping[str, Any] | None) -> Any:
        if value is None:
            return None
        refs = [names.get(r, r) for r in value.get("refs", [])]
        return (value["kind"], value.get("value"), value.get("xhtml"), refs)

    def definitions(t: Mapping[str, Any]) -> Any:
        return (
            plain(t["attrs"]),
            [
                (
                    a["kind"],
                    plain(a["attrs"]),
                    names.get(a["datatype"], a["datatype"]),
                    raw(a.get("default")),
                )
                for a in t["attributes"]
            ],
        )

    return {
        "datatypes": [
            (
                d["kind"],
                plain(d["attrs"]),
                [(plain(v["attrs"]), v.get("key"), v.get("other_content")) for v in d["values"]],
            )
            for d in tool.datatypes
        ],
        "object_types": [definitions(t) for t in tool.object_types],
        "specification_types": [definitions(t) for t in tool.specification_types],
        "relation_types": [(plain(r["attrs"]), r.get("meaning")) for r in tool.relation_types],
        "specifications": {
            name: (
                plain(s["attrs"]),
                names.get(s["type"], s["type"]),
                sorted((names.get(k, k), raw(v)) for k, v in s["values"].items()),
            )
            for name, s in tool.specifications.items()
        },
        "derivations": {
            child: {parent: names.get(kind, kind) for parent, kind in found.items()}
            for child, found in tool.derivations.items()
        },
        # headings' and text nodes' identifiers are generated too: by document order
        "nodes": [
            {k: names.get(str(v), v) for k, v in found.items()} for found in tool.nodes.values()
        ],
        "xhtml": [{names.get(k, k): v for k, v in found.items()} for found in tool.xhtml.values()],
    }
