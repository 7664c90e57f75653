r"""Reading ReqIF 1.2 as requirements tools write it (see ``reqif.py`` for Loopline's own layout).

- **Structure**: each SPECIFICATION's SPEC-HIERARCHY is walked in document order; headings,
  sections and free-text objects become the document's structure (``DocumentNode``), never
  requirements; requirements keep their place in it.
- **Links**: relations whose type means derivation (``reqif_map.DERIVATION``, plus the mapping
  file's ``relations``) link source to target; an ML requirement may have several; without one,
  the requirement it sits under in the hierarchy.
- **Levels**: from the mapping, a Loopline metric, the object type's name, a level attribute, or
  the section or specification the object sits in; system otherwise.
- **Attributes**: every value is kept with its ReqIF type (STRING, XHTML, ENUMERATION, INTEGER,
  REAL, BOOLEAN, DATE); XHTML keeps its paragraphs and line breaks; StrictDoc's escaped strings
  (``\n``, ``\xNN``, ``\uNNNN``) are decoded.
- An ML requirement without a Loopline check is kept as "no check yet".

The XML is parsed with defusedxml (no DTDs, entities or external references); every problem names
the line and the element.
"""

from __future__ import annotations

import math
import re
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import defusedxml
import defusedxml.sax

from core.errors import InvalidInput
from core.requirements.models import REQIF_TYPES, DocumentNode, Requirement
from core.requirements.parse import ID_PATTERN, parse_entry
from core.requirements.reqif import (
    NAMES,
    SYSTEM_FIELDS,
    TYPES,
    own_identifier,
)
from core.requirements.reqif_map import NO_MAPPING, ReqifMapping
from core.requirements.reqif_schema import (
    OWN_OBJECT_TYPES,
    OWN_SPECIFICATION_TYPES,
    ToolSchema,
    is_own_datatype,
    is_own_definition,
)


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)  # text and children in document order
    raw: dict[str, str] = field(default_factory=dict)  # its XML attributes as written (no xmlns)

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def walk(self) -> Iterable[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def content(self) -> str:
        return " ".join(self._text().split())

    def xhtml(self) -> str:
        """The text of an XHTML value as its author laid it out: paragraphs and blocks apart by a
        blank line, ``<br/>`` a line break, list items and table rows one per line, spaces
        inside a line collapsed (kept inside ``<pre>``)."""
        text = _blocks(self).strip("\n")
        return re.sub(r"\n{3,}", "\n\n", text)

    def _text(self) -> str:
        return "".join(p if isinstance(p, str) else p._text() for p in self.parts)

    def markup(self) -> str:
        """What this element holds as XHTML, as the tool wrote it (elements under the ``xhtml:``
        prefix whatever prefix the file used; attributes with another prefix dropped)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(escape(part))
                continue
            attrs = "".join(
                f" {name}={quoteattr(value)}"
                for name, value in part.raw.items()
                if ":" not in name or name.startswith("xml:")
            )
            tag = f"xhtml:{part.tag}"
            inner = part.markup()
            out.append(f"<{tag}{attrs}>{inner}</{tag}>" if inner else f"<{tag}{attrs}/>")
        return "".join(out)

    def ref(self, wrapper: str) -> str | None:
        """The text of the ``…-REF`` element inside ``wrapper`` (e.g. TYPE, DEFINITION, SOURCE)."""
        holder = self.find(wrapper)
        if holder is None:
            return None
        for child in holder.children:
            if child.tag.endswith("-REF"):
                return child.content()
        return None

    def where(self) -> str:
        name = self.attrs.get("IDENTIFIER")
        return f"line {self.line}: <{self.tag}" + (f" IDENTIFIER={name!r}>" if name else ">")


class _Builder(xml.sax.ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[Node] = []
        self.root: Node | None = None
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:
        self.locator = locator

    def startElement(self, name: str, attrs: Any) -> None:
        line = self.locator.getLineNumber() if self.locator else 0
        node = Node(name.split(":")[-1], {k.split(":")[-1]: v for k, v in attrs.items()}, line)
        node.raw = {k: v for k, v in attrs.items() if k != "xmlns" and not k.startswith("xmlns:")}
        if self.stack:
            self.stack[-1].children.append(node)
            self.stack[-1].parts.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:
        self.stack.pop()

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].parts.append(content)


_DECLARED = re.compile(rb"""^<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


def check_encoding(data: bytes, source: str) -> None:
    """A file that declares (or, with no declaration and no UTF-16 mark, defaults to) UTF-8 must
    be UTF-8: name the first byte that is not, instead of expat's 'invalid token'."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return
    declared = _DECLARED.match(data.lstrip(b"\xef\xbb\xbf")[:300])
    name = declared.group(1).decode().lower() if declared else "utf-8"
    if name.replace("-", "").replace("_", "") not in ("utf8", "usascii", "ascii"):
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{source}: line {line}: byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8, "
            f"though the file {'declares' if declared else 'defaults to'} {name.upper()}.",
            hint="export the file again as UTF-8, or declare its real encoding",
        ) from None


def parse_xml(data: bytes, source: str) -> Node:
    check_encoding(data, source)
    builder = _Builder()
    try:
        defusedxml.sax.parseString(data, builder, forbid_dtd=True)
    except xml.sax.SAXParseException as exc:
        raise InvalidInput(
            f"{source}: line {exc.getLineNumber()}, column {exc.getColumnNumber()}: not well-formed "
            f"XML ({exc.getMessage()}).",
            hint="export the file again from the requirements tool",
        ) from exc
    except defusedxml.DefusedXmlException as exc:
        raise InvalidInput(
            f"{source}: refused: the file uses a DTD, entities or external references ({exc}).",
            hint="ReqIF needs none of these; export without them",
        ) from exc
    if builder.root is None or builder.root.tag != "REQ-IF":
        found = builder.root.tag if builder.root else "nothing"
        raise InvalidInput(f"{source}: expected a <REQ-IF> document, found <{found}>.")
    return builder.root


_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "ul", "ol"}
_LISTS = {"ul", "ol", "table", "dl"}  # their items on consecutive lines
_LINE = {"li", "tr", "dt", "dd"}


def _blocks(node: Node, pre: bool = False) -> str:
    """XHTML as text (see :meth:`Node.xhtml`): a list's items one per line ("- item", "1. item"
    in a numbered list), a table's rows one per line with their cells apart by " | "."""
    out: list[str] = []
    number = 0
    for part in node.parts:
        if isinstance(part, str):
            out.append(part if pre else re.sub(r"\s+", " ", part))
        elif part.tag == "br":
            out.append("\n")
        elif part.tag in _BLOCK:
            inner = _blocks(part, pre or part.tag == "pre").strip(" \n")
            inner = re.sub(r"\n{2,}", "\n", inner) if part.tag in _LISTS else inner
            out.append("\n\n" + inner + "\n\n")
        elif part.tag == "tr":
            cells = [_blocks(c, pre).strip(" \n") for c in part.children if c.tag in ("td", "th")]
            out.append("\n" + " | ".join(cells) + "\n")
        elif part.tag in _LINE:
            number += part.tag == "li"
            bullet = (f"{number}. " if node.tag == "ol" else "- ") if part.tag == "li" else ""
            out.append("\n" + bullet + _blocks(part, pre).strip(" \n") + "\n")
        else:
            out.append(_blocks(part, pre))
    text = "".join(out)
    return text if pre else re.sub(r" *\n *", "\n", text)


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[nrt\\\"'])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def unescape(text: str) -> str:
    """StrictDoc writes string values escaped (``\\n``, ``\\xe9``, ``\\u2265``): decoded."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return _SIMPLE[code] if len(code) == 1 else chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


def _content(root: Node, source: str) -> Node:
    node: Node | None = root
    for tag in ("CORE-CONTENT", "REQ-IF-CONTENT"):
        node = node.find(tag) if node else None
    if node is None:
        raise InvalidInput(
            f"{source}: line {root.line}: <REQ-IF> has no CORE-CONTENT/REQ-IF-CONTENT."
        )
    return node


def _tools(root: Node) -> set[str]:
    """The tools the header names (lower case): StrictDoc escapes its string values; Loopline's
    own files carry no tool identity to keep."""
    header = root.find("THE-HEADER")
    return {
        n.content().lower()
        for n in (header.walk() if header else ())
        if n.tag in ("REQ-IF-TOOL-ID", "SOURCE-TOOL-ID")
    }


@dataclass(frozen=True)
class ReqifDocument:
    """What an import reads: the project, its requirements and the document's structure."""

    project: str
    requirements: list[Requirement]
    nodes: list[DocumentNode]
    schema: dict[str, Any] | None = None  # the tool's definitions (``reqif_schema``)


def from_reqif(
    data: bytes, source: str, project: str | None = None
) -> tuple[str, list[Requirement]]:
    """The project and its requirements (:func:`read_reqif` without the structure)."""
    found = read_reqif(data, source, project)
    return found.project, found.requirements


def read_reqif(
    data: bytes, source: str, project: str | None = None, mapping: ReqifMapping = NO_MAPPING
) -> ReqifDocument:
    """The project (``project``, the mapping's, else the file's Loopline.Project), its
    requirements and the document's structure, as named steps: types, objects, where each sits,
    what each is, the links, then the entries."""
    root = parse_xml(data, source)
    content = _content(root, source)
    types = spec_types(content)
    tools = _tools(root)
    objects = spec_objects(content, types, source, escaped=any("strictdoc" in t for t in tools))
    places = placements(content, objects, source)
    kinds = {
        i: _kind(o, _context(places.get(i, ()), objects, mapping), mapping)
        for i, o in objects.items()
    }
    parsed = Parsed(content, types, objects, kinds, mapping, source)
    links = relations(parsed)
    chosen = project or mapping.project or _project_value(content, types.definitions) or ""
    if not chosen:
        raise InvalidInput(
            f"{source}: which project? The file names none (Loopline.Project).",
            hint="pass --project NAME, or project: NAME in the mapping file",
        )
    ids = _ids(objects, kinds, mapping)
    items = [
        _requirement(ident, found, kinds, ids, links, places, chosen, mapping, source)
        for ident, found in objects.items()
        if kinds[ident] in ("system", "ml")
    ]
    own = bool(tools) and all(t.startswith("loopline") for t in tools)
    if own:
        written = _project_value(content, types.definitions) or chosen
        items = [_own(item, objects, written) for item in items]
    nodes = _nodes(content, objects, kinds, ids, chosen, mapping)
    tool = "; ".join(sorted(tools)) or None
    schema = tool_schema(parsed, links, ids, own=own)
    return ReqifDocument(
        chosen, items, [replace(n, tool=tool) for n in nodes], schema.as_json() if schema else None
    )


@dataclass(frozen=True)
class Parsed:
    """One file as read so far: its content, what its SPEC-TYPES define, its objects and what
    each is (section, text, system, ml), the mapping and the file's name for messages."""

    content: Node
    types: SpecTypes
    objects: Mapping[str, SpecObject]
    kinds: Mapping[str, str]
    mapping: ReqifMapping
    source: str


def tool_schema(
    parsed: Parsed, links: Relations, ids: Mapping[str, str], *, own: bool
) -> ToolSchema:
    """The tool's definitions, kept for the way back (``reqif_schema``). In Loopline's own
    export, only what a tool defined: the object and specification types but Loopline's own,
    their attribute definitions but those of Loopline's fields, the datatypes those refer to
    and those no attribute uses but Loopline's own."""
    content, objects, kinds, mapping = parsed.content, parsed.objects, parsed.kinds, parsed.mapping
    holder = content.find("SPEC-TYPES")
    object_types: list[dict[str, Any]] = []
    spec_types: list[dict[str, Any]] = []
    relation_types: list[dict[str, Any]] = []
    for node in holder.children if holder else []:
        ident = node.attrs.get("IDENTIFIER", "")
        if not ident.strip():
            continue  # (nothing could refer to it)
        if node.tag == "SPEC-RELATION-TYPE":
            name = node.attrs.get("LONG-NAME", ident)
            relation_types.append({"attrs": _kept(node), "meaning": mapping.relation(name)})
        if node.tag == "SPEC-OBJECT-TYPE" and not (own and ident in OWN_OBJECT_TYPES):
            object_types.append({"attrs": _kept(node), "attributes": _definitions(node, own)})
        elif node.tag == "SPECIFICATION-TYPE" and not (own and ident in OWN_SPECIFICATION_TYPES):
            spec_types.append({"attrs": _kept(node), "attributes": _definitions(node, own)})
    used = {a["datatype"] for t in (*object_types, *spec_types) for a in t["attributes"]}
    datatypes = [
        _datatype(node)
        for node in _children(content, "DATATYPES")
        if node.tag[len("DATATYPE-DEFINITION-") :] in REQIF_TYPES
        and node.attrs.get("IDENTIFIER", "").strip()
        and (
            not own
            or node.attrs.get("IDENTIFIER") in used
            or not is_own_datatype(node.attrs.get("IDENTIFIER", ""))
        )
    ]
    found = ToolSchema(
        datatypes,
        object_types,
        relation_types if object_types else [],
        specification_types=spec_types,
        specifications=_specifications(content, spec_types, own),
        derivations={
            ids[child]: {ids[parent]: kind for parent, kind in parents.items()}
            for child, parents in links.kinds.items()
        }
        if object_types
        else {},
    )
    if not found:
        return found
    tool_types = {str(t["attrs"].get("IDENTIFIER")) for t in object_types}
    for ident, spec_object in objects.items():
        type_ref = spec_object.node.ref("TYPE") or ""
        if type_ref not in tool_types:
            continue
        if kinds[ident] in ("section", "text"):
            found.nodes[ident] = {
                "type": type_ref,
                "title": spec_object.definition(mapping, "title"),
                "text": spec_object.definition(mapping, "statement"),
            }
        originals = {
            v.definition: {"text": v.text, "xhtml": v.source}
            for v in spec_object.attributes.values()
            if v.kind == "XHTML" and v.source
        }
        if originals:
            found.xhtml[ident] = originals
    return found


def _definitions(node: Node, own: bool) -> list[dict[str, Any]]:
    """A type's attribute definitions in order: kind, XML attributes, the datatype it refers
    to and its DEFAULT-VALUE (when it has one); in Loopline's own export, only a tool's."""
    holder = node.find("SPEC-ATTRIBUTES")
    out: list[dict[str, Any]] = []
    for d in holder.children if holder else []:
        kind = d.tag[len("ATTRIBUTE-DEFINITION-") :]
        ident = d.attrs.get("IDENTIFIER", "")
        if kind not in REQIF_TYPES or not ident.strip() or (own and is_own_definition(ident)):
            continue
        found: dict[str, Any] = {"kind": kind, "attrs": _kept(d), "datatype": d.ref("TYPE") or ""}
        default = d.find("DEFAULT-VALUE")
        value = next(iter(default.children), None) if default is not None else None
        if value is not None and value.tag.startswith("ATTRIBUTE-VALUE-"):
            found["default"] = _raw_value(value)
        out.append(found)
    return out


def _raw_value(value: Node) -> dict[str, Any]:
    """An ATTRIBUTE-VALUE as written (``reqif_schema.value_xml`` writes it back): its kind,
    THE-VALUE, an enumeration's value identifiers or XHTML markup."""
    kind = value.tag[len("ATTRIBUTE-VALUE-") :]
    if kind == "XHTML":
        holder = value.find("THE-VALUE")
        return {"kind": kind, "xhtml": holder.markup() if holder is not None else ""}
    if kind == "ENUMERATION":
        holder = value.find("VALUES")
        return {"kind": kind, "refs": [c.content() for c in holder.children] if holder else []}
    return {"kind": kind, "value": value.attrs.get("THE-VALUE", "")}


def _specifications(
    content: Node, spec_types: list[dict[str, Any]], own: bool
) -> dict[str, dict[str, Any]]:
    """Each SPECIFICATION of a kept specification type, by its name (as ``DocumentNode``
    names it): its XML attributes, type and values by attribute definition (but Loopline's)."""
    kept = {str(t["attrs"].get("IDENTIFIER")) for t in spec_types}
    out: dict[str, dict[str, Any]] = {}
    for spec in _children(content, "SPECIFICATIONS"):
        kind = spec.ref("TYPE") or ""
        if spec.tag != "SPECIFICATION" or kind not in kept:
            continue
        holder = spec.find("VALUES")
        values = {
            str(v.ref("DEFINITION")): _raw_value(v)
            for v in (holder.children if holder else [])
            if v.tag.startswith("ATTRIBUTE-VALUE-")
            and v.ref("DEFINITION")
            and not (own and is_own_definition(str(v.ref("DEFINITION"))))
        }
        name = spec.attrs.get("LONG-NAME") or spec.attrs.get("IDENTIFIER", "")
        out.setdefault(name, {"attrs": _kept(spec), "type": kind, "values": values})
    return out


def _children(content: Node, tag: str) -> list[Node]:
    holder = content.find(tag)
    return holder.children if holder else []


def _kept(node: Node) -> dict[str, str]:
    """An element's XML attributes as the tool wrote them, but LAST-CHANGE (an export
    stamps its own)."""
    return {k: v for k, v in node.attrs.items() if k != "LAST-CHANGE" and k != "xmlns"}


def _datatype(node: Node) -> dict[str, Any]:
    """One DATATYPE-DEFINITION: its kind and attributes, an enumeration's values in order."""
    values = []
    for value in node.walk():
        if value.tag != "ENUM-VALUE" or not value.attrs.get("IDENTIFIER", "").strip():
            continue
        embedded = next((e for e in value.walk() if e.tag == "EMBEDDED-VALUE"), None)
        entry: dict[str, Any] = {"attrs": _kept(value)}
        if embedded is not None:
            entry["key"] = embedded.attrs.get("KEY", "")
            entry["other_content"] = embedded.attrs.get("OTHER-CONTENT", "")
        values.append(entry)
    return {"kind": node.tag[len("DATATYPE-DEFINITION-") :], "attrs": _kept(node), "values": values}


def _own(item: Requirement, objects: Mapping[str, SpecObject], project: str) -> Requirement:
    """A requirement of Loopline's own export: its attributes are its fields, but for those a
    requirements tool gave (carried back under their own definitions), and its IDENTIFIER is
    the tool's when one gave it."""
    ident = str(item.external_id)
    kept = {
        name: {"type": v.kind, "value": v.value}
        for name, v in objects[ident].attributes.items()
        if not is_own_definition(v.definition)  # a tool's (under its identifier, or "_tool-…")
    }
    own_type = objects[ident].type_name in {name for _, name in TYPES.values()}
    return replace(
        item,
        external_id=None if ident == own_identifier(project, item.requirement_id) else ident,
        attributes=kept or None,
        object_type=None if own_type else item.object_type,
    )


@dataclass(frozen=True)
class SpecTypes:
    """What the SPEC-TYPES (and enumerations) define, by IDENTIFIER: attribute definitions' long
    names and ReqIF types, object and relation types' names, enumeration values' names."""

    definitions: dict[str, str]
    objects: dict[str, str]
    relations: dict[str, str]
    enums: dict[str, str]
    kinds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Value:
    """One attribute value: its ReqIF type, the value (int, float, bool, list of enumeration
    names, text) and its text."""

    kind: str
    value: Any
    text: str
    definition: str = ""  # its ATTRIBUTE-DEFINITION's IDENTIFIER
    source: str = ""  # an XHTML value as the tool wrote it


@dataclass(frozen=True)
class SpecObject:
    node: Node
    attributes: dict[str, Value]  # long name -> value, in the file's order
    type_name: str

    def field(self, mapping: ReqifMapping, name: str) -> str:
        """The first non-empty value of the attributes that mean Loopline field ``name``."""
        for attribute, value in self.attributes.items():
            key = attribute.strip().lower()
            if mapping.fields.get(key, NAMES.get(key)) == name and value.text.strip():
                return value.text.strip()
        return ""

    def definition(self, mapping: ReqifMapping, name: str) -> str | None:
        """The attribute definition :meth:`field` reads ``name`` from (None: none)."""
        for attribute, value in self.attributes.items():
            key = attribute.strip().lower()
            if mapping.fields.get(key, NAMES.get(key)) == name and value.text.strip():
                return value.definition
        return None

    def fields(self, mapping: ReqifMapping) -> dict[str, str]:
        out: dict[str, str] = {}
        for attribute, value in self.attributes.items():
            key = attribute.strip().lower()
            name = mapping.fields.get(key, NAMES.get(key))
            if name is not None and name not in out and value.text.strip():
                out[name] = value.text.strip()
        return out


def spec_types(content: Node) -> SpecTypes:
    enums = {
        value.attrs.get("IDENTIFIER", ""): value.attrs.get("LONG-NAME")
        or value.attrs.get("KEY", "")
        for value in content.walk()
        if value.tag == "ENUM-VALUE"
    }
    found = SpecTypes({}, {}, {}, enums)
    holder = content.find("SPEC-TYPES")
    for node in holder.children if holder else []:
        name = node.attrs.get("LONG-NAME", node.attrs.get("IDENTIFIER", ""))
        if node.tag == "SPEC-OBJECT-TYPE":
            found.objects[node.attrs.get("IDENTIFIER", "")] = name
        elif node.tag == "SPEC-RELATION-TYPE":
            found.relations[node.attrs.get("IDENTIFIER", "")] = name
        for definition in node.walk():
            if (
                definition.tag.startswith("ATTRIBUTE-DEFINITION-")
                and "IDENTIFIER" in definition.attrs
            ):
                ident = definition.attrs["IDENTIFIER"]
                found.definitions[ident] = definition.attrs.get("LONG-NAME", ident)
                found.kinds[ident] = definition.tag[len("ATTRIBUTE-DEFINITION-") :]
    return found


def spec_objects(
    content: Node, types: SpecTypes, source: str, *, escaped: bool = False
) -> dict[str, SpecObject]:
    """Each SPEC-OBJECT by IDENTIFIER, with its typed values by attribute name and its type."""
    objects: dict[str, SpecObject] = {}
    holder = content.find("SPEC-OBJECTS")
    for node in holder.all("SPEC-OBJECT") if holder else []:
        ident = node.attrs.get("IDENTIFIER")
        if not ident:
            raise InvalidInput(f"{source}: {node.where()} has no IDENTIFIER.")
        type_ref = node.ref("TYPE")
        if type_ref not in types.objects:
            raise InvalidInput(
                f"{source}: {node.where()}: its TYPE refers to unknown SPEC-OBJECT-TYPE {type_ref!r}."
            )
        values = _values(node, types, source, escaped)
        objects[ident] = SpecObject(node, values, types.objects[type_ref])
    return objects


Place = tuple[str, int, tuple[str, ...]]  # specification, depth, the objects above (nearest last)


def placements(
    content: Node, objects: Mapping[str, SpecObject], source: str
) -> dict[str, tuple[Place, ...]]:
    """Object → where it sits in the SPECIFICATIONs' hierarchies (first place first)."""
    places: dict[str, tuple[Place, ...]] = {}
    for spec, depth, above, here in _hierarchy(content, objects, source):
        places[here] = (*places.get(here, ()), (spec, depth, above))
    return places


def _hierarchy(
    content: Node, objects: Mapping[str, SpecObject], source: str
) -> Iterable[tuple[str, int, tuple[str, ...], str]]:
    """Every SPEC-HIERARCHY in document order: specification name, depth, objects above, object."""
    specs = content.find("SPECIFICATIONS")

    def walk(node: Node, spec: str, depth: int, above: tuple[str, ...]) -> Iterable[Any]:
        below = node.find("CHILDREN")
        for child in below.all("SPEC-HIERARCHY") if below else []:
            here = child.ref("OBJECT")
            if here is None or here not in objects:
                raise InvalidInput(
                    f"{source}: {child.where()}: its OBJECT refers to unknown SPEC-OBJECT {here!r}."
                )
            yield spec, depth, above, here
            yield from walk(child, spec, depth + 1, (*above, here))

    for spec in specs.all("SPECIFICATION") if specs else []:
        name = spec.attrs.get("LONG-NAME") or spec.attrs.get("IDENTIFIER", "")
        yield from walk(spec, name, 0, ())


def _context(
    places: tuple[Place, ...], objects: Mapping[str, SpecObject], mapping: ReqifMapping
) -> list[str]:
    """The titles that may name an object's level, nearest first: the headings above its first
    place, then that specification's name."""
    if not places:
        return []
    spec, _, above = places[0]
    titles = [
        objects[a].field(mapping, "title") or objects[a].node.attrs.get("LONG-NAME", "")
        for a in reversed(above)
        if mapping.object_kind(objects[a].type_name) == "section"
        or _is_heading(objects[a], mapping)
    ]
    return [*titles, spec]


def _kind(found: SpecObject, context: list[str], mapping: ReqifMapping) -> str:
    """section | text | system | ml for one object (see the module's docstring)."""
    named = mapping.object_kind(found.type_name)
    if named is not None:
        return named
    own = next((level for level, (_, name) in TYPES.items() if name == found.type_name), None)
    if own is not None:  # Loopline's own export says it
        return own
    for name in (mapping.level_attribute, "Level", "Requirement Level", "Loopline.Level"):
        value = _attribute(found, name) if name else None
        level = mapping.level_of(value.text) if value is not None and value.text.strip() else None
        if level is not None:
            return level
    if found.field(mapping, "metric"):
        return "ml"
    if _is_heading(found, mapping):
        return "section"
    if re.search(r"\bML\b", found.type_name):
        return "ml"
    levels = (mapping.level_of(title) for title in context if title)
    return next((level for level in levels if level is not None), "system")


def _attribute(found: SpecObject, name: str) -> Value | None:
    wanted = name.strip().lower()
    return next((v for n, v in found.attributes.items() if n.strip().lower() == wanted), None)


def _is_heading(found: SpecObject, mapping: ReqifMapping) -> bool:
    """A DOORS-style heading: a chapter name and no text."""
    names = {n.strip().lower() for n, v in found.attributes.items() if v.text.strip()}
    heading = names & {"reqif.chaptername", "object heading", "heading"}
    return bool(heading) and not found.field(mapping, "statement")


@dataclass(frozen=True)
class Relations:
    """What the SPEC-RELATIONs between requirements say: object → the objects it is derived from
    (by the relation types that mean derivation) and the relation type each link came as
    (``kinds``: object → object derived from → the type's IDENTIFIER), and object → (relation
    type name, target object) of the others ("see also", "verifies", "conflicts with"), but
    types the mapping says to ignore."""

    derived: dict[str, list[str]]
    others: dict[str, list[tuple[str, str]]]
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)


