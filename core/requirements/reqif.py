"""ReqIF 1.2 (OMG), the interchange format of DOORS, Polarion and Jama.

Export: one SPEC-OBJECT-TYPE for system and one for ML requirements with their attribute
definitions, a SPEC-OBJECT per requirement and a SPEC-RELATION "derived from" per link (an ML
requirement to each system requirement it is derived from, a system requirement to each of its
parents). What a requirements tool's import brought goes back with it: every attribute under its
own name and ReqIF type (an enumeration with its values; an attribute that holds a Loopline field
carries the field's current value once it was changed in Loopline), each object under the tool's
identifier, and the document: its specifications, sections and text nodes, each requirement in
its place (requirements added since at the end). A set no tool brought has one SPECIFICATION whose
hierarchy is the tree (ML requirements under the first system requirement they are derived from).

Reading is in ``reqif_read.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from core.requirements.models import (
    DESCRIPTION_FIELDS,
    REQIF_TYPES,
    DocumentNode,
    Requirement,
    system_tree,
)
from core.requirements.parse import default_category
from core.requirements.reqif_schema import (
    OWN_OBJECT_TYPES,
    OWN_RELATION_TYPE,
    ToolSchema,
    attributes_xml,
    value_xml,
)
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
    "tolerance": ("Loopline.Tolerance", "STRING", ("tolerance",)),
    "comparator": ("Loopline.Comparator", "STRING", ("comparator",)),
    "threshold": ("Loopline.Threshold", "STRING", ("threshold",)),
    "model": ("Loopline.Model", "STRING", ()),
    "evidence": ("Loopline.Evidence", "STRING", ("evidence",)),
    "window_days": ("Loopline.WindowDays", "INTEGER", ("window days",)),
    "if_slice_absent": ("Loopline.IfSliceAbsent", "STRING", ()),
    "min_n": ("Loopline.MinN", "INTEGER", ("minimum sample", "min n")),
    "fail_when_inconclusive": ("Loopline.FailWhenInconclusive", "STRING", ()),
    "derivation": ("Loopline.Derivation", "STRING", ()),
}
SYSTEM_FIELDS = ("id", *DESCRIPTION_FIELDS)  # parents are relations (and the tree)
TYPES = {
    "system": ("ST-system", "Loopline system requirement"),
    "ml": ("ST-ml", "Loopline ML requirement"),
}
STRUCTURE = {  # the document's own objects, named as StrictDoc names them
    "section": ("ST-section", "SECTION"),
    "text": ("ST-text", "TEXT"),
}
NAMES = {  # every accepted attribute name (lower case) → field
    alias: key
    for key, (written, _, aliases) in FIELDS.items()
    for alias in (written.lower(), *aliases)
}
TOOL_DEFINITION = "_tool-"  # the IDENTIFIER prefix of a tool's attribute (read back as one)
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# what a tool's attribute holds, by its name with case and punctuation dropped ("OWNER",
# "WINDOW_DAYS", "Loopline.Metric"): the field it fills on import and carries back
MEANINGS: dict[str, str] = {}
for _key, (_written, _, _aliases) in FIELDS.items():
    for _alias in (_written, _written.split(".", 1)[-1], _key, *_aliases):
        MEANINGS.setdefault(_norm(_alias), _key)


def _ident(*parts: str) -> str:
    """An xsd:ID: starts with a letter or '_', then letters, digits, '.', '-', '_'."""
    return "_" + re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


def own_identifier(project: str, requirement_id: str) -> str:
    """The SPEC-OBJECT IDENTIFIER Loopline gives a requirement no tool identified."""
    return _ident(project, requirement_id)


def _values(item: Requirement) -> dict[str, Any]:
    """Attribute values by field: lists as '; '-separated text, a derivation's inputs as JSON."""
    values: dict[str, Any] = {"id": item.requirement_id, **item.entry()}
    for key in ("slices", "evidence"):
        if key in values:
            values[key] = "; ".join(values[key]) or None
    if values.get("derivation") is not None:
        values["derivation"] = json.dumps(values["derivation"], sort_keys=True)
    if "fail_when_inconclusive" in values:
        values["fail_when_inconclusive"] = "true" if values["fail_when_inconclusive"] else None
    values.pop("derived_from", None)  # a relation
    values.pop("parent", None)
    return values


def _shown(value: Any) -> str:
    """A field's value as an attribute's text ('' for none)."""
    if value is None:
        return ""
    return f"{value:.12g}" if isinstance(value, float) else str(value)


STATUS_FIELDS = (
    "Loopline.Status",
    "Loopline.Value",
    "Loopline.SampleSize",
    "Loopline.Interval",
    "Loopline.EvidenceRef",  # (Loopline.Evidence names the sources)
)


@dataclass
class Definition:
    """One attribute definition of an object type: a tool's attribute (``tool``; ``key`` when
    it holds a Loopline field) or a Loopline field's, with an enumeration's value names."""

    name: str
    kind: str
    ident: str
    key: str | None  # the Loopline field it holds
    tool: bool
    names: list[str] = field(default_factory=list)
    multi: bool = False
    datatype: str | None = None  # the tool's datatype it refers to (None: Loopline's)
    refs: dict[str, str] = field(default_factory=dict)  # the tool's enum values: name → id
    attrs: dict[str, str] = field(default_factory=dict)  # the tool's other XML attributes
    default: dict[str, Any] | None = None  # the tool's DEFAULT-VALUE (``reqif_read._raw_value``)

    def enum_ref(self, name: str) -> str:
        if self.datatype is not None:
            return self.refs[name]
        return f"{self.ident}-v{self.names.index(name)}"

    def own_datatype(self) -> None:
        """Refer to a datatype of Loopline's (a value the tool's no longer fits)."""
        self.datatype, self.refs = None, {}


