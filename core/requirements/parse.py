"""Reading requirements from plain data (a YAML document, CSV rows, ReqIF objects, the app's
editor), validated once, with messages that name the entry, the field and the fix."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from core.behave.models import METRIC as BEHAVE_METRIC
from core.errors import InvalidInput, expected_one_of
from core.projects.spec import ProjectSpec
from core.requirements.derive import derive
from core.requirements.models import (
    ML_CATEGORIES,
    ML_FIELDS,
    REQIF_TYPES,
    SYSTEM_FIELDS,
    TOOL_FIELDS,
    Requirement,
    file_name,
)
from core.requirements.rules import (
    ABSENT,
    COMPARATORS,
    EVIDENCE,
    LEVELS,
    base_metric,
    default_comparator,
    metric_problem,
    metric_sources,
    normalize_slice,
    parse_slice,
)

BEHAVE_SLICE = "test"  # behave_pass_rate's slice: the test's name
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SYSTEM_KEYS = {"id", "level", *SYSTEM_FIELDS, *TOOL_FIELDS}
ML_KEYS = {
    "id",
    "level",
    "slice",
    "absent_slice",
    *(file_name(f) for f in ML_FIELDS),
    *TOOL_FIELDS,
}
_COMPARATOR_WORDS = {"≥": ">=", "≤": "<=", "=>": ">=", "=<": "<="}


def _text(entry: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
    value = entry.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, (str, int, float)):
        raise InvalidInput(f"{where}.{key}: expected text, got {type(value).__name__}.")
    text = str(value).strip()
    if required and not text:
        raise InvalidInput(f"{where}.{key}: missing.", hint=f"give every requirement a {key}")
    return text


def _names(value: Any, where: str) -> tuple[str, ...]:
    """A list, or text separated by ';' or ',' (CSV and ReqIF cells)."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[;\n]", value)]
        if len(parts) == 1 and "," in value:
            pieces = [p.strip() for p in value.split(",")]
            if len({"=" in p for p in pieces}) == 1:  # all names, or all "slice = value"
                parts = pieces
        return tuple(p for p in parts if p)
    if isinstance(value, Sequence):
        return tuple(str(v).strip() for v in value if str(v).strip())
    raise InvalidInput(f"{where}: expected a list, got {type(value).__name__}.")


