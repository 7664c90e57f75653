"""ReqIF 1.2 (OMG), the interchange format of DOORS, Polarion and Jama.

Export: one SPEC-OBJECT-TYPE for system and one for ML requirements with their attribute
definitions, a SPEC-OBJECT per requirement, a SPEC-RELATION "derived from" per link (ML → system),
and a SPECIFICATION whose SPEC-HIERARCHY is the tree (ML requirements under the first system
requirement they are derived from).

Import reads Loopline's own files and the common shapes other tools write: attributes named
``ReqIF.ForeignID`` / ``ReqIF.Name`` / ``ReqIF.Text`` (or ID / Title / Text …), string, XHTML,
real, integer and enumeration values, "derived" relations and the hierarchy for parents. The XML
is parsed with defusedxml (no DTDs, entities or external references); every problem names the line.
"""

from __future__ import annotations

import json
import re
import xml.sax
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import defusedxml
import defusedxml.sax

from core.errors import InvalidInput
from core.requirements.interchange import derivation_inputs
from core.requirements.models import Requirement
from core.requirements.parse import parse_entry
from core.store import utcnow

NAMESPACE = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
XHTML = "http://www.w3.org/1999/xhtml"
# field -> (attribute long name written, kind, other names accepted on import)
FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "id": ("ReqIF.ForeignID", "STRING", ("id", "identifier", "object identifier", "loopline.id")),
    "title": ("ReqIF.Name", "STRING", ("title", "name", "reqif.chaptername", "heading")),
    "statement": ("ReqIF.Text", "STRING", ("text", "statement", "description", "object text")),
    "category": ("ReqIF.Category", "STRING", ("category", "type", "kind")),
    "owner": ("Owner", "STRING", ("responsible", "assignee", "author")),
    "priority": ("Priority", "STRING", ("importance",)),
    "metric": ("Loopline.Metric", "STRING", ("metric",)),
    "slices": ("Loopline.Slices", "STRING", ("slices", "slice", "scope")),
    "relative_to": ("Loopline.RelativeTo", "STRING", ("relative to",)),
    "tolerance": ("Loopline.Tolerance", "REAL", ("tolerance",)),
    "comparator": ("Loopline.Comparator", "STRING", ("comparator",)),
    "threshold": ("Loopline.Threshold", "REAL", ("threshold", "target")),
    "model": ("Loopline.Model", "STRING", ()),
    "evidence": ("Loopline.Evidence", "STRING", ("evidence",)),
    "window_days": ("Loopline.WindowDays", "INTEGER", ("window days",)),
    "if_slice_absent": ("Loopline.IfSliceAbsent", "STRING", ()),
    "derivation": ("Loopline.Derivation", "STRING", ()),
}
SYSTEM_FIELDS = ("id", "title", "statement", "category", "owner", "priority")
TYPES = {
    "system": ("ST-system", "Loopline system requirement"),
    "ml": ("ST-ml", "Loopline ML requirement"),
}
_NAMES = {
    alias: key
    for key, (written, _, aliases) in FIELDS.items()
    for alias in (written.lower(), *aliases)
}


def _ident(*parts: str) -> str:
    """An xsd:ID: starts with a letter or '_', then letters, digits, '.', '-', '_'."""
    return "_" + re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


def _value(key: str, item: Requirement) -> Any:
    if key == "id":
        return item.requirement_id
    if key == "slices":
        return "; ".join(item.slices) or None
    if key == "evidence":
        return "; ".join(item.evidence) or None
    if key == "if_slice_absent":
        return item.absent_slice
    if key == "derivation":
        return (
            json.dumps(derivation_inputs(item.derivation), sort_keys=True)
            if item.derivation
            else None
        )
    return getattr(item, key)


STATUS_FIELDS = ("Loopline.Status", "Loopline.Value", "Loopline.Evidence")