@dataclass(frozen=True)
class _Context:
    """What every part of one export needs: the stamp, whether strings are escaped for
    StrictDoc, the tool's definitions and the identifiers of Loopline's own datatypes."""

    stamp: str
    escaped: bool
    tool: ToolSchema
    own: dict[str, str]  # ReqIF type → its datatype's IDENTIFIER

    @staticmethod
    def of(stamp: str, escaped: bool, tool: ToolSchema) -> _Context:
        """Loopline's datatypes are DT-<type>; one the tool also defines, of the same type, is
        the tool's (written once); of another type, Loopline's gets another identifier."""
        own = {}
        for kind in REQIF_TYPES:
            found = tool.datatype(f"DT-{kind}")
            own[kind] = f"DT-{kind}" if found is None or found["kind"] == kind else f"_DT-{kind}"
        return _Context(stamp, escaped, tool, own)


def to_reqif(
    project: str,
    items: Iterable[Requirement],
    statuses: Mapping[str, Any] | None = None,
    document: Sequence[DocumentNode] = (),
    schema: Mapping[str, Any] | None = None,
) -> str:
    """The set as ReqIF; with ``statuses`` (requirement id → Status), each object also carries its
    status, value against threshold and evidence (read back by nothing: a report for the tool);
    with ``document`` (the last import's structure), its specifications, sections and text; with
    ``schema`` (the last import's tool definitions, ``reqif_schema``), the tool's datatypes,
    object types and attribute definitions under their own identifiers."""
    chosen = list(items)
    escaped = any("strictdoc" in (node.tool or "") for node in document)
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
    stamp = f'LAST-CHANGE="{now}"'
    tool = ToolSchema.of(schema)
    context = _Context.of(stamp, escaped, tool)
    refs = _object_ids(project, chosen)
    groups = _object_types(chosen, tool)
    types = {
        key: _definitions(
            level or ("ml" if any(r.is_ml for r in group) else "system"),
            group,
            statuses is not None,
            prefix,
            named,
            tool,
        )
        for (level, named), (key, prefix, group) in groups.items()
    }
    values = {
        item.requirement_id: _object_values(item, types[groups[_group(item)][0]], statuses)
        for item in chosen
    }
    _enumerations(types, values.values())
    structure = _Structure(project, document, chosen, refs, tool, types)
    kinds = _relation_types(chosen, tool)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<REQ-IF xmlns="{NAMESPACE}" xmlns:xhtml="{XHTML}">',
        *_header(project, now, escaped),
        "  <CORE-CONTENT>",
        "    <REQ-IF-CONTENT>",
        *_datatypes(context, [*types.values(), *structure.types().values()]),
        *_spec_types(context, types, structure, kinds),
        "      <SPEC-OBJECTS>",
        *(
            line
            for item in chosen
            for line in _spec_object(
                refs[item.requirement_id],
                groups[_group(item)][0][0],
                values[item.requirement_id],
                context,
                item.external_id or "",
            )
        ),
        *structure.objects(context),
        "      </SPEC-OBJECTS>",
        "      <SPEC-RELATIONS>",
        *(line for item in chosen for line in _relations(project, item, refs, kinds, stamp, tool)),
        "      </SPEC-RELATIONS>",
        *structure.specifications(stamp),
        "    </REQ-IF-CONTENT>",
        "  </CORE-CONTENT>",
        "</REQ-IF>",
        "",
    ]
    return "\n".join(out)


