"""A requirements tool's own ReqIF definitions, as an import keeps them (``requirement_schemas``,
one JSON document per imported set version) and an export writes them back (issue 16).

What is kept, each element's XML attributes as the tool wrote them (but LAST-CHANGE):

- ``datatypes``: every DATATYPE-DEFINITION-* in the file's order (identifier, long name,
  MAX-LENGTH, MIN, MAX, ACCURACY, …), an enumeration with every value in order (identifier, long
  name, KEY, OTHER-CONTENT), used by a requirement or not;
- ``object_types``: every SPEC-OBJECT-TYPE with its attribute definitions in order (kind,
  identifier, long name, MULTI-VALUED, …, the datatype it refers to);
- ``relation_types``: every SPEC-RELATION-TYPE and what it meant on import;
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
from xml.sax.saxutils import quoteattr

OWN_OBJECT_TYPES = ("ST-system", "ST-ml", "ST-section", "ST-text")  # Loopline's own
# the IDENTIFIER of an attribute definition Loopline writes for its own field or status
_OWN_DEFINITION = re.compile(r"^_(system|ml|type\.\d+|section|text)-")
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

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> ToolSchema:
        data = data or {}
        return cls(
            list(data.get("datatypes", [])),
            list(data.get("object_types", [])),
            list(data.get("relation_types", [])),
            dict(data.get("nodes", {})),
            dict(data.get("xhtml", {})),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "datatypes": self.datatypes,
            "object_types": self.object_types,
            "relation_types": self.relation_types,
            "nodes": self.nodes,
            "xhtml": self.xhtml,
        }

    def __bool__(self) -> bool:
        return bool(self.datatypes or self.object_types or self.relation_types or self.xhtml)

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
        for found in self.object_types:
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