def to_reqif(
    project: str, items: Iterable[Requirement], statuses: Mapping[str, Any] | None = None
) -> str:
    """The set as ReqIF; with ``statuses`` (requirement id → Status), each object also carries its
    status, value against threshold and evidence (read back by nothing: a report for the tool)."""
    chosen = list(items)
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
    stamp = f'LAST-CHANGE="{now}"'
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<REQ-IF xmlns="{NAMESPACE}" xmlns:xhtml="{XHTML}">',
        "  <THE-HEADER>",
        f'    <REQ-IF-HEADER IDENTIFIER="{_ident("header", project)}">',
        f"      <CREATION-TIME>{now}</CREATION-TIME>",
        "      <REQ-IF-TOOL-ID>Loopline</REQ-IF-TOOL-ID>",
        "      <REQ-IF-VERSION>1.0</REQ-IF-VERSION>",
        "      <SOURCE-TOOL-ID>Loopline</SOURCE-TOOL-ID>",
        f"      <TITLE>{escape(project)} requirements</TITLE>",
        "    </REQ-IF-HEADER>",
        "  </THE-HEADER>",
        "  <CORE-CONTENT>",
        "    <REQ-IF-CONTENT>",
        "      <DATATYPES>",
        f'        <DATATYPE-DEFINITION-STRING IDENTIFIER="DT-STRING" LONG-NAME="Text" MAX-LENGTH="100000" {stamp}/>',
        f'        <DATATYPE-DEFINITION-REAL IDENTIFIER="DT-REAL" LONG-NAME="Real" ACCURACY="12" MIN="-1e300" MAX="1e300" {stamp}/>',
        f'        <DATATYPE-DEFINITION-INTEGER IDENTIFIER="DT-INTEGER" LONG-NAME="Integer" MIN="0" MAX="100000" {stamp}/>',
        "      </DATATYPES>",
        "      <SPEC-TYPES>",
    ]
    for level, (type_id, long_name) in TYPES.items():
        out.append(
            f'        <SPEC-OBJECT-TYPE IDENTIFIER="{type_id}" LONG-NAME="{long_name}" {stamp}>'
        )
        out.append("          <SPEC-ATTRIBUTES>")
        for key in SYSTEM_FIELDS if level == "system" else FIELDS:
            name, kind, _ = FIELDS[key]
            out += [
                f'            <ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{_ident(level, key)}" LONG-NAME="{name}" {stamp}>',
                f"              <TYPE><DATATYPE-DEFINITION-{kind}-REF>DT-{kind}</DATATYPE-DEFINITION-{kind}-REF></TYPE>",
                f"            </ATTRIBUTE-DEFINITION-{kind}>",
            ]
        for name in STATUS_FIELDS if statuses is not None else ():
            out += [
                f'            <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="{_ident(level, name)}" LONG-NAME="{name}" {stamp}>',
                "              <TYPE><DATATYPE-DEFINITION-STRING-REF>DT-STRING</DATATYPE-DEFINITION-STRING-REF></TYPE>",
                "            </ATTRIBUTE-DEFINITION-STRING>",
            ]
        out += ["          </SPEC-ATTRIBUTES>", "        </SPEC-OBJECT-TYPE>"]
    out += [
        f'        <SPEC-RELATION-TYPE IDENTIFIER="RT-derived" LONG-NAME="derived from" {stamp}/>',
        f'        <SPECIFICATION-TYPE IDENTIFIER="SPT-set" LONG-NAME="Loopline requirement set" {stamp}>',
        "          <SPEC-ATTRIBUTES>",
        f'            <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="A-project" LONG-NAME="Loopline.Project" {stamp}>',
        "              <TYPE><DATATYPE-DEFINITION-STRING-REF>DT-STRING</DATATYPE-DEFINITION-STRING-REF></TYPE>",
        "            </ATTRIBUTE-DEFINITION-STRING>",
        "          </SPEC-ATTRIBUTES>",
        "        </SPECIFICATION-TYPE>",
        "      </SPEC-TYPES>",
        "      <SPEC-OBJECTS>",
    ]
    for item in chosen:
        out.append(
            f'        <SPEC-OBJECT IDENTIFIER="{_ident(project, item.requirement_id)}" {stamp}>'
        )
        out.append("          <VALUES>")
        for key in SYSTEM_FIELDS if item.level == "system" else FIELDS:
            value = _value(key, item)
            if value is None or value == "":
                continue
            kind = FIELDS[key][1]
            shown = f"{value:.12g}" if kind == "REAL" else str(value)
            out.append(
                f"            <ATTRIBUTE-VALUE-{kind} THE-VALUE={quoteattr(shown)}><DEFINITION>"
                f"<ATTRIBUTE-DEFINITION-{kind}-REF>{_ident(item.level, key)}</ATTRIBUTE-DEFINITION-{kind}-REF>"
                f"</DEFINITION></ATTRIBUTE-VALUE-{kind}>"
            )
        found = statuses.get(item.requirement_id) if statuses is not None else None
        if found is not None:
            facts = (found.status, found.value_text, found.evidence_ref or "")
            for name, value in zip(STATUS_FIELDS, facts, strict=True):
                out.append(
                    f"            <ATTRIBUTE-VALUE-STRING THE-VALUE={quoteattr(value)}><DEFINITION>"
                    f"<ATTRIBUTE-DEFINITION-STRING-REF>{_ident(item.level, name)}</ATTRIBUTE-DEFINITION-STRING-REF>"
                    "</DEFINITION></ATTRIBUTE-VALUE-STRING>"
                )
        out += [
            "          </VALUES>",
            f"          <TYPE><SPEC-OBJECT-TYPE-REF>{TYPES[item.level][0]}</SPEC-OBJECT-TYPE-REF></TYPE>",
            "        </SPEC-OBJECT>",
        ]
    out += ["      </SPEC-OBJECTS>", "      <SPEC-RELATIONS>"]
    for item in chosen:
        for target in item.derived_from:
            out += [
                f'        <SPEC-RELATION IDENTIFIER="{_ident("rel", project, item.requirement_id, target)}" {stamp}>',
                "          <TYPE><SPEC-RELATION-TYPE-REF>RT-derived</SPEC-RELATION-TYPE-REF></TYPE>",
                f"          <SOURCE><SPEC-OBJECT-REF>{_ident(project, item.requirement_id)}</SPEC-OBJECT-REF></SOURCE>",
                f"          <TARGET><SPEC-OBJECT-REF>{_ident(project, target)}</SPEC-OBJECT-REF></TARGET>",
                "        </SPEC-RELATION>",
            ]
    out += [
        "      </SPEC-RELATIONS>",
        "      <SPECIFICATIONS>",
        f'        <SPECIFICATION IDENTIFIER="{_ident("spec", project)}" LONG-NAME={quoteattr(project + " requirements")} {stamp}>',
        "          <VALUES>",
        f"            <ATTRIBUTE-VALUE-STRING THE-VALUE={quoteattr(project)}><DEFINITION>"
        "<ATTRIBUTE-DEFINITION-STRING-REF>A-project</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION>"
        "</ATTRIBUTE-VALUE-STRING>",
        "          </VALUES>",
        "          <TYPE><SPECIFICATION-TYPE-REF>SPT-set</SPECIFICATION-TYPE-REF></TYPE>",
        "          <CHILDREN>",
    ]
    out += _hierarchy(project, chosen, stamp)
    out += [
        "          </CHILDREN>",
        "        </SPECIFICATION>",
        "      </SPECIFICATIONS>",
        "    </REQ-IF-CONTENT>",
        "  </CORE-CONTENT>",
        "</REQ-IF>",
        "",
    ]
    return "\n".join(out)