def relations(parsed: Parsed) -> Relations:
    """Every SPEC-RELATION read once: both ends checked, then a derivation or another relation
    (both ends requirements)."""
    found = Relations({}, {})
    kinds, mapping = parsed.kinds, parsed.mapping
    holder = parsed.content.find("SPEC-RELATIONS")
    for node in holder.all("SPEC-RELATION") if holder else []:
        kind = node.ref("TYPE") or ""
        name = parsed.types.relations.get(kind, "")
        meaning = mapping.relation(name)
        src, dst = node.ref("SOURCE"), node.ref("TARGET")
        for end, ref in (("SOURCE", src), ("TARGET", dst)):
            if ref not in parsed.objects:
                raise InvalidInput(
                    f"{parsed.source}: {node.where()}: its {end} refers to unknown SPEC-OBJECT "
                    f"{ref!r}."
                )
        src, dst = str(src), str(dst)
        if not {kinds[src], kinds[dst]} <= {"system", "ml"}:
            continue
        if meaning != "ignore":
            child, parent = (src, dst) if meaning == "derived_from" else (dst, src)
            parents = found.derived.setdefault(child, [])
            if parent not in parents:
                parents.append(parent)
                found.kinds.setdefault(child, {})[parent] = kind
        elif not mapping.ignores(name) and (name, dst) not in found.others.get(src, []):
            found.others.setdefault(src, []).append((name, dst))
    return found