def _object_ids(project: str, items: Sequence[Requirement]) -> dict[str, str]:
    """Each requirement's SPEC-OBJECT IDENTIFIER: the tool's, else one of Loopline's."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for item in items:
        theirs = item.external_id or ""
        ident = (
            theirs
            if _NCNAME.match(theirs) and theirs not in used
            else own_identifier(project, item.requirement_id)
        )
        out[item.requirement_id] = ident
        used.add(ident)
    return out


Group = dict[tuple[str, str | None], tuple[tuple[str, str], str, list[Requirement]]]


def _object_types(items: Sequence[Requirement], tool: ToolSchema) -> Group:
    """(level, the tool's object type name) → the SPEC-OBJECT-TYPE written (IDENTIFIER, LONG-NAME),
    the prefix of its attribute definitions' identifiers and its requirements: Loopline's two
    types (always written), and one per object type a tool gave, under the tool's name (and
    its identifier, when the tool's definitions are kept)."""
    out: Group = {(level, None): (TYPES[level], level, []) for level in TYPES}
    for item in items:
        key = _group(item)
        if key not in out:
            number = str(len(out) - len(TYPES))
            kept = tool.object_type(name=str(item.object_type))
            ident = str(kept["attrs"]["IDENTIFIER"]) if kept else ""
            taken = {found[0][0] for found in out.values()} | set(OWN_OBJECT_TYPES)
            out[key] = (
                (
                    ident if _NCNAME.match(ident) and ident not in taken else _ident("ST", number),
                    str(item.object_type),
                ),
                f"type.{number}",
                [],
            )
        out[key][2].append(item)
    return out


def _group(item: Requirement) -> tuple[str, str | None]:
    """Its object type's key: one type per tool type name, whatever the level (StrictDoc's
    ``REQUIREMENT`` holds both); Loopline's own per level."""
    return ("", item.object_type) if item.object_type else (item.level, None)


def _definitions(
    level: str,
    items: Sequence[Requirement],
    with_status: bool,
    prefix: str | None = None,
    named: str | None = None,
    tool: ToolSchema | None = None,
) -> list[Definition]:
    """An object type's attribute definitions: Loopline's id, then every attribute a tool gave
    (the tool's definitions of the type first, every one in its order with its identifier and
    datatype; then in the order first seen, a name given two types written as STRING), then the
    Loopline fields no tool attribute holds, then the status attributes; a type under a tool's
    name also says the level (``Loopline.Level``), which its name may not."""
    prefix = prefix or level
    keys = SYSTEM_FIELDS if level == "system" else tuple(FIELDS)
    tools = _tool_definitions(tool, named, keys)
    for item in items:
        for name, given in (item.attributes or {}).items():
            kind = str(given.get("type", "STRING"))
            kind = kind if kind in REQIF_TYPES else "STRING"
            found = tools.get(name)
            if found is None:
                meaning = MEANINGS.get(_norm(name))
                tools[name] = Definition(
                    name,
                    kind,
                    f"{TOOL_DEFINITION}{prefix}-{len(tools)}",
                    meaning if meaning in keys else None,
                    True,
                )
            elif found.kind != kind:
                found.kind = "STRING"
                found.own_datatype()
    exact = {name.lower() for name in tools}
    held = {d.key for d in tools.values()}
    own = [
        Definition(FIELDS[key][0], FIELDS[key][1], _ident(prefix, key), key, False)
        for key in keys
        if FIELDS[key][0].lower() not in exact
        and (key in ("id", "title", "statement") or key not in held)
    ]
    status = [
        Definition(name, "STRING", _ident(prefix, name), None, False)
        for name in (STATUS_FIELDS if with_status else ())
    ]
    if named:
        status.insert(
            0, Definition("Loopline.Level", "STRING", _ident(prefix, "level"), "level", False)
        )
    first = [d for d in own if d.key == "id"]
    return [*first, *tools.values(), *(d for d in own if d.key != "id"), *status]


def _tool_definitions(
    tool: ToolSchema | None, named: str | None, keys: Sequence[str]
) -> dict[str, Definition]:
    """The attribute definitions of the tool's object type ``named``, as the tool defined them."""
    kept = tool.object_type(name=named) if tool is not None and named else None
    return _kept_definitions(tool, kept, keys)


def _kept_definitions(
    tool: ToolSchema | None, kept: Mapping[str, Any] | None, keys: Sequence[str]
) -> dict[str, Definition]:
    """A kept object or specification type's attribute definitions, by long name."""
    out: dict[str, Definition] = {}
    for given in kept["attributes"] if kept else []:
        attrs = dict(given["attrs"])
        ident, name = attrs.pop("IDENTIFIER"), attrs.pop("LONG-NAME", given["attrs"]["IDENTIFIER"])
        if name in out or given["kind"] not in REQIF_TYPES:
            continue
        meaning = MEANINGS.get(_norm(name))
        out[name] = Definition(
            name,
            given["kind"],
            ident,
            meaning if meaning in keys else None,
            True,
            multi=attrs.get("MULTI-VALUED") == "true",
            datatype=given["datatype"],
            refs=tool.enum_refs(given["datatype"]) if tool is not None else {},
            attrs={k: v for k, v in attrs.items() if k != "MULTI-VALUED"},
            default=given.get("default"),
        )
    return out


def _object_values(
    item: Requirement, definitions: Sequence[Definition], statuses: Mapping[str, Any] | None
) -> list[tuple[Definition, Any]]:
    """The values an object carries, in its type's order (none written empty): a tool's
    attribute as it was, or the Loopline field it holds once the field was changed; a Loopline
    field's value; its status."""
    current = {k: _shown(v) for k, v in _values(item).items()}
    current["level"] = item.level
    current["title"] = " ".join(current.get("title", "").split())  # a name is one line
    implied = {  # what an import makes of a field left out: not written unless a tool gave it
        "priority": "medium",
        "if_slice_absent": "no_evidence",
        "category": default_category(item.level, item.metric),
    }
    attributes = item.attributes or {}
    source: dict[str, str] = {}  # field → the tool attribute it was read from (the first)
    for d in definitions:
        given = attributes.get(d.name)
        if d.tool and d.key and d.key not in source and given and _text(given).strip():
            source[d.key] = d.name
    facts = _status_facts(statuses.get(item.requirement_id) if statuses is not None else None)
    out: list[tuple[Definition, Any]] = []
    for d in definitions:
        if d.name in facts and not d.tool:
            value: Any = facts[d.name]
        elif not d.tool or d.name not in attributes:
            value = current.get(d.key or "", "") if d.key else ""
            if d.key in implied and value == implied[d.key]:
                continue
            value = _typed(d.kind, value) if d.tool and value else value
        else:
            value = _tool_value(d, attributes[d.name], current, source)
        if value is not None and value != "" and value != []:
            out.append((d, value))
    return out


def _tool_value(
    d: Definition, given: Mapping[str, Any], current: Mapping[str, str], source: Mapping[str, str]
) -> Any:
    """A tool attribute's value: as the tool gave it, unless it is where a field was read from
    and the field has changed since (then the field's value, in the attribute's type when it
    fits); an attribute holding the requirement's id keeps the tool's."""
    now = current.get(d.key or "", "")
    original = _kept(d.kind, given)
    if not d.key or d.key == "id" or source.get(d.key) != d.name:
        return original
    if _same(_text(given), now):
        return original
    if not now:
        return None  # cleared in Loopline
    fits = _typed(d.kind, now)
    return original if fits is None else fits


def _text(given: Mapping[str, Any]) -> str:
    """A stored attribute's value as text (as the import read it)."""
    value = given.get("value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _kept(kind: str, given: Mapping[str, Any]) -> Any:
    """A stored attribute's value in the definition's type (its text when the type changed)."""
    if str(given.get("type")) == kind:
        value = given.get("value")
        return list(value) if kind == "ENUMERATION" and isinstance(value, list) else value
    return _text(given)


def _typed(kind: str, text: str) -> Any:
    """``text`` as a value of ``kind``; None when it is not one."""
    text = text.strip()
    if kind == "INTEGER":
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else None
    if kind == "REAL":
        number = _number(text)
        return number if number is not None and math.isfinite(number) else None
    if kind == "BOOLEAN":
        lowered = text.lower()
        return (
            lowered in ("true", "yes", "1")
            if lowered in ("true", "yes", "1", "false", "no", "0")
            else None
        )
    if kind == "DATE":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return text
    if kind == "ENUMERATION":
        return [p.strip() for p in re.split(r"[;,]", text) if p.strip()]
    return text


def _number(text: str) -> float | None:
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _same(given: str, now: str) -> bool:
    """Does the tool's value say what the field now says (case, number format, list order and
    JSON layout aside)?"""
    if given.strip().casefold() == now.strip().casefold():
        return True
    a, b = _number(given.strip()), _number(now.strip())
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
    try:
        return bool(json.loads(given) == json.loads(now))
    except ValueError:
        pass

    def parts(text: str) -> list[str]:
        return sorted(p.strip().casefold() for p in re.split(r"[;,\n]", text) if p.strip())

    return parts(given) == parts(now)


def _status_facts(found: Any) -> dict[str, str]:
    if found is None:
        return {}
    facts = (
        found.status,
        found.value_text,
        "" if found.n is None else f"{found.n:.0f}",
        found.interval_text,
        found.evidence_ref or "",
    )
    # an empty THE-VALUE is no value (StrictDoc refuses it)
    return {n: f for n, f in zip(STATUS_FIELDS, facts, strict=True) if f not in ("", "—")}


def _enumerations(
    types: Mapping[Any, Sequence[Definition]], values: Iterable[list[tuple[Definition, Any]]]
) -> None:
    """Each enumeration's value names, in the order written; multi-valued when one object has
    several."""
    for found in values:
        for d, value in found:
            if d.kind == "ENUMERATION":
                d.multi |= len(value) > 1
                d.names += [n for n in dict.fromkeys(value) if n not in d.names]
    for definitions in types.values():
        for d in definitions:
            if d.kind == "ENUMERATION" and any(n not in d.refs for n in d.names):
                d.own_datatype()  # a value the tool's enumeration does not have


def _header(project: str, now: str, escaped: bool) -> list[str]:
    """Loopline's header; for StrictDoc, the source tool says its string values are escaped
    (``reqif_read`` decodes them again)."""
    source = "Loopline (strictdoc escapes)" if escaped else "Loopline"
    return [
        "  <THE-HEADER>",
        f'    <REQ-IF-HEADER IDENTIFIER="{_ident("header", project)}">',
        f"      <CREATION-TIME>{now}</CREATION-TIME>",
        "      <REQ-IF-TOOL-ID>Loopline</REQ-IF-TOOL-ID>",
        "      <REQ-IF-VERSION>1.0</REQ-IF-VERSION>",
        f"      <SOURCE-TOOL-ID>{source}</SOURCE-TOOL-ID>",
        f"      <TITLE>{escape(project)} requirements</TITLE>",
        "    </REQ-IF-HEADER>",
        "  </THE-HEADER>",
    ]


OWN_DATATYPES = {  # Loopline's own datatypes' attributes, by ReqIF type
    "STRING": 'LONG-NAME="Text" MAX-LENGTH="100000"',
    "XHTML": 'LONG-NAME="Formatted text"',
    "REAL": 'LONG-NAME="Real" ACCURACY="12" MIN="-1e300" MAX="1e300"',
    "INTEGER": 'LONG-NAME="Integer" MIN="-9223372036854775808" MAX="9223372036854775807"',
    "BOOLEAN": 'LONG-NAME="Boolean"',
    "DATE": 'LONG-NAME="Date"',
}


def _datatypes(context: _Context, types: Iterable[Sequence[Definition]]) -> list[str]:
    """Loopline's datatypes (but one the tool defines under the same identifier), the tool's
    (every one it defined, used or not), then an enumeration per attribute that is no tool's."""
    stamp, tool = context.stamp, context.tool
    out = [
        "      <DATATYPES>",
        *(
            f"        <DATATYPE-DEFINITION-{kind} IDENTIFIER={quoteattr(context.own[kind])} "
            f"{attrs} {stamp}/>"
            for kind, attrs in OWN_DATATYPES.items()
            if tool.datatype(context.own[kind]) is None
        ),
        *tool.datatype_lines(stamp, set()),
    ]
    for definitions in types:
        for d in definitions:
            if d.kind != "ENUMERATION" or d.datatype is not None:
                continue
            out.append(
                f'        <DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="DT-{d.ident}" '
                f"LONG-NAME={quoteattr(d.name)} {stamp}>"
            )
            out.append("          <SPECIFIED-VALUES>")
            for key, name in enumerate(d.names):
                out.append(
                    f'            <ENUM-VALUE IDENTIFIER="{d.enum_ref(name)}" LONG-NAME={quoteattr(name)} {stamp}>'
                    f'<PROPERTIES><EMBEDDED-VALUE KEY="{key}" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>'
                )
            out += ["          </SPECIFIED-VALUES>", "        </DATATYPE-DEFINITION-ENUMERATION>"]
    return [*out, "      </DATATYPES>"]


DERIVED = OWN_RELATION_TYPE  # Loopline's "derived from" relation type


def _relation_types(items: Sequence[Requirement], tool: ToolSchema) -> dict[str, str]:
    """Every relation type written but Loopline's "derived from": the tool's (every one it
    defined, under its identifier) and those of the other relations ("see also", …) no kept
    definition names: name → IDENTIFIER."""
    out: dict[str, str] = {}
    for found in tool.relation_types:
        attrs = found["attrs"]
        ident = str(attrs.get("IDENTIFIER", ""))
        if ident != DERIVED and _NCNAME.match(ident):
            out.setdefault(str(attrs.get("LONG-NAME", ident)), ident)
    names = dict.fromkeys(str(r["type"]) for item in items for r in item.relations)
    for number, name in enumerate(names):
        out.setdefault(name, _ident("RT", str(number), name))
    return out


def _spec_types(
    context: _Context,
    types: Mapping[tuple[str, str], Sequence[Definition]],
    structure: _Structure,
    relation_types: Mapping[str, str],
) -> list[str]:
    """One object type per level (or tool type) with its attribute definitions, the
    document's section and text types when it has them, the "derived from" relation type, the
    tool's relation types and the specification type."""
    stamp = context.stamp
    out = ["      <SPEC-TYPES>"]
    every = {**types, **structure.types()}
    for (type_id, long_name), definitions in every.items():
        kept = context.tool.object_type(ident=type_id)
        attrs = {
            k: v
            for k, v in (kept["attrs"] if kept else {}).items()
            if k not in ("IDENTIFIER", "LONG-NAME")
        }
        out.append(
            f"        <SPEC-OBJECT-TYPE IDENTIFIER={quoteattr(type_id)} "
            f"LONG-NAME={quoteattr(long_name)}{attributes_xml(attrs)} {stamp}>"
        )
        out.append("          <SPEC-ATTRIBUTES>")
        for d in definitions:
            out += _attribute_definition(d, context)
        out += ["          </SPEC-ATTRIBUTES>", "        </SPEC-OBJECT-TYPE>"]
    return [
        *out,
        f'        <SPEC-RELATION-TYPE IDENTIFIER="{DERIVED}" LONG-NAME="derived from" {stamp}/>',
        *(
            f"        <SPEC-RELATION-TYPE IDENTIFIER={quoteattr(ident)} "
            f"LONG-NAME={quoteattr(name)} {stamp}/>"
            for name, ident in relation_types.items()
        ),
        f'        <SPECIFICATION-TYPE IDENTIFIER="SPT-set" LONG-NAME="Loopline requirement set" {stamp}>',
        "          <SPEC-ATTRIBUTES>",
        *_attribute_definition(
            Definition("Loopline.Project", "STRING", "A-project", None, False), context
        ),
        "          </SPEC-ATTRIBUTES>",
        "        </SPECIFICATION-TYPE>",
        *(line for kept in structure.spec_types() for line in _specification_type(kept, context)),
        "      </SPEC-TYPES>",
    ]


def _specification_type(kept: SpecType, context: _Context) -> list[str]:
    """A tool's SPECIFICATION-TYPE as it defined it, with Loopline's project attribute."""
    attrs = {k: v for k, v in kept.attrs.items() if k != "IDENTIFIER"}
    return [
        f"        <SPECIFICATION-TYPE IDENTIFIER={quoteattr(kept.ident)}"
        f"{attributes_xml(attrs)} {context.stamp}>",
        "          <SPEC-ATTRIBUTES>",
        *(line for d in kept.definitions for line in _attribute_definition(d, context)),
        "          </SPEC-ATTRIBUTES>",
        "        </SPECIFICATION-TYPE>",
    ]


@dataclass(frozen=True)
class SpecType:
    """A tool's specification type written back: its identifier, XML attributes and
    attribute definitions (the tool's, then Loopline.Project under ``project``)."""

    ident: str
    attrs: dict[str, str]
    definitions: list[Definition]
    project: str


def _attribute_definition(d: Definition, context: _Context) -> list[str]:
    """One attribute definition: a tool's with its identifier, XML attributes and datatype."""
    kind = d.kind
    if d.datatype is not None and context.tool.datatype(d.datatype) is None:
        d.own_datatype()  # (a datatype the tool's file did not define)
    datatype = d.datatype or (f"DT-{d.ident}" if kind == "ENUMERATION" else context.own[kind])
    multi = f' MULTI-VALUED="{"true" if d.multi else "false"}"' if kind == "ENUMERATION" else ""
    default = []
    if d.default is not None and d.default.get("kind") == kind and d.datatype is not None:
        default = [f"              <DEFAULT-VALUE>{value_xml(d.default, d.ident)}</DEFAULT-VALUE>"]
    return [
        f"            <ATTRIBUTE-DEFINITION-{kind} IDENTIFIER={quoteattr(d.ident)} "
        f"LONG-NAME={quoteattr(d.name)}{multi}{attributes_xml(d.attrs)} {context.stamp}>",
        *default,
        f"              <TYPE><DATATYPE-DEFINITION-{kind}-REF>{escape(datatype)}"
        f"</DATATYPE-DEFINITION-{kind}-REF></TYPE>",
        f"            </ATTRIBUTE-DEFINITION-{kind}>",
    ]


def _attribute_value(kind: str, value: str, definition: str) -> str:
    return (
        f"<ATTRIBUTE-VALUE-{kind} THE-VALUE={quoteattr(value)}><DEFINITION>"
        f"<ATTRIBUTE-DEFINITION-{kind}-REF>{definition}</ATTRIBUTE-DEFINITION-{kind}-REF>"
        f"</DEFINITION></ATTRIBUTE-VALUE-{kind}>"
    )


def xhtml(text: str) -> str:
    """Text as XHTML: paragraphs apart by a blank line, line breaks as ``<br/>`` (what
    ``reqif_read`` reads back as the same text)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join(
        "<xhtml:p>"
        + "<xhtml:br/>".join(escape(line.strip()) for line in p.split("\n"))
        + "</xhtml:p>"
        for p in paragraphs
    )
    return f"<xhtml:div>{body}</xhtml:div>"


def strictdoc_escape(text: str) -> str:
    """A string value as StrictDoc writes it, and decodes every one it reads (Python's
    ``unicode_escape``: ``é`` → ``\\xe9``, a line break → ``\\n``)."""
    return text.encode("unicode_escape").decode("ascii")


def _value_xml(
    d: Definition, value: Any, escaped: bool = False, original: str | None = None
) -> str:
    """One ATTRIBUTE-VALUE of its definition's type (a string value escaped for StrictDoc; an
    XHTML value the tool's ``original`` markup when it still says the same)."""
    ref = f"<DEFINITION><ATTRIBUTE-DEFINITION-{d.kind}-REF>{escape(d.ident)}</ATTRIBUTE-DEFINITION-{d.kind}-REF></DEFINITION>"
    if d.kind == "XHTML":
        markup = original if original is not None else xhtml(str(value))
        return (
            f"<ATTRIBUTE-VALUE-XHTML>{ref}<THE-VALUE>{markup}</THE-VALUE></ATTRIBUTE-VALUE-XHTML>"
        )
    if d.kind == "ENUMERATION":
        names = value if isinstance(value, list) else [str(value)]
        refs = "".join(
            f"<ENUM-VALUE-REF>{escape(d.enum_ref(n))}</ENUM-VALUE-REF>"
            for n in dict.fromkeys(names)
        )
        return f"<ATTRIBUTE-VALUE-ENUMERATION>{ref}<VALUES>{refs}</VALUES></ATTRIBUTE-VALUE-ENUMERATION>"
    if d.kind == "BOOLEAN":
        text = "true" if value is True or str(value).lower() in ("true", "1") else "false"
    elif d.kind == "REAL":
        text = repr(float(value))
    else:
        text = str(value)
    if escaped and d.kind == "STRING":
        text = strictdoc_escape(text)
    return _attribute_value(d.kind, text, escape(d.ident))


def _spec_object(
    ident: str,
    type_id: str,
    values: Sequence[tuple[Definition, Any]],
    context: _Context,
    tool_id: str,
) -> list[str]:
    """One SPEC-OBJECT (``tool_id``: the tool's identifier of it, whose XHTML was kept)."""
    return [
        f'        <SPEC-OBJECT IDENTIFIER="{ident}" {context.stamp}>',
        "          <VALUES>",
        *(
            "            "
            + _value_xml(
                d,
                value,
                context.escaped,
                context.tool.original(tool_id, d.ident, str(value)) if d.kind == "XHTML" else None,
            )
            for d, value in values
        ),
        "          </VALUES>",
        f"          <TYPE><SPEC-OBJECT-TYPE-REF>{escape(type_id)}</SPEC-OBJECT-TYPE-REF></TYPE>",
        "        </SPEC-OBJECT>",
    ]


def _relations(
    project: str,
    item: Requirement,
    refs: Mapping[str, str],
    relation_types: Mapping[str, str],
    stamp: str,
    tool: ToolSchema = ToolSchema(),
) -> list[str]:
    """A derivation from ``item`` to each requirement it is derived from (an ML requirement's
    system or ML requirements, a system requirement's parents), under the relation type the
    tool gave it as (its only type meaning derivation for a link added since, else "derived
    from"), then its other relations under their own types (a target no longer in the set
    left out)."""
    out: list[str] = []
    links = []
    for t in item.parents:
        kind, backwards = tool.derivation_type(item.requirement_id, t) or (DERIVED, False)
        if kind not in relation_types.values():
            kind, backwards = DERIVED, False  # (a type not written: no NCName identifier)
        links.append((kind, t, _ident("rel", project, item.requirement_id, t), backwards))
    links += [
        (
            relation_types[str(r["type"])],
            str(r["target"]),
            _ident("rel", project, item.requirement_id, str(number), str(r["target"])),
            False,
        )
        for number, r in enumerate(item.relations)
    ]
    for kind, target, ident, backwards in links:
        if target not in refs:
            continue
        ends = (refs[target], refs[item.requirement_id]) if backwards else None
        source, dest = ends or (refs[item.requirement_id], refs[target])
        out += [
            f"        <SPEC-RELATION IDENTIFIER={quoteattr(ident)} {stamp}>",
            f"          <TYPE><SPEC-RELATION-TYPE-REF>{escape(kind)}</SPEC-RELATION-TYPE-REF></TYPE>",
            f"          <SOURCE><SPEC-OBJECT-REF>{source}</SPEC-OBJECT-REF></SOURCE>",
            f"          <TARGET><SPEC-OBJECT-REF>{dest}</SPEC-OBJECT-REF></TARGET>",
            "        </SPEC-RELATION>",
        ]
    return out


Tree = list[tuple[str, "Tree"]]  # (object IDENTIFIER, its children) in document order


class _Structure:
    """Where every object goes: the imported document's specifications, sections and text nodes
    (requirements no longer in the set left out, those added since at the end of the last
    specification), or without a document the set's tree in one specification."""

    def __init__(
        self,
        project: str,
        document: Sequence[DocumentNode],
        items: Sequence[Requirement],
        refs: Mapping[str, str],
        tool: ToolSchema = ToolSchema(),
        written: Mapping[tuple[str, str], Sequence[Definition]] | None = None,
    ) -> None:
        self.project = project
        self.tool = tool
        self.written = dict(written or {})  # the requirements' object types
        self.nodes: dict[str, DocumentNode] = {}  # IDENTIFIER → a section or text node
        used = self.used = set(refs.values())
        by_tool = {r.external_id: r.requirement_id for r in items if r.external_id}
        self.specs: dict[str, Tree] = {}
        placed: set[str] = set()
        stack: list[tuple[int, Tree]] = []
        spec = None
        for node in document:
            if node.specification != spec:
                spec, stack = node.specification, []
            root = self.specs.setdefault(node.specification, [])
            while stack and stack[-1][0] >= node.depth:
                stack.pop()
            into = stack[-1][1] if stack else root
            ref = self._ref(node, refs, by_tool, used)
            if ref is None:  # a requirement no longer in the set: its children move up
                stack.append((node.depth, into))
                continue
            children: Tree = []
            into.append((ref, children))
            stack.append((node.depth, children))
            placed.add(ref)
        if not self.specs:
            self.specs[f"{project} requirements"] = _tree(items, refs)
            return
        last = list(self.specs.values())[-1]
        last += [
            (refs[r.requirement_id], []) for r in items if refs[r.requirement_id] not in placed
        ]

    def _ref(
        self,
        node: DocumentNode,
        refs: Mapping[str, str],
        by_tool: Mapping[str, str],
        used: set[str],
    ) -> str | None:
        if node.kind == "requirement":
            rid = by_tool.get(node.node_id) or node.requirement_id or ""
            return refs.get(rid)
        for ident, known in self.nodes.items():
            if known.node_id == node.node_id:
                return ident  # one object in two places
        ident = node.node_id
        if not _NCNAME.match(ident) or ident in used:
            ident = _ident("node", self.project, str(len(self.nodes)))
        used.add(ident)
        self.nodes[ident] = node
        return ident

    def node_type(self, node: DocumentNode) -> tuple[tuple[str, str], dict[str, str]]:
        """A section's or text node's object type (IDENTIFIER, LONG-NAME): the tool's it came
        with when its definitions are kept, else SECTION or TEXT; and the definitions its title
        and text go in (field → IDENTIFIER, when the tool's)."""
        kept = self.tool.nodes.get(node.node_id)
        found = self.tool.object_type(ident=kept["type"]) if kept else None
        if kept is None or found is None:
            return STRUCTURE[node.kind], {}
        attrs = found["attrs"]
        ident = str(attrs["IDENTIFIER"])
        held = {k: str(kept[f]) for k, f in (("title", "title"), ("statement", "text")) if kept[f]}
        return (ident, str(attrs.get("LONG-NAME", ident))), held

    def types(self) -> dict[tuple[str, str], list[Definition]]:
        """The section and text object types the document needs (but those its requirements'
        types already are), with their definitions: a tool's every one it defined, the title
        and text in the definitions they came from."""
        out: dict[tuple[str, str], list[Definition]] = {}
        for node in self.nodes.values():
            key, held = self.node_type(node)
            if key in self.written:
                continue
            if key not in out:
                tool = _tool_definitions(self.tool, key[1], ("title", "statement"))
                out[key] = [replace(d, key=None) for d in tool.values()]
            found = out[key]
            wanted = [("ReqIF.ChapterName", "title")] if node.kind == "section" else []
            wanted += [("ReqIF.Text", "statement")] if node.text or node.kind == "text" else []
            for name, field_name in wanted:
                if field_name in held and any(d.ident == held[field_name] for d in found):
                    continue
                if all(d.name != name for d in found):
                    ident = _ident(node.kind, field_name)
                    found.append(Definition(name, "STRING", ident, field_name, False))
        for key, found in out.items():  # the title first, as StrictDoc writes it
            if key in STRUCTURE.values():
                found.sort(key=lambda d: d.key != "title")
        return out

    def objects(self, context: _Context) -> list[str]:
        types = {**self.written, **self.types()}
        out: list[str] = []
        for ident, node in self.nodes.items():
            key, held = self.node_type(node)
            facts = {"title": " ".join(node.title.split()), "statement": node.text}
            values: list[tuple[Definition, Any]] = []
            for name, fact in facts.items():
                d = next((d for d in types[key] if d.ident == held.get(name)), None)
                d = d if d is None or d.kind != "ENUMERATION" else None
                d = d or next((d for d in types[key] if d.key == name and not d.tool), None)
                if d is not None and fact:
                    values.append((d, _node_value(d, fact)))
            tool_id = node.node_id if node.node_id in self.tool.nodes else ""
            out += _spec_object(ident, key[0], values, context, tool_id)
        return out

    def spec_types(self) -> list[SpecType]:
        """The tool's specification types the document's specifications were of (each with
        every attribute definition it had, and Loopline.Project)."""
        out: dict[str, SpecType] = {}
        for name in self.specs:
            kept = self.tool.specifications.get(name)
            found = self.tool.specification_type(kept["type"]) if kept else None
            if found is None or not _NCNAME.match(str(found["attrs"].get("IDENTIFIER", ""))):
                continue
            ident = str(found["attrs"]["IDENTIFIER"])
            if ident in out or ident in ("SPT-set", *OWN_OBJECT_TYPES):
                continue
            project = _ident(f"spec.{len(out)}", "project")
            definitions = list(_kept_definitions(self.tool, found, ()).values())
            definitions.append(Definition("Loopline.Project", "STRING", project, None, False))
            out[ident] = SpecType(ident, dict(found["attrs"]), definitions, project)
        return list(out.values())

    def specifications(self, stamp: str) -> list[str]:
        out = ["      <SPECIFICATIONS>"]
        counter = iter(range(1 << 30))
        types = {t.ident: t for t in self.spec_types()}
        taken = self.used | self.tool.identifiers()
        for number, (name, tree) in enumerate(self.specs.items()):
            ident = _ident("spec", self.project, *([str(number)] if number else []))
            kept = self.tool.specifications.get(name) or {}
            kind = types.get(str(kept.get("type")))
            values = ["            " + _attribute_value("STRING", self.project, "A-project")]
            attrs: dict[str, str] = {}
            if kind is not None:
                attrs = {k: v for k, v in kept["attrs"].items() if k not in ("LONG-NAME",)}
                theirs = attrs.pop("IDENTIFIER", "")
                ident = theirs if _NCNAME.match(theirs) and theirs not in taken else ident
                known = {d.ident: d.kind for d in kind.definitions}
                values = [
                    "            " + value_xml(raw, definition)
                    for definition, raw in kept["values"].items()
                    if known.get(definition) == raw.get("kind")
                ]
                values.append(
                    "            " + _attribute_value("STRING", self.project, kind.project)
                )
            taken.add(ident)
            out += [
                f"        <SPECIFICATION IDENTIFIER={quoteattr(ident)} LONG-NAME={quoteattr(name)}"
                f"{attributes_xml(attrs)} {stamp}>",
                "          <VALUES>",
                *values,
                "          </VALUES>",
                "          <TYPE><SPECIFICATION-TYPE-REF>"
                f"{escape(kind.ident if kind else 'SPT-set')}</SPECIFICATION-TYPE-REF></TYPE>",
            ]
            if tree:
                out += [
                    "          <CHILDREN>",
                    *_hierarchy(self.project, tree, 6, counter, stamp),
                    "          </CHILDREN>",
                ]
            out.append("        </SPECIFICATION>")
        return [*out, "      </SPECIFICATIONS>"]


def _node_value(d: Definition, text: str) -> Any:
    """A title or text in the tool's definition it came from (its text when not of its type)."""
    if d.kind in ("STRING", "XHTML"):
        return text
    typed = _typed(d.kind, text)
    return text if typed is None else typed


def _tree(items: Sequence[Requirement], refs: Mapping[str, str]) -> Tree:
    """The set's tree: system requirements under their (first) parent, ML requirements under the
    first requirement they are derived from (a system requirement, or the ML one they refine)."""
    children = system_tree(items)
    known = {r.requirement_id for r in items}
    for item in items:
        if item.level == "ml":
            home = next((d for d in item.derived_from if d in known), None)
            children.setdefault(home, []).append(item)

    def node(item: Requirement) -> tuple[str, Tree]:
        below = children.get(item.requirement_id, [])
        return refs[item.requirement_id], [node(child) for child in below]

    return [node(top) for top in children.get(None, [])]


def _hierarchy(
    project: str, tree: Tree, depth: int, counter: Iterator[int], stamp: str
) -> list[str]:
    lines: list[str] = []
    pad = "  " * depth
    for ref, below in tree:
        ident = _ident("h", project, str(next(counter)))
        lines.append(f'{pad}<SPEC-HIERARCHY IDENTIFIER="{ident}" {stamp}>')
        lines.append(f"{pad}  <OBJECT><SPEC-OBJECT-REF>{ref}</SPEC-OBJECT-REF></OBJECT>")
        if below:
            lines.append(f"{pad}  <CHILDREN>")
            lines += _hierarchy(project, below, depth + 2, counter, stamp)
            lines.append(f"{pad}  </CHILDREN>")
        lines.append(f"{pad}</SPEC-HIERARCHY>")
    return lines