def _hierarchy(project: str, items: Sequence[Requirement], stamp: str) -> list[str]:
    systems = [r for r in items if r.level == "system"]
    known = {r.requirement_id for r in systems}
    children: dict[str | None, list[Requirement]] = {}
    for item in systems:
        children.setdefault(item.parent if item.parent in known else None, []).append(item)
    for item in items:
        if item.level == "ml":
            home = next((d for d in item.derived_from if d in known), None)
            children.setdefault(home, []).append(item)
    lines: list[str] = []

    def node(item: Requirement, depth: int) -> None:
        pad = "  " * depth
        lines.append(
            f'{pad}<SPEC-HIERARCHY IDENTIFIER="{_ident("h", project, item.requirement_id)}" {stamp}>'
        )
        lines.append(
            f"{pad}  <OBJECT><SPEC-OBJECT-REF>{_ident(project, item.requirement_id)}</SPEC-OBJECT-REF></OBJECT>"
        )
        below = children.get(item.requirement_id, []) if item.level == "system" else []
        if below:
            lines.append(f"{pad}  <CHILDREN>")
            for child in below:
                node(child, depth + 2)
            lines.append(f"{pad}  </CHILDREN>")
        lines.append(f"{pad}</SPEC-HIERARCHY>")

    for top in children.get(None, []):
        node(top, 6)
    return lines