def _ids(
    objects: Mapping[str, SpecObject], kinds: Mapping[str, str], mapping: ReqifMapping
) -> dict[str, str]:
    """Each object's requirement id: its id attribute, else its LONG-NAME, else its IDENTIFIER,
    made a valid id (letters, digits, '.', '_', '-')."""
    out: dict[str, str] = {}
    for ident, found in objects.items():
        raw = found.field(mapping, "id") or found.node.attrs.get("LONG-NAME") or ident
        if not ID_PATTERN.match(raw):
            raw = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-._")[:64] or ident
        out[ident] = raw
    return out


def _requirement(
    ident: str,
    found: SpecObject,
    kinds: Mapping[str, str],
    ids: Mapping[str, str],
    links: Relations,
    places: Mapping[str, tuple[Place, ...]],
    project: str,
    mapping: ReqifMapping,
    source: str,
) -> Requirement:
    """One requirement: its fields, its links (from its relations, else the requirement it sits
    under: an ML requirement's, and a system requirement's parents, every one kept), its other
    relations, its object type and every attribute."""
    level = kinds[ident]
    values = found.fields(mapping)
    entry: dict[str, Any] = {k: v for k, v in values.items() if level == "ml" or k in SYSTEM_FIELDS}
    entry["id"] = ids[ident]
    if not entry.get("title"):
        text = entry.get("statement", "") or ids[ident]
        entry["title"] = text.splitlines()[0][:80]
    above = [
        a for a in (places[ident][0][2] if ident in places else ()) if kinds[a] in ("system", "ml")
    ]
    if level == "system":
        parents = [t for t in links.derived.get(ident, []) if kinds[t] == "system"]
        nearest = [a for a in above if kinds[a] == "system"][-1:]
        entry["derived_from"] = [ids[t] for t in parents or nearest]
    else:
        entry["derived_from"] = [ids[t] for t in links.derived.get(ident, []) or above[-1:]]
    item = parse_entry(entry, project, level, f"{source}: {found.node.where()}")
    attributes = {name: {"type": v.kind, "value": v.value} for name, v in found.attributes.items()}
    return replace(
        item,
        external_id=ident,
        attributes=attributes,
        object_type=found.type_name or None,
        relations=tuple({"type": t, "target": ids[d]} for t, d in links.others.get(ident, [])),
    )