def _float(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    raw = entry.get(key)
    if raw is None or raw == "" or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if isinstance(raw, bool):
        raise InvalidInput(f"{where}.{key}: expected a number, got {raw!r}.")
    try:
        value = float(str(raw).strip().rstrip("%")) / (100 if str(raw).strip().endswith("%") else 1)
    except ValueError:
        raise InvalidInput(f"{where}.{key}: expected a number, got {raw!r}.") from None
    if math.isnan(value) or math.isinf(value):
        raise InvalidInput(f"{where}.{key}: expected a finite number, got {raw!r}.")
    return value


def parse_entry(entry: Mapping[str, Any], project: str, level: str, where: str) -> Requirement:
    """One requirement from a mapping; ``level`` is 'system' or 'ml'."""
    rid = _requirement_id(entry, level, where)
    where = f"{where} ({rid})"
    _check_keys(entry, level, where)
    common: dict[str, Any] = {
        "project": project,
        "requirement_id": rid,
        "level": level,
        "title": _text(entry, "title", where, required=True),
        "statement": _text(entry, "statement", where),
        "owner": _text(entry, "owner", where),
        "priority": (_text(entry, "priority", where) or "medium").lower(),
    }
    category = _text(entry, "category", where).lower()
    if level == "system":
        parent, derived = _system_parents(entry, where)
        item = Requirement(
            **common, category=category or "reliability", parent=parent, derived_from=derived
        )
    else:
        item = _ml_requirement(entry, common, category, where)
    if any(key in entry for key in TOOL_FIELDS):
        item = replace(
            item,
            external_id=_text(entry, "external_id", where) or None,
            attributes=_attributes(entry.get("attributes"), f"{where}.attributes"),
            object_type=_text(entry, "object_type", where) or None,
            relations=_relations(entry.get("relations"), f"{where}.relations"),
        )
    return item


_KINDS: dict[
    str, tuple[type, ...]
] = {  # what a value of each ReqIF type is, as YAML, CSV's JSON and the store hold it
    "STRING": (str,),
    "XHTML": (str,),
    "DATE": (str,),
    "INTEGER": (int,),
    "REAL": (int, float),
    "BOOLEAN": (bool,),
    "ENUMERATION": (list,),
}


def _attributes(value: Any, where: str) -> dict[str, dict[str, Any]] | None:
    """A requirements tool's attributes as files carry them: ``{name: {type, value}}`` (JSON
    text in a CSV cell), each value of its ReqIF type. None when not given (a save keeps the
    stored ones)."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: not valid JSON ({exc.msg}).") from None
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: expected a mapping of names to {{type, value}}.")
    out: dict[str, dict[str, Any]] = {}
    for name, given in value.items():
        here = f"{where}.{name}"
        if not isinstance(given, Mapping) or set(given) != {"type", "value"}:
            raise InvalidInput(f"{here}: expected {{type: ..., value: ...}}, got {given!r}.")
        kind = str(given["type"]).upper()
        if kind not in REQIF_TYPES:
            raise InvalidInput(f"{here}.type: {expected_one_of('type', kind, REQIF_TYPES)}")
        found: Any = given["value"]
        allowed = _KINDS[kind]
        if not isinstance(found, allowed) or (kind != "BOOLEAN" and isinstance(found, bool)):
            raise InvalidInput(
                f"{here}.value: expected {kind} ({' or '.join(t.__name__ for t in allowed)}), "
                f"got {found!r}."
            )
        if isinstance(found, list) and not all(isinstance(v, str) for v in found):
            raise InvalidInput(f"{here}.value: an ENUMERATION value is a list of names.")
        out[str(name)] = {"type": kind, "value": found}
    return out


def _relations(value: Any, where: str) -> tuple[dict[str, str], ...]:
    """A requirements tool's relations that are not derivations, as files carry them: a list of
    ``{type, target}`` (JSON text in a CSV cell), the type its ReqIF relation type's name."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: not valid JSON ({exc.msg}).") from None
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidInput(f"{where}: expected a list of {{type, target}}, got {value!r}.")
    out: list[dict[str, str]] = []
    for index, given in enumerate(value):
        ok = isinstance(given, Mapping) and set(given) == {"type", "target"}
        if not ok or not all(isinstance(v, str) and v.strip() for v in given.values()):
            raise InvalidInput(
                f"{where}[{index}]: expected {{type: <relation type>, target: <requirement id>}}, "
                f"got {given!r}."
            )
        found = {"type": given["type"].strip(), "target": given["target"].strip()}
        if found not in out:
            out.append(found)
    return tuple(out)


def _system_parents(entry: Mapping[str, Any], where: str) -> tuple[str | None, tuple[str, ...]]:
    """A system requirement's parent (its place in the tree) and, when it is derived from
    several, all of them, the parent first: ``parent: A`` with ``derived_from: [B]`` and
    ``derived_from: [A, B]`` alike read as parent A, derived from A and B."""
    given = _text(entry, "parent", where)
    named = _names(entry.get("derived_from"), f"{where}.derived_from")
    parents = tuple(dict.fromkeys((*([given] if given else []), *named)))
    return (parents[0] if parents else None), (parents if len(parents) > 1 else ())


def _requirement_id(entry: Mapping[str, Any], level: str, where: str) -> str:
    """The entry's id, once the entry is a mapping of a known level."""
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"{where}: expected a mapping with id, title, …")
    if level not in LEVELS:
        raise InvalidInput(f"{where}.level: {expected_one_of('level', level, LEVELS)}")
    rid = _text(entry, "id", where, required=True)
    if not ID_PATTERN.match(rid):
        raise InvalidInput(
            f"{where}.id: {rid!r} is not a requirement id. Expected letters, digits, '.', '_' or "
            "'-' (at most 64), such as SYS-1 or ML-12."
        )
    return rid


def _check_keys(entry: Mapping[str, Any], level: str, where: str) -> None:
    allowed = SYSTEM_KEYS if level == "system" else ML_KEYS
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        shown = sorted(allowed - {"absent_slice", "level"})
        raise InvalidInput(
            f"{where}: unknown field(s) {', '.join(unknown)}. Expected some of: {', '.join(shown)}."
        )


