"""ReqIF 1.2 (OMG), the interchange format of DOORS, Polarion and Jama.

Export: one SPEC-OBJECT-TYPE for system and one for ML requirements with their attribute
definitions, a SPEC-OBJECT per requirement, a SPEC-RELATION "derived from" per link (ML → system),
and a SPECIFICATION whose SPEC-HIERARCHY is the tree (ML requirements under the first system
requirement they are derived from).

Reading is in ``reqif_read.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from core.requirements.models import DESCRIPTION_FIELDS, Requirement, system_tree
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
SYSTEM_FIELDS = ("id", *DESCRIPTION_FIELDS)  # a parent is the tree, derived_from a relation
TYPES = {
    "system": ("ST-system", "Loopline system requirement"),
    "ml": ("ST-ml", "Loopline ML requirement"),
}
NAMES = {  # every accepted attribute name (lower case) → field
    alias: key
    for key, (written, _, aliases) in FIELDS.items()
    for alias in (written.lower(), *aliases)
}


def _ident(*parts: str) -> str:
    """An xsd:ID: starts with a letter or '_', then letters, digits, '.', '-', '_'."""
    return "_" + re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


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
    return values


STATUS_FIELDS = (
    "Loopline.Status",
    "Loopline.Value",
    "Loopline.SampleSize",
    "Loopline.Interval",
    "Loopline.EvidenceRef",  # (Loopline.Evidence names the sources)
)


def to_reqif(
    project: str, items: Iterable[Requirement], statuses: Mapping[str, Any] | None = None
) -> str:
    """The set as ReqIF; with ``statuses`` (requirement id → Status), each object also carries its
    status, value against threshold and evidence (read back by nothing: a report for the tool)."""
    chosen = list(items)
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
    stamp = f'LAST-CHANGE="{now}"'
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<REQ-IF xmlns="{NAMESPACE}" xmlns:xhtml="{XHTML}">',
        *_header(project, now),
        "  <CORE-CONTENT>",
        "    <REQ-IF-CONTENT>",
        *_datatypes(stamp),
        *_spec_types(stamp, with_status=statuses is not None),
        "      <SPEC-OBJECTS>",
        *(line for item in chosen for line in _spec_object(project, item, statuses, stamp)),
        "      </SPEC-OBJECTS>",
        "      <SPEC-RELATIONS>",
        *(line for item in chosen for line in _relations(project, item, stamp)),
        "      </SPEC-RELATIONS>",
        *_specification(project, chosen, stamp),
        "    </REQ-IF-CONTENT>",
        "  </CORE-CONTENT>",
        "</REQ-IF>",
        "",
    ]
    return "\n".join(out)


def _header(project: str, now: str) -> list[str]:
    return [
        "  <THE-HEADER>",
        f'    <REQ-IF-HEADER IDENTIFIER="{_ident("header", project)}">',
        f"      <CREATION-TIME>{now}</CREATION-TIME>",
        "      <REQ-IF-TOOL-ID>Loopline</REQ-IF-TOOL-ID>",
        "      <REQ-IF-VERSION>1.0</REQ-IF-VERSION>",
        "      <SOURCE-TOOL-ID>Loopline</SOURCE-TOOL-ID>",
        f"      <TITLE>{escape(project)} requirements</TITLE>",
        "    </REQ-IF-HEADER>",
        "  </THE-HEADER>",
    ]


def _datatypes(stamp: str) -> list[str]:
    return [
        "      <DATATYPES>",
        f'        <DATATYPE-DEFINITION-STRING IDENTIFIER="DT-STRING" LONG-NAME="Text" MAX-LENGTH="100000" {stamp}/>',
        f'        <DATATYPE-DEFINITION-REAL IDENTIFIER="DT-REAL" LONG-NAME="Real" ACCURACY="12" MIN="-1e300" MAX="1e300" {stamp}/>',
        f'        <DATATYPE-DEFINITION-INTEGER IDENTIFIER="DT-INTEGER" LONG-NAME="Integer" MIN="0" MAX="100000" {stamp}/>',
        "      </DATATYPES>",
    ]


def _spec_types(stamp: str, *, with_status: bool) -> list[str]:
    """One object type per level with its attribute definitions (plus the status attributes when
    statuses are exported), the "derived from" relation type and the specification type."""
    out = ["      <SPEC-TYPES>"]
    for level, (type_id, long_name) in TYPES.items():
        out.append(
            f'        <SPEC-OBJECT-TYPE IDENTIFIER="{type_id}" LONG-NAME="{long_name}" {stamp}>'
        )
        out.append("          <SPEC-ATTRIBUTES>")
        for key in SYSTEM_FIELDS if level == "system" else FIELDS:
            name, kind, _ = FIELDS[key]
            out += _attribute_definition(kind, _ident(level, key), name, stamp)
        for name in STATUS_FIELDS if with_status else ():
            out += _attribute_definition("STRING", _ident(level, name), name, stamp)
        out += ["          </SPEC-ATTRIBUTES>", "        </SPEC-OBJECT-TYPE>"]
    return [
        *out,
        f'        <SPEC-RELATION-TYPE IDENTIFIER="RT-derived" LONG-NAME="derived from" {stamp}/>',
        f'        <SPECIFICATION-TYPE IDENTIFIER="SPT-set" LONG-NAME="Loopline requirement set" {stamp}>',
        "          <SPEC-ATTRIBUTES>",
        *_attribute_definition("STRING", "A-project", "Loopline.Project", stamp),
        "          </SPEC-ATTRIBUTES>",
        "        </SPECIFICATION-TYPE>",
        "      </SPEC-TYPES>",
    ]


def _attribute_definition(kind: str, identifier: str, name: str, stamp: str) -> list[str]:
    return [
        f'            <ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{identifier}" LONG-NAME="{name}" {stamp}>',
        f"              <TYPE><DATATYPE-DEFINITION-{kind}-REF>DT-{kind}</DATATYPE-DEFINITION-{kind}-REF></TYPE>",
        f"            </ATTRIBUTE-DEFINITION-{kind}>",
    ]


def _attribute_value(kind: str, value: str, definition: str) -> str:
    return (
        f"<ATTRIBUTE-VALUE-{kind} THE-VALUE={quoteattr(value)}><DEFINITION>"
        f"<ATTRIBUTE-DEFINITION-{kind}-REF>{definition}</ATTRIBUTE-DEFINITION-{kind}-REF>"
        f"</DEFINITION></ATTRIBUTE-VALUE-{kind}>"
    )


def _spec_object(
    project: str, item: Requirement, statuses: Mapping[str, Any] | None, stamp: str
) -> list[str]:
    """One requirement: its non-empty fields (and its status, when statuses are exported)."""
    out = [
        f'        <SPEC-OBJECT IDENTIFIER="{_ident(project, item.requirement_id)}" {stamp}>',
        "          <VALUES>",
    ]
    values = _values(item)
    for key in SYSTEM_FIELDS if item.level == "system" else FIELDS:
        value = values.get(key)
        if value is None or value == "":
            continue
        kind = FIELDS[key][1]
        shown = f"{value:.12g}" if isinstance(value, float) else str(value)
        if key == "title":
            shown = " ".join(shown.split())  # a name is one line (StrictDoc's TITLE is)
        out.append("            " + _attribute_value(kind, shown, _ident(item.level, key)))
    found = statuses.get(item.requirement_id) if statuses is not None else None
    if found is not None:
        facts = (
            found.status,
            found.value_text,
            "" if found.n is None else f"{found.n:.0f}",
            found.interval_text,
            found.evidence_ref or "",
        )
        for name, fact in zip(STATUS_FIELDS, facts, strict=True):
            if fact in ("", "—"):
                continue  # an empty THE-VALUE is no value (StrictDoc refuses it)
            out.append("            " + _attribute_value("STRING", fact, _ident(item.level, name)))
    return [
        *out,
        "          </VALUES>",
        f"          <TYPE><SPEC-OBJECT-TYPE-REF>{TYPES[item.level][0]}</SPEC-OBJECT-TYPE-REF></TYPE>",
        "        </SPEC-OBJECT>",
    ]


def _relations(project: str, item: Requirement, stamp: str) -> list[str]:
    """A "derived from" relation from ``item`` to each requirement it is derived from."""
    out: list[str] = []
    for target in item.derived_from:
        out += [
            f'        <SPEC-RELATION IDENTIFIER="{_ident("rel", project, item.requirement_id, target)}" {stamp}>',
            "          <TYPE><SPEC-RELATION-TYPE-REF>RT-derived</SPEC-RELATION-TYPE-REF></TYPE>",
            f"          <SOURCE><SPEC-OBJECT-REF>{_ident(project, item.requirement_id)}</SPEC-OBJECT-REF></SOURCE>",
            f"          <TARGET><SPEC-OBJECT-REF>{_ident(project, target)}</SPEC-OBJECT-REF></TARGET>",
            "        </SPEC-RELATION>",
        ]
    return out


def _specification(project: str, items: Sequence[Requirement], stamp: str) -> list[str]:
    """The set's one specification: the project as its attribute, the tree as its children."""
    return [
        "      <SPECIFICATIONS>",
        f'        <SPECIFICATION IDENTIFIER="{_ident("spec", project)}" LONG-NAME={quoteattr(project + " requirements")} {stamp}>',
        "          <VALUES>",
        "            " + _attribute_value("STRING", project, "A-project"),
        "          </VALUES>",
        "          <TYPE><SPECIFICATION-TYPE-REF>SPT-set</SPECIFICATION-TYPE-REF></TYPE>",
        "          <CHILDREN>",
        *_hierarchy(project, items, stamp),
        "          </CHILDREN>",
        "        </SPECIFICATION>",
        "      </SPECIFICATIONS>",
    ]


def _hierarchy(project: str, items: Sequence[Requirement], stamp: str) -> list[str]:
    children = system_tree(items)
    known = {r.requirement_id for r in items if r.level == "system"}
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