def _nodes(
    content: Node,
    objects: Mapping[str, SpecObject],
    kinds: Mapping[str, str],
    ids: Mapping[str, str],
    project: str,
    mapping: ReqifMapping,
) -> list[DocumentNode]:
    """The document in order: sections, text nodes and the places of requirements."""
    out: list[DocumentNode] = []
    for spec, depth, _, here in _hierarchy(content, objects, ""):
        found, kind = objects[here], kinds[here]
        title = found.field(mapping, "title") or found.node.attrs.get("LONG-NAME", "")
        text = found.field(mapping, "statement")
        out.append(
            DocumentNode(
                project,
                0,
                len(out),
                depth,
                kind if kind in ("section", "text") else "requirement",
                here,
                title,
                text,
                ids[here] if kind in ("system", "ml") else None,
                spec,
            )
        )
    return out


def _values(node: Node, types: SpecTypes, source: str, escaped: bool) -> dict[str, Value]:
    out: dict[str, Value] = {}
    holder = node.find("VALUES")
    for value in holder.children if holder else []:
        if not value.tag.startswith("ATTRIBUTE-VALUE-"):
            continue
        ref = value.ref("DEFINITION")
        if ref is None or ref not in types.definitions:
            raise InvalidInput(
                f"{source}: {node.where()}: line {value.line}: <{value.tag}> refers to unknown "
                f"attribute definition {ref!r}."
            )
        kind = value.tag[len("ATTRIBUTE-VALUE-") :]
        read = _value(value, kind, types.enums, source, escaped)
        out[types.definitions[ref]] = replace(read, definition=ref)
    return out