def _ml_requirement(
    entry: Mapping[str, Any], common: Mapping[str, Any], category: str, where: str
) -> Requirement:
    """The ML fields, checked in the order a reader fixes them: links, metric and scope, the
    check (comparator, threshold or relative form), evidence, window, an absent slice."""
    derived = _derived_from(entry, where)
    if not any(entry.get(k) not in (None, "", []) for k in _CHECK_KEYS):
        return _no_check(common, category, derived)
    metric = _text(entry, "metric", where, required=True)
    slices = _slices(entry, where)
    relative_to = _text(entry, "relative_to", where) or None
    comparator = _comparator(entry, metric, where)
    threshold = _float(entry, "threshold", where)
    tolerance = _float(entry, "tolerance", where)
    derivation, derived_threshold = _derivation(entry, metric, where)
    if threshold is None:
        threshold = derived_threshold
    _check_target(relative_to, threshold, tolerance, where)
    evidence = _evidence(entry, metric, where)
    window = _window_days(entry, where)
    absent = _text(entry, "if_slice_absent", where) or _text(entry, "absent_slice", where)
    absent = absent or "no_evidence"
    if absent not in ABSENT:
        raise InvalidInput(f"{where}.if_slice_absent: {expected_one_of('value', absent, ABSENT)}")
    return Requirement(
        **common,
        category=category or _ml_category(metric),
        derived_from=tuple(dict.fromkeys(derived)),
        metric=metric,
        slices=slices,
        relative_to=normalize_slice(relative_to) if relative_to else None,
        tolerance=tolerance if relative_to else None,
        comparator=comparator,
        threshold=threshold if relative_to is None else None,
        model=_text(entry, "model", where) or None,
        evidence=evidence,
        window_days=int(window) if window else (30 if "monitoring" in evidence else None),
        absent_slice=absent,
        min_n=_min_n(entry, where),
        fail_when_inconclusive=_flag(entry, "fail_when_inconclusive", where),
        derivation=derivation,
    )


_CHECK_KEYS = ("metric", "threshold", "comparator", "relative_to", "derivation", "slices", "slice")


def _no_check(common: Mapping[str, Any], category: str, derived: Sequence[str]) -> Requirement:
    """An ML requirement written in a requirements tool before anyone gave it a Loopline check:
    kept (shown "no check yet", with no evidence to look for) until one is added."""
    return Requirement(
        **common,
        category=category or ML_CATEGORIES[0],
        derived_from=tuple(dict.fromkeys(derived)),
        evidence=(),
    )


