"""Reading ReqIF 1.2 (see ``reqif.py`` for the layout Loopline writes).

Reads Loopline's own files and the common shapes other tools write: attributes named
``ReqIF.ForeignID`` / ``ReqIF.Name`` / ``ReqIF.Text`` (or ID / Title / Text …), string, XHTML,
real, integer and enumeration values, "derived" relations and the hierarchy for parents. The XML
is parsed with defusedxml (no DTDs, entities or external references); every problem names the
line and the element.
"""

from __future__ import annotations

import re
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import defusedxml
import defusedxml.sax

from core.errors import InvalidInput
from core.requirements.models import Requirement
from core.requirements.parse import parse_entry
from core.requirements.reqif import FIELDS, NAMES, SYSTEM_FIELDS


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)  # text and children in document order

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

    def _text(self) -> str:
        return "".join(p if isinstance(p, str) else p._text() for p in self.parts)

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


def parse_xml(data: bytes, source: str) -> Node:
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


def _content(root: Node, source: str) -> Node:
    for path in (("CORE-CONTENT", "REQ-IF-CONTENT"),):
        node: Node | None = root
        for tag in path:
            node = node.find(tag) if node else None
        if node is not None:
            return node
    raise InvalidInput(f"{source}: line {root.line}: <REQ-IF> has no CORE-CONTENT/REQ-IF-CONTENT.")


def from_reqif(
    data: bytes, source: str, project: str | None = None
) -> tuple[str, list[Requirement]]:
    """The project (``project``, else the file's Loopline.Project) and its requirements: each
    SPEC-OBJECT one requirement, "derived" relations and the hierarchy linking them."""
    content = _content(parse_xml(data, source), source)
    types = spec_types(content)
    objects = spec_objects(content, types, source)
    derived = derivations(content, types, objects, source)
    placed_under = placements(content, objects, source)
    chosen = project or _project_value(content, types.definitions) or ""
    if not chosen:
        raise InvalidInput(
            f"{source}: which project? The file names none (Loopline.Project).",
            hint="pass --project NAME",
        )
    ids = {
        ident: found.values.get("id") or found.node.attrs.get("LONG-NAME") or ident
        for ident, found in objects.items()
    }
    items: list[Requirement] = []
    for ident, found in objects.items():
        level, entry = _entry(ident, found, objects, ids, derived, placed_under)
        items.append(parse_entry(entry, chosen, level, f"{source}: {found.node.where()}"))
    return chosen, items


@dataclass(frozen=True)
class SpecTypes:
    """What the SPEC-TYPES (and enumerations) define, by IDENTIFIER: attribute definitions' long
    names, object and relation types' names, enumeration values' names."""

    definitions: dict[str, str]
    objects: dict[str, str]
    relations: dict[str, str]
    enums: dict[str, str]


@dataclass(frozen=True)
class SpecObject:
    node: Node
    values: dict[str, str]  # field -> text
    type_name: str


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
                found.definitions[ident] = definition.attrs.get("LONG-NAME", "")
    return found


def spec_objects(content: Node, types: SpecTypes, source: str) -> dict[str, SpecObject]:
    """Each SPEC-OBJECT by IDENTIFIER, with its values by field and its type's name."""
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
        values = _values(node, types.definitions, types.enums, source)
        objects[ident] = SpecObject(node, values, types.objects[type_ref])
    return objects


def derivations(
    content: Node, types: SpecTypes, objects: Mapping[str, SpecObject], source: str
) -> dict[str, list[str]]:
    """Source object → the objects it is derived from: relations whose type speaks of deriving,
    satisfying or refining (or has no name)."""
    derived: dict[str, list[str]] = {}
    holder = content.find("SPEC-RELATIONS")
    for node in holder.all("SPEC-RELATION") if holder else []:
        kind = types.relations.get(node.ref("TYPE") or "", "")
        src, dst = node.ref("SOURCE"), node.ref("TARGET")
        for end, ref in (("SOURCE", src), ("TARGET", dst)):
            if ref not in objects:
                raise InvalidInput(
                    f"{source}: {node.where()}: its {end} refers to unknown SPEC-OBJECT {ref!r}."
                )
        if (
            "deriv" in kind.lower()
            or "satisf" in kind.lower()
            or "refine" in kind.lower()
            or not kind
        ):
            derived.setdefault(str(src), []).append(str(dst))
    return derived