def _value(value: Node, kind: str, enums: Mapping[str, str], source: str, escaped: bool) -> Value:
    """One typed value, checked against its type."""
    if kind == "XHTML":
        holder = value.find("THE-VALUE")
        text = holder.xhtml() if holder is not None else ""
        return Value(kind, text, text, source=holder.markup() if holder is not None else "")
    if kind == "ENUMERATION":
        holder = value.find("VALUES")
        names = [enums.get(c.content(), c.content()) for c in holder.children] if holder else []
        return Value(kind, names, "; ".join(names))
    if "THE-VALUE" not in value.attrs:
        raise InvalidInput(f"{source}: line {value.line}: <{value.tag}> has no THE-VALUE.")
    raw = value.attrs["THE-VALUE"]
    try:
        typed = _typed(kind, raw)
    except ValueError:
        raise InvalidInput(
            f"{source}: line {value.line}: <{value.tag}> THE-VALUE={raw!r} is not a valid "
            f"{kind.lower()}.",
            hint="export the file again from the requirements tool",
        ) from None
    if kind == "STRING" and escaped:
        typed = raw = unescape(raw)
    text = ("true" if typed else "false") if kind == "BOOLEAN" else raw
    return Value(kind, typed, text)


def _typed(kind: str, raw: str) -> Any:
    text = raw.strip()
    if kind == "INTEGER":
        return int(text)
    if kind == "REAL":
        number = float(text)
        if math.isnan(number) or math.isinf(number):
            raise ValueError(text)
        return number
    if kind == "BOOLEAN":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    if kind == "DATE":
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return text
    return raw


def _project_value(content: Node, definitions: Mapping[str, str]) -> str | None:
    specs = content.find("SPECIFICATIONS")
    for spec in specs.all("SPECIFICATION") if specs else []:
        holder = spec.find("VALUES")
        for value in holder.children if holder else []:
            if definitions.get(value.ref("DEFINITION") or "", "").lower() == "loopline.project":
                return value.attrs.get("THE-VALUE")
    return None