def _derived_from(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    derived = _names(entry.get("derived_from"), f"{where}.derived_from")
    if not derived:
        raise InvalidInput(
            f"{where}.derived_from: an ML requirement must name the system requirement(s) it "
            "is derived from.",
            hint="add derived_from: [SYS-1]",
        )
    return derived


def _slices(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """``slices`` and ``slice`` together, normalised, each once."""
    slices = tuple(normalize_slice(s) for s in _names(entry.get("slices"), f"{where}.slices"))
    if entry.get("slice") not in (None, ""):
        slices += tuple(normalize_slice(s) for s in _names(entry.get("slice"), f"{where}.slice"))
    return tuple(s for s in dict.fromkeys(slices) if s)


def _comparator(entry: Mapping[str, Any], metric: str, where: str) -> str:
    comparator = _text(entry, "comparator", where) or default_comparator(metric)
    comparator = _COMPARATOR_WORDS.get(comparator, comparator)
    if comparator not in COMPARATORS:
        raise InvalidInput(
            f"{where}.comparator: {expected_one_of('comparator', comparator, COMPARATORS)}"
        )
    return comparator


def _derivation(
    entry: Mapping[str, Any], metric: str, where: str
) -> tuple[dict[str, Any] | None, float | None]:
    """The derivation (a mapping, or its JSON text in a CSV/ReqIF cell) and the threshold it
    computes; (None, None) without one."""
    data = entry.get("derivation")
    if isinstance(data, str) and data.strip():
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}.derivation: not valid JSON ({exc.msg}).") from None
    if not (isinstance(data, Mapping) and data):
        return None, None
    done = derive(str(data.get("kind", "")), data, metric)
    return done.as_dict(), done.threshold


def _check_target(
    relative_to: str | None, threshold: float | None, tolerance: float | None, where: str
) -> None:
    """Either a threshold or the relative form (another slice minus a tolerance ≥ 0)."""
    if relative_to is not None and threshold is not None:
        raise InvalidInput(
            f"{where}: give either a threshold or relative_to (the relative form compares with "
            "another slice's value minus a tolerance), not both.",
            hint="split it into two requirements",
        )
    if relative_to is None and threshold is None:
        raise InvalidInput(
            f"{where}.threshold: missing.",
            hint="give a threshold, a derivation to compute it, or relative_to for the relative form",
        )
    if tolerance is not None and tolerance < 0:
        raise InvalidInput(f"{where}.tolerance: must be 0 or more, got {tolerance:g}.")


def _evidence(entry: Mapping[str, Any], metric: str, where: str) -> tuple[str, ...]:
    """The evidence sources (production by default), each known and one able to record ``metric``."""
    evidence = _names(entry.get("evidence"), f"{where}.evidence") or ("production",)
    for source in evidence:
        if source not in EVIDENCE:
            raise InvalidInput(f"{where}.evidence: {expected_one_of('evidence', source, EVIDENCE)}")
    possible = metric_sources(metric)
    if not any(source in possible for source in evidence):
        raise InvalidInput(
            f"{where}.evidence: {metric} is recorded by {', '.join(possible)}, not by "
            f"{', '.join(evidence)}.",
            hint=f"use evidence: {possible[0]}",
        )
    return tuple(dict.fromkeys(evidence))


def _window_days(entry: Mapping[str, Any], where: str) -> float | None:
    window = _float(entry, "window_days", where)
    if window is not None and (window < 1 or window > 3660 or not float(window).is_integer()):
        raise InvalidInput(
            f"{where}.window_days: expected whole days from 1 to 3660, got {window:g}."
        )
    return window


def _min_n(entry: Mapping[str, Any], where: str) -> int | None:
    """The smallest sample a verdict is drawn from (None: the default of the metric's kind)."""
    value = _float(entry, "min_n", where)
    if value is not None and (value < 0 or value > 1e9 or not float(value).is_integer()):
        raise InvalidInput(
            f"{where}.min_n: expected a whole number of items from 0 to 1,000,000,000, "
            f"got {value:g}.",
            hint="leave it out for the default of the metric's kind (30 for a rate)",
        )
    return int(value) if value is not None else None


_YES, _NO = ("true", "yes", "1", "on"), ("false", "no", "0", "off", "")


def _flag(entry: Mapping[str, Any], key: str, where: str) -> bool:
    raw = entry.get(key)
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, float) and math.isnan(raw):
        return False
    text = str(raw).strip().lower()
    if text in _YES or text in _NO:
        return text in _YES
    raise InvalidInput(f"{where}.{key}: expected true or false, got {raw!r}.")


def default_category(level: str, metric: str | None) -> str:
    """The category a requirement gets when its entry names none."""
    if level == "system":
        return "reliability"
    return _ml_category(metric) if metric else ML_CATEGORIES[0]


def _ml_category(metric: str) -> str:
    name = base_metric(metric)
    if name.startswith(("latency", "batch_latency")):
        return "latency"
    if name.startswith(("training_time", "model_size")):
        return "training"
    if name == "label_agreement":
        return "labeling"
    if name.startswith(("missing_rate", "drift")):
        return "data quality"
    return ML_CATEGORIES[0]