def placements(content: Node, objects: Mapping[str, SpecObject], source: str) -> dict[str, str]:
    """Object → the object it sits under in a SPEC-HIERARCHY."""
    placed_under: dict[str, str] = {}
    for spec in content.walk():
        if spec.tag == "SPEC-HIERARCHY":
            below = spec.find("CHILDREN")
            here = spec.ref("OBJECT")
            if here is None or here not in objects:
                raise InvalidInput(
                    f"{source}: {spec.where()}: its OBJECT refers to unknown SPEC-OBJECT {here!r}."
                )
            for child in below.all("SPEC-HIERARCHY") if below else []:
                ref = child.ref("OBJECT")
                if ref is not None:
                    placed_under[ref] = here
    return placed_under


def _entry(
    ident: str,
    found: SpecObject,
    objects: Mapping[str, SpecObject],
    ids: Mapping[str, str],
    derived: Mapping[str, list[str]],
    placed_under: Mapping[str, str],
) -> tuple[str, dict[str, Any]]:
    """The object's level and the entry :func:`parse_entry` reads: an ML requirement (it has a
    metric, or its type says ML) is derived from its relations' targets, else from the object it
    sits under; a system requirement's parent is the system requirement it sits under."""
    values = found.values
    level = "ml" if values.get("metric") or re.search(r"\bML\b", found.type_name) else "system"
    entry: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS}
    entry["id"] = ids[ident]
    if not entry.get("title"):
        text = entry.get("statement", "") or ids[ident]
        entry["title"] = text.splitlines()[0][:80]
    if level == "system":
        entry = {k: v for k, v in entry.items() if k in SYSTEM_FIELDS}
        above = placed_under.get(ident)
        if above is not None and above in objects and not objects[above].values.get("metric"):
            entry["parent"] = ids[above]
    else:
        links = derived.get(ident) or ([placed_under[ident]] if ident in placed_under else [])
        entry["derived_from"] = [ids[t] for t in links]
    return level, entry


def _values(
    node: Node, definitions: Mapping[str, str], enums: Mapping[str, str], source: str
) -> dict[str, str]:
    out: dict[str, str] = {}
    holder = node.find("VALUES")
    for value in holder.children if holder else []:
        if not value.tag.startswith("ATTRIBUTE-VALUE-"):
            continue
        ref = value.ref("DEFINITION")
        if ref is None or ref not in definitions:
            raise InvalidInput(
                f"{source}: {node.where()}: line {value.line}: <{value.tag}> refers to unknown "
                f"attribute definition {ref!r}."
            )
        kind = value.tag[len("ATTRIBUTE-VALUE-") :]
        if kind == "XHTML":
            holder_text = value.find("THE-VALUE")
            text = holder_text.content() if holder_text is not None else ""
        elif kind == "ENUMERATION":
            holder_values = value.find("VALUES")
            refs = [c.content() for c in holder_values.children] if holder_values else []
            text = "; ".join(enums.get(r, r) for r in refs)
        else:
            if "THE-VALUE" not in value.attrs:
                raise InvalidInput(f"{source}: line {value.line}: <{value.tag}> has no THE-VALUE.")
            text = value.attrs["THE-VALUE"]
        key = NAMES.get(definitions[ref].strip().lower())
        if key is not None:
            out[key] = text.strip()
    return out


def _project_value(content: Node, definitions: Mapping[str, str]) -> str | None:
    specs = content.find("SPECIFICATIONS")
    for spec in specs.all("SPECIFICATION") if specs else []:
        holder = spec.find("VALUES")
        for value in holder.children if holder else []:
            if definitions.get(value.ref("DEFINITION") or "", "").lower() == "loopline.project":
                return value.attrs.get("THE-VALUE")
    return None