# -- import --------------------------------------------------------------------------------------
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
    root = parse_xml(data, source)
    content = _content(root, source)
    enums = {
        value.attrs.get("IDENTIFIER", ""): value.attrs.get("LONG-NAME")
        or value.attrs.get("KEY", "")
        for value in content.walk()
        if value.tag == "ENUM-VALUE"
    }
    definitions: dict[str, str] = {}
    types: dict[str, str] = {}
    relation_types: dict[str, str] = {}
    spec_types = content.find("SPEC-TYPES")
    for node in spec_types.children if spec_types else []:
        name = node.attrs.get("LONG-NAME", node.attrs.get("IDENTIFIER", ""))
        if node.tag == "SPEC-OBJECT-TYPE":
            types[node.attrs.get("IDENTIFIER", "")] = name
        elif node.tag == "SPEC-RELATION-TYPE":
            relation_types[node.attrs.get("IDENTIFIER", "")] = name
        for definition in node.walk():
            if (
                definition.tag.startswith("ATTRIBUTE-DEFINITION-")
                and "IDENTIFIER" in definition.attrs
            ):
                definitions[definition.attrs["IDENTIFIER"]] = definition.attrs.get("LONG-NAME", "")
    objects: dict[str, tuple[Node, dict[str, str], str]] = {}
    holder = content.find("SPEC-OBJECTS")
    for node in holder.all("SPEC-OBJECT") if holder else []:
        ident = node.attrs.get("IDENTIFIER")
        if not ident:
            raise InvalidInput(f"{source}: {node.where()} has no IDENTIFIER.")
        type_ref = node.ref("TYPE")
        if type_ref not in types:
            raise InvalidInput(
                f"{source}: {node.where()}: its TYPE refers to unknown SPEC-OBJECT-TYPE {type_ref!r}."
            )
        objects[ident] = (node, _values(node, definitions, enums, source), types[type_ref])
    derived: dict[str, list[str]] = {}
    holder = content.find("SPEC-RELATIONS")
    for node in holder.all("SPEC-RELATION") if holder else []:
        kind = relation_types.get(node.ref("TYPE") or "", "")
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
    chosen = project or _project_value(content, definitions) or ""
    if not chosen:
        raise InvalidInput(
            f"{source}: which project? The file names none (Loopline.Project).",
            hint="pass --project NAME",
        )
    ids = {
        ident: values.get("id") or objects[ident][0].attrs.get("LONG-NAME") or ident
        for ident, (_, values, _) in objects.items()
    }
    items: list[Requirement] = []
    for ident, (node, values, type_name) in objects.items():
        level = "ml" if values.get("metric") or re.search(r"\bML\b", type_name) else "system"
        entry: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS}
        entry["id"] = ids[ident]
        if not entry.get("title"):
            text = entry.get("statement", "") or ids[ident]
            entry["title"] = text.splitlines()[0][:80]
        if level == "system":
            entry = {k: v for k, v in entry.items() if k in SYSTEM_FIELDS}
            above = placed_under.get(ident)
            if above is not None and above in objects and not objects[above][1].get("metric"):
                entry["parent"] = ids[above]
        else:
            links = derived.get(ident) or ([placed_under[ident]] if ident in placed_under else [])
            entry["derived_from"] = [ids[t] for t in links]
        items.append(parse_entry(entry, chosen, level, f"{source}: {node.where()}"))
    return chosen, items


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
        key = _NAMES.get(definitions[ref].strip().lower())
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