def parse_document(
    data: Any, source: str, project: str | None = None
) -> tuple[str, list[Requirement]]:
    """``{project, system: [...], ml: [...]}`` (the YAML layout) → the project and its requirements."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{source}: expected a mapping with project, system and ml.",
            hint="see docs/traceability.md for the file layout",
        )
    unknown = sorted(str(k) for k in data if k not in ("project", "system", "ml", "version"))
    if unknown:
        raise InvalidInput(
            f"{source}: unknown key(s) {', '.join(unknown)}. Expected: project, system, ml."
        )
    named = str(data.get("project") or "").strip()
    chosen = project or named
    if not chosen:
        raise InvalidInput(
            f"{source}: which project? The file has no 'project:' key.",
            hint="add project: NAME to the file or pass --project NAME",
        )
    if project and named and named != project:
        raise InvalidInput(
            f"{source}: the file is for project {named!r}, not {project!r}.",
            hint="drop --project or fix the file's project key",
        )
    items: list[Requirement] = []
    for level in ("system", "ml"):
        entries = data.get(level) or []
        if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
            raise InvalidInput(f"{source}: {level}: expected a list of requirements.")
        for index, entry in enumerate(entries):
            items.append(parse_entry(entry, chosen, level, f"{source}: {level}[{index}]"))
    return chosen, items


def validate_set(
    requirements: Iterable[Requirement], spec: ProjectSpec | None, source: str
) -> None:
    """Cross-checks over a whole set: unique ids, known parents and links, no cycles, known
    slices, classes and span types for the project."""
    items = list(requirements)
    seen: dict[str, Requirement] = {}
    for item in items:
        if item.requirement_id in seen:
            raise InvalidInput(f"{source}: {item.requirement_id} appears more than once.")
        seen[item.requirement_id] = item
    systems = {r.requirement_id for r in items if r.level == "system"}
    for item in items:
        if item.level == "system" and item.parent is not None and item.parent not in systems:
            raise InvalidInput(
                f"{source}: {item.requirement_id}.parent: no system requirement {item.parent!r}.",
                hint=_known("system requirements", systems),
            )
        # an ML requirement is derived from system requirements or refines other ML ones (a
        # refinement chain, as DOORS modules hold them); a system requirement from systems only
        allowed = systems if item.level == "system" else set(seen)
        for target in item.derived_from:
            if target not in allowed:
                what = (
                    "system requirement" if item.level == "system" else "system or ML requirement"
                )
                raise InvalidInput(
                    f"{source}: {item.requirement_id}.derived_from: no {what} {target!r}.",
                    hint=_known(f"{what}s", allowed),
                )
    _check_cycles({r.requirement_id: r.parents for r in items}, source)
    if spec is not None:
        for item in items:
            if item.has_check:
                _check_scope(item, spec, source)


def _check_cycles(parents: Mapping[str, Sequence[str]], source: str) -> None:
    """No requirement is (through its parents, system or ML) derived from itself."""
    done: set[str] = set()

    def visit(node: str, walk: list[str]) -> None:
        for up in parents.get(node, ()):
            if up in walk:
                raise InvalidInput(
                    f"{source}: the parents of {walk[0]} form a cycle: {' → '.join([*walk, up])}."
                )
            if up not in done:
                visit(up, [*walk, up])
        done.add(node)

    for start in parents:
        if start not in done:
            visit(start, [start])


def _check_scope(item: Requirement, spec: ProjectSpec, source: str) -> None:
    where = f"{source}: {item.requirement_id}"
    spans = spec.labels.spans.types if spec.labels.spans else ()
    problem = metric_problem(str(item.metric), spec.labels.classes, spans, spec.column_names)
    if problem:
        raise InvalidInput(f"{where}.metric: {problem}")
    names = [s.name for s in spec.slices]
    if base_metric(str(item.metric)) == BEHAVE_METRIC:
        names = [BEHAVE_SLICE]  # a behavioural test's pass rate: slice "test = NAME"
    for text in (*item.slices, *([item.relative_to] if item.relative_to else [])):
        parsed = parse_slice(text)
        if parsed is None:
            raise InvalidInput(
                f"{where}: {text!r} is not a slice. Expected '<slice> = <value>', such as "
                f"'{names[0] if names else 'language'} = de'."
            )
        if parsed[0] not in names:
            raise InvalidInput(f"{where}: {expected_one_of('slice', parsed[0], names)}")
    if item.model not in (None, spec.name):
        raise InvalidInput(
            f"{where}.model: {item.model!r} is not a model of {spec.name!r}.",
            hint=f"leave model empty or write {spec.name}",
        )


def _known(what: str, names: Iterable[str]) -> str:
    listed = sorted(names)
    return f"known {what}: {', '.join(listed[:20])}" if listed else f"there are no {what} yet"
