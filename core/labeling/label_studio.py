"""Label Studio's JSON export format, both ways: reading an export (with the project's labeling
config and an optional mapping of names), and writing one its own converter reads back as the
same rows (original task ids and data, one annotation per annotator, the config's names).

A config may hold several controls (nested ``<View>`` tags, controls on different objects): one
``<Choices>`` gives the project's class, the ``<Labels>`` on the project's span field give its
span types, and every other control is ignored, said so, and its results written back on export
as they were.

Only the format lives here; storing what was read is ``core.labeling.interchange``'s job.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeXml
import pandas as pd
import yaml
from defusedxml import DefusedXmlException

from core.errors import InvalidInput
from core.spans.detect import Span

MAX_IMPORT_BYTES = 200 << 20
MAX_PROBLEMS = 50
RECORD_COLUMNS = ["item_id", "annotator", "label", "spans", "ground_truth"]
MAPPING_KEYS = ("item_id", "classes", "span_types", "class_control")
CONFIG_HINT = "use the config from Label Studio's Settings → Labeling Interface → Code"


@dataclass(frozen=True)
class Control:
    """A control tag of the labeling config (``<Choices>``, ``<Labels>``, ``<TextArea>`` …): its
    name, the object(s) it labels and, for choices and labels, its values."""

    name: str
    to_name: str
    values: tuple[str, ...]
    tag: str = "Choices"
    to_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelConfig:
    """A labeling config's controls in document order, and its objects (object name → the data
    field it shows, ``$text`` → ``text``)."""

    controls: tuple[Control, ...] = ()
    objects: Mapping[str, str] = field(default_factory=dict)

    def of(self, tag: str) -> list[Control]:
        return [c for c in self.controls if c.tag == tag]

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)


@dataclass(frozen=True)
class NameMapping:
    """How the export's names meet the project's: the data field naming the item, Label Studio's
    choice and label values → the project's classes and span types, and (for a config with
    several ``<Choices>``) the one that holds the class."""

    item_id: str | None = None
    classes: Mapping[str, str] = field(default_factory=dict)
    span_types: Mapping[str, str] = field(default_factory=dict)
    class_control: str | None = None


@dataclass(frozen=True)
class LsTask:
    ls_id: Any
    item_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ParsedExport:
    """What an export holds, in the project's names: its tasks, one record per kept annotation
    (item_id, annotator, label, spans, ground_truth), the names to write back, and a note for
    each control that was not imported."""

    tasks: tuple[LsTask, ...]
    records: pd.DataFrame
    names: Mapping[str, Any]
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class ControlPlan:
    """Which controls of a config become what: the class control, the span controls, and why
    each other control is ignored."""

    class_control: Control | None
    span_controls: tuple[Control, ...]
    ignored: Mapping[str, str]


# --- the labeling config and the mapping ---------------------------------------------------------


def read_label_config(raw: bytes | str) -> LabelConfig:
    """Every control of a labeling config (XML with no DTD, no entities: a config with either is
    refused), wherever it is nested, and the objects the controls point at."""
    try:
        root = SafeXml.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidInput(
            f"The labeling config is refused: it declares a DTD or entities ({type(exc).__name__}).",
            hint=CONFIG_HINT,
        ) from exc
    except (ElementTree.ParseError, ValueError) as exc:
        raise InvalidInput(
            f"The labeling config is not well-formed XML: {exc}.", hint=CONFIG_HINT
        ) from exc
    objects = {
        str(e.get("name")): str(e.get("value"))[1:]
        for e in root.iter()
        if e.get("name") and str(e.get("value") or "").startswith("$") and not e.get("toName")
    }
    controls = [_control(e) for e in root.iter() if e.get("name") and e.get("toName")]
    _check_controls(controls, objects)
    return LabelConfig(tuple(controls), objects)


def _control(element: Any) -> Control:
    to_names = tuple(n.strip() for n in str(element.get("toName")).split(",") if n.strip())
    values = tuple(
        str(child.get("value") or child.get("alias") or "")
        for child in element.iter()
        if child.tag in ("Choice", "Label")
    )
    name = str(element.get("name"))
    return Control(name, to_names[0] if to_names else "", values, str(element.tag), to_names)


def _check_controls(controls: Sequence[Control], objects: Mapping[str, str]) -> None:
    names = [c.name for c in controls]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(
            f"The labeling config names several controls {', '.join(map(repr, twice))}; "
            "Label Studio needs each control's name to be unique.",
            hint=CONFIG_HINT,
        )
    for control in controls:
        unknown = [n for n in control.to_names if n not in objects and n not in names]
        if unknown:
            raise InvalidInput(
                f"The labeling config's <{control.tag} name={control.name!r}> points at "
                f"{', '.join(map(repr, unknown))}, which no object of the config names "
                f"(objects: {', '.join(objects) or 'none'}).",
                hint=CONFIG_HINT,
            )
    if not any(c.tag == "Choices" for c in controls):
        raise InvalidInput(
            "The labeling config has no <Choices> control; a Loopline project needs a class per item."
        )


def plan_controls(
    config: LabelConfig,
    classes: Sequence[str] | None,
    span_types: Sequence[str] | None,
    span_field: str | None,
    mapping: NameMapping,
) -> ControlPlan:
    """The class control (the only ``<Choices>``, the one the mapping names, else the one whose
    values match most of the project's classes), the ``<Labels>`` on the project's span field,
    and every other control with the reason it is ignored."""
    chosen = _class_control(config, classes, mapping)
    ignored: dict[str, str] = {}
    spans: list[Control] = []
    for control in config.controls:
        if control is chosen:
            continue
        if control.tag == "Choices":
            ignored[control.name] = f"the class comes from <Choices name={chosen.name!r}>"
            continue
        if control.tag != "Labels":
            ignored[control.name] = f"Loopline has no counterpart for <{control.tag}>"
            continue
        fields = [config.objects.get(n, n) for n in control.to_names]
        if not span_types:
            ignored[control.name] = "the project has no span types"
        elif span_field is not None and span_field not in fields:
            shown = ", ".join(f"${f}" for f in fields)
            ignored[control.name] = (
                f"it marks spans in {shown}, not in the project's span field {span_field!r}"
            )
        else:
            spans.append(control)
    return ControlPlan(chosen, tuple(spans), ignored)


def _class_control(
    config: LabelConfig, classes: Sequence[str] | None, mapping: NameMapping
) -> Control:
    choices = config.of("Choices")
    if mapping.class_control is not None:
        named = next((c for c in choices if c.name == mapping.class_control), None)
        if named is None:
            raise InvalidInput(
                f"The mapping's class_control {mapping.class_control!r} is no <Choices> of the "
                f"labeling config ({', '.join(c.name for c in choices)})."
            )
        return named
    if len(choices) == 1 or classes is None:
        return choices[0]
    scores = {c.name: _match_score(c, classes, mapping) for c in choices}
    best = max(scores.values())
    top = [c for c in choices if scores[c.name] == best]
    listed = "; ".join(f"{c.name}: {', '.join(c.values)}" for c in choices)
    if best == (0, 0):
        raise InvalidInput(
            f"None of the labeling config's <Choices> controls ({listed}) has values matching "
            f"the project's classes ({', '.join(classes)}).",
            hint="name the class control and map its values in a mapping file "
            "(class_control: NAME, classes: {LS value: class}) and pass it with --mapping",
        )
    if len(top) > 1:
        raise InvalidInput(
            f"Several <Choices> controls of the labeling config could hold the class "
            f"({', '.join(c.name for c in top)}).",
            hint="name the one in a mapping file (class_control: NAME) and pass it with --mapping",
        )
    return top[0]


def _match_score(control: Control, classes: Sequence[str], mapping: NameMapping) -> tuple[int, int]:
    """How many of a control's values are the project's classes: as mapped, then but for case."""
    folded = {_fold(c) for c in classes}
    exact = sum(mapping.classes.get(v, v) in classes for v in control.values)
    return exact, sum(_fold(v) in folded for v in control.values)


def read_mapping(raw: bytes | str) -> NameMapping:
    """A mapping file (YAML): ``item_id: FIELD``, ``classes: {LS value: class}``,
    ``span_types: {LS label: span type}``, ``class_control: NAME``."""
    try:
        loaded = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The mapping file is not valid YAML: {exc}.") from exc
    if not isinstance(loaded, dict):
        raise InvalidInput(
            "The mapping file must be a YAML mapping (item_id, classes, span_types, class_control)."
        )
    unknown = sorted(set(map(str, loaded)) - set(MAPPING_KEYS))
    if unknown:
        raise InvalidInput(
            f"Unknown key(s) in the mapping file: {', '.join(unknown)}. "
            f"Expected: {', '.join(MAPPING_KEYS)}."
        )
    for key in ("classes", "span_types"):
        value = loaded.get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str | int) and isinstance(v, str | int) for k, v in value.items()
        ):
            raise InvalidInput(f"The mapping file's {key!r} must map names to names.")
    for key in ("item_id", "class_control"):
        if isinstance(loaded.get(key), dict | list):
            raise InvalidInput(f"The mapping file's {key!r} must be a single name.")
    item_id, control = loaded.get("item_id"), loaded.get("class_control")
    return NameMapping(
        None if item_id is None else str(item_id),
        {str(k): str(v) for k, v in (loaded.get("classes") or {}).items()},
        {str(k): str(v) for k, v in (loaded.get("span_types") or {}).items()},
        None if control is None else str(control),
    )


# --- reading an export ---------------------------------------------------------------------------


def load_export(raw: bytes, name: str = "the file") -> list[Any]:
    """The export's list of tasks: UTF-8 JSON (a byte-order mark is allowed), at most 200 MiB."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"The file is {len(raw) >> 20} MiB; imports take at most {MAX_IMPORT_BYTES >> 20} MiB."
        )
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvalidInput(
            f"{name} is UTF-16 text; Label Studio exports are UTF-8.",
            hint="export again from Label Studio, or save the file as UTF-8",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
            "Label Studio exports are UTF-8.",
            hint="export again from Label Studio, or save the file as UTF-8",
        ) from exc
    try:
        tasks = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInput(
            f"Not a Label Studio JSON export: {reason}.",
            hint="export with Label Studio's 'JSON' format",
        ) from exc
    if not isinstance(tasks, list):
        raise InvalidInput("Not a Label Studio JSON export: expected a list of tasks.")
    return tasks


def annotator_name(completed_by: Any) -> str | None:
    """``completed_by`` as Label Studio writes it (a user id, or an object with email / username /
    id; absent in hand-made files) → the annotator's name; None if it is none of these."""
    if completed_by is None:
        return "label-studio"
    if isinstance(completed_by, dict):
        name = completed_by.get("email") or completed_by.get("username")
        if isinstance(name, str) and name:
            return name
        user_id = completed_by.get("id")
        return f"ls-user-{user_id}" if isinstance(user_id, int) else None
    if isinstance(completed_by, bool):
        return None
    if isinstance(completed_by, int):
        return f"ls-user-{completed_by}"
    if isinstance(completed_by, str) and completed_by:
        return completed_by
    return None


def parse_export(
    raw: bytes,
    id_column: str,
    classes: Sequence[str] | None,
    span_types: Sequence[str] | None,
    *,
    config: LabelConfig | None = None,
    mapping: NameMapping | None = None,
    span_field: str | None = None,
    name: str = "the file",
) -> ParsedExport:
    """An export → tasks, records in the project's names, the names to write back and the
    controls not imported (``classes`` or ``span_types`` None: any value is taken as it is).
    Every problem is gathered; any problem refuses the whole file."""
    mapping = mapping or NameMapping()
    plan = (
        plan_controls(config, classes, span_types, span_field, mapping)
        if config is not None
        else None
    )
    reader = _Reader(id_column, classes, span_types, plan, mapping)
    for index, task in enumerate(load_export(raw, name)):
        reader.task(index, task)
    reader.check_values()
    if reader.problems:
        raise InvalidInput(
            f"The Label Studio file has {len(reader.problems)} problem(s); nothing was imported: "
            + "; ".join(reader.problems[:MAX_PROBLEMS]),
            hint=reader.hint,
        )
    records = pd.DataFrame(reader.records, columns=RECORD_COLUMNS)
    if not records.empty:
        records["label"] = records["label"].map(reader.class_of)
        records["spans"] = records["spans"].map(
            lambda spans: [Span(s.start, s.end, reader.span_type_of(s.type), s.text) for s in spans]
        )
    return ParsedExport(tuple(reader.tasks), records, reader.names(), reader.ignored())


class _Reader:
    """Reads tasks one by one, gathering records, the names seen and every problem. With a
    config, a result's control is known by its ``from_name``; without one, by its type (one
    choices control, one labels control)."""

    def __init__(
        self,
        id_column: str,
        classes: Sequence[str] | None,
        span_types: Sequence[str] | None,
        plan: ControlPlan | None,
        mapping: NameMapping,
    ) -> None:
        self.id_fields = [f for f in (mapping.item_id, id_column, "item_id") if f]
        self.classes, self.span_types = classes, span_types
        self.plan, self.mapping = plan, mapping
        self.records: list[dict[str, Any]] = []
        self.tasks: list[LsTask] = []
        self.problems: list[str] = []
        self.hint = "export with Label Studio's 'JSON' format"
        self.seen: dict[str, set[tuple[str, str]]] = {"choices": set(), "labels": set()}
        self.values: dict[str, set[str]] = {"choices": set(), "labels": set()}
        self.by_control: dict[str, set[str]] = {}
        self.stray: dict[str, set[tuple[str, str]]] = {"choices": set(), "labels": set()}
        self.other: dict[str, str] = {}  # results not read (no config): from_name → type
        self.span_controls: dict[str, tuple[str, str]] = {}  # label value → its control
        self.controls_seen: dict[str, set[str]] = {"choices": set(), "labels": set()}
        self.items: set[str] = set()
        self.mappings: list[str] = []

    def task(self, index: int, task: Any) -> None:
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            self.problems.append(f"task {index}: no 'data' object")
            return
        ls_id = task.get("id")
        item_id = next((data[f] for f in self.id_fields if data.get(f) is not None), ls_id)
        if item_id is None or isinstance(item_id, dict | list | bool):
            self.problems.append(
                f"task {index}: data has no {self.id_fields[0]!r} (or 'item_id') to name the item"
            )
            return
        item_id = str(item_id)
        if item_id in self.items:
            self.problems.append(f"task {index}: item {item_id!r} appears in two tasks")
            return
        self.items.add(item_id)
        self.tasks.append(LsTask(ls_id, item_id, data))
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            self.problems.append(f"task {index} (item {item_id}): 'annotations' is not a list")
            return
        for number, annotation in enumerate(annotations):
            self.annotation(
                f"task {index} (item {item_id}), annotation {number}", item_id, annotation
            )

    def annotation(self, where: str, item_id: str, annotation: Any) -> None:
        if not isinstance(annotation, dict):
            self.problems.append(f"{where}: not an object")
            return
        if annotation.get("was_cancelled") or annotation.get("skipped"):
            return
        annotator = annotator_name(annotation.get("completed_by"))
        if annotator is None:
            self.problems.append(
                f"{where}: 'completed_by' is neither a user id nor an object with an email or id"
            )
            return
        label, spans, problems = self.results(annotation.get("result") or [], where)
        self.problems.extend(problems)
        if problems:
            return
        if label is None:
            self.problems.append(f"{where}: an annotation without a choice")
            return
        self.records.append(
            {
                "item_id": item_id,
                "annotator": annotator,
                "label": label,
                "spans": spans,
                "ground_truth": bool(annotation.get("ground_truth")),
            }
        )

    def results(self, results: Any, where: str) -> tuple[str | None, list[Span], list[str]]:
        """An annotation's ``result`` list → (choice value, spans, problems), checking each."""
        if not isinstance(results, list):
            return None, [], [f"{where}: 'result' is not a list"]
        label: str | None = None
        spans: list[Span] = []
        problems: list[str] = []
        for number, result in enumerate(results):
            here = f"{where}, result {number}"
            if not isinstance(result, dict):
                problems.append(f"{here}: not an object")
                continue
            kind, value = result.get("type"), result.get("value")
            if not isinstance(value, dict):
                problems.append(f"{here}: 'value' is not an object")
                continue
            names = (str(result.get("from_name")), str(result.get("to_name")))
            if self.role(str(kind), names) is None or not value.get(str(kind)):
                continue  # a control Loopline does not import: kept for the export
            self.controls_seen[str(kind)].add(names[0])
            values = value[str(kind)]
            if not isinstance(values, list):
                problems.append(f"{here}: 'value.{kind}' is not a list")
                continue
            if len(values) != 1 or not isinstance(values[0], str):
                problems.append(f"{here}: 'value.{kind}' must hold exactly one name")
                continue
            self.seen[str(kind)].add(names)
            self.values[str(kind)].add(values[0])
            self.by_control.setdefault(names[0], set()).add(values[0])
            if kind == "choices":
                label = values[0]
                continue
            self.span_controls.setdefault(values[0], names)
            try:
                start, end = value["start"], value["end"]
                if not (isinstance(start, int) and isinstance(end, int)):
                    raise TypeError
                spans.append(Span(start, end, values[0], str(value.get("text") or "")))
            except (KeyError, TypeError):
                problems.append(f"{here}: a span without whole-number 'start' and 'end'")
        return label, spans, problems

    def role(self, kind: str, names: tuple[str, str]) -> str | None:
        """What a result is to Loopline: 'choices' (the class), 'labels' (a span), or None (not
        imported: another control, or one the config does not have — noted)."""
        if self.plan is None:
            if kind in ("choices", "labels"):
                return kind
            self.other.setdefault(names[0], kind)
            return None
        chosen = self.plan.class_control
        if chosen is not None and names[0] == chosen.name and kind == "choices":
            return kind
        if kind == "labels" and names[0] in {c.name for c in self.plan.span_controls}:
            return kind
        if names[0] not in self.plan.ignored and kind in ("choices", "labels"):
            self.stray[kind].add(names)
        return None

    def check_values(self) -> None:
        """The names seen against the config's, and the values against the project's."""
        if self.plan is None:
            several = [
                f"results name several {kind} controls ({', '.join(sorted(seen))}); "
                "pass the labeling config"
                for kind, seen in self.controls_seen.items()
                if len(seen) > 1
            ]
            if several:  # which is the class is unknown: every other problem would mislead
                self.problems = several
                self.hint = "pass the project's labeling config with --config"
                return
        else:
            self.check_config()
        self.unmatched("choice", self.values["choices"], self.mapping.classes, self.classes)
        self.unmatched("label", self.values["labels"], self.mapping.span_types, self.span_types)

    def check_config(self) -> None:
        """Results whose control the config lacks, and values a control does not offer."""
        assert self.plan is not None
        chosen = self.plan.class_control
        wanted = {"choices": [chosen] if chosen else [], "labels": list(self.plan.span_controls)}
        for kind, tag in (("choices", "Choices"), ("labels", "Labels")):
            stray = [f"{f} → {t}" for f, t in sorted(self.stray[kind])]
            if stray:
                listed = ", ".join(f"{c.name} → {c.to_name}" for c in wanted[kind]) or "none"
                self.problems.append(
                    f"{kind} result(s) named {', '.join(stray)} are not in the labeling config, "
                    f"whose <{tag}> is {listed}"
                )
            for control in wanted[kind]:
                off = sorted(self.by_control.get(control.name, set()) - set(control.values))
                if off:
                    self.problems.append(
                        f"{kind} value(s) {', '.join(map(repr, off))} are not in the config's "
                        f"<{tag} name={control.name!r}> ({', '.join(control.values)})"
                    )

    def unmatched(
        self, what: str, values: set[str], mapped: Mapping[str, str], allowed: Sequence[str] | None
    ) -> None:
        if allowed is None:
            return
        missing = sorted(v for v in values if mapped.get(v, v) not in allowed)
        if missing:
            kind = "classes" if what == "choice" else "span types"
            self.problems.append(
                f"Label Studio {what} value(s) {', '.join(map(repr, missing))} match none of the "
                f"project's {kind} ({', '.join(allowed) or 'none'})"
            )
            key = "classes" if what == "choice" else "span_types"
            pairs = ", ".join(f"{v}: {_closest(v, allowed)}" for v in missing)
            self.mappings.append(f"{key}: {{{pairs}}}")
            self.hint = f"map them in a mapping file ({'; '.join(self.mappings)}) and pass it with --mapping"

    def class_of(self, value: str) -> str:
        return self.mapping.classes.get(value, value)

    def span_type_of(self, value: str) -> str:
        return self.mapping.span_types.get(value, value)

    def ignored(self) -> tuple[str, ...]:
        """One line per control not imported, saying why."""
        if self.plan is None:
            return tuple(
                f"results of {name!r} ({kind}) are not imported: Loopline reads choices and labels"
                for name, kind in sorted(self.other.items())
            )
        return tuple(
            f"control {name!r} is not imported: {why}" for name, why in self.plan.ignored.items()
        )

    def names(self) -> dict[str, Any]:
        """The control names and values to write back, keyed by the project's names."""
        out: dict[str, Any] = {}
        controls = self._written_controls()
        for kind in ("choices", "labels"):
            seen = sorted(self.seen[kind])
            control = controls[kind][0] if controls[kind] else None
            pair: tuple[str, str] | None = seen[0] if seen else None
            if control is not None:
                own = [s for s in seen if s[0] == control.name]
                pair = own[0] if own else (control.name, control.to_name)
            out[kind] = list(pair) if pair else None
        out["classes"] = {self.class_of(v): v for v in sorted(self.values["choices"])}
        out["span_types"] = {self.span_type_of(v): v for v in sorted(self.values["labels"])}
        out["label_values"] = {v: self.span_type_of(v) for v in sorted(self.values["labels"])}
        out["span_controls"] = {
            self.span_type_of(v): list(pair) for v, pair in sorted(self.span_controls.items())
        }
        out["imported"] = sorted(
            {f for kind in ("choices", "labels") for f, _ in self.seen[kind]}
            | {c.name for kind in ("choices", "labels") for c in controls[kind]}
        )
        return out

    def _written_controls(self) -> dict[str, list[Control]]:
        if self.plan is None:
            return {"choices": [], "labels": []}
        chosen = self.plan.class_control
        return {"choices": [chosen] if chosen else [], "labels": list(self.plan.span_controls)}


def _fold(value: str) -> str:
    return "".join(c for c in value.lower() if c.isalnum())


def _closest(value: str, allowed: Sequence[str]) -> str:
    """The allowed name equal to ``value`` but for case or separators, else the first."""
    same = [a for a in allowed if _fold(a) == _fold(value)]
    return (same or list(allowed) or ["…"])[0]


# --- writing an export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportAnnotation:
    """One annotator's current answer on an item, in the project's names."""

    annotator: str
    label: str
    spans: tuple[Span, ...]
    ground_truth: bool = False


def export_tasks(
    tasks: Sequence[LsTask],
    answers: Mapping[str, Sequence[ExportAnnotation]],
    names: Mapping[str, Any],
    original: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Label Studio tasks: each task's id and data as given, one annotation per annotator with
    ``names``' control names and values. ``original``: the export the tasks came from, whose
    annotations (matched by annotator) lend their ids, times, result ids and order, and the
    results of controls Loopline did not import."""
    before, cancelled = _original_annotations(original)
    out = []
    for task in tasks:
        done = before.get(str(task.ls_id), {})
        annotations = [
            _annotation(answer, names, done.get(answer.annotator), task, number)
            for number, answer in enumerate(answers.get(task.item_id, ()), start=1)
        ]
        annotations += cancelled.get(str(task.ls_id), [])  # skipped there, kept as they were
        out.append({"id": task.ls_id, "data": dict(task.data), "annotations": annotations})
    return out


def _original_annotations(
    original: Sequence[Any],
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """The original export's annotations by task and annotator, and its cancelled ones by task."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    cancelled: dict[str, list[dict[str, Any]]] = {}
    for task in original:
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled") or annotation.get("skipped"):
                cancelled.setdefault(str(task.get("id")), []).append(annotation)
                continue
            name = annotator_name(annotation.get("completed_by"))
            if name is not None:
                found.setdefault(str(task.get("id")), {})[name] = annotation
    return found, cancelled


def _annotation(
    answer: ExportAnnotation,
    names: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    task: LsTask,
    number: int,
) -> dict[str, Any]:
    """An answer as a Label Studio annotation: its class and spans in the config's names, the
    original's results of controls not imported as they were, in the original's order."""
    before = before or {}
    earlier = [r for r in before.get("result") or [] if isinstance(r, dict)]
    imported = set(names.get("imported") or ())
    result = [
        _class_result(answer, names, earlier, task),
        *_span_results(answer, names, earlier, task),
        *[r for r in earlier if imported and r.get("from_name") not in imported],
    ]
    position = {id(r): i for i, r in enumerate(earlier)}
    order = {r.get("id"): i for i, r in enumerate(earlier) if r.get("id") is not None}
    result.sort(key=lambda r: position.get(id(r), order.get(r.get("id"), 1 << 30)))
    kept = {k: before[k] for k in ("id", "created_at", "updated_at", "lead_time") if k in before}
    return {
        "id": kept.pop("id", number),
        "completed_by": before.get("completed_by") or {"email": answer.annotator},
        "result": result,
        "was_cancelled": False,
        "ground_truth": answer.ground_truth,
        **kept,
    }


def _class_result(
    answer: ExportAnnotation, names: Mapping[str, Any], earlier: Sequence[Any], task: LsTask
) -> dict[str, Any]:
    choices = names.get("choices") or ["label", "text"]
    value = (names.get("classes") or {}).get(answer.label, answer.label)
    same: Mapping[str, Any] = next(
        (r for r in earlier if r.get("type") == "choices" and r.get("from_name") == choices[0]),
        {},
    )
    return {
        "id": same.get("id") or f"{task.item_id}-label",
        "type": "choices",
        "from_name": choices[0],
        "to_name": same.get("to_name") or choices[1],
        "origin": same.get("origin") or "manual",
        "value": {"choices": [value]},
    }


def _span_results(
    answer: ExportAnnotation, names: Mapping[str, Any], earlier: Sequence[Any], task: LsTask
) -> list[dict[str, Any]]:
    """Each span as a labels result: the original result it repeats lends its control, value
    name and id; a new one takes the span type's control."""
    default = names.get("labels") or ["spans", (names.get("choices") or ["label", "text"])[1]]
    controls = names.get("span_controls") or {}
    values = names.get("span_types") or {}
    type_of = names.get("label_values") or {v: k for k, v in values.items()}
    out = []
    for index, span in enumerate(sorted(answer.spans, key=lambda s: (s.start, s.end))):
        same = _same_span(span, earlier, type_of, set(names.get("imported") or ()))
        control = controls.get(span.type) or default
        label = same["value"]["labels"][0] if same else values.get(span.type, span.type)
        out.append(
            {
                "id": (same or {}).get("id") or f"{task.item_id}-span{index}",
                "type": "labels",
                "from_name": (same or {}).get("from_name") or control[0],
                "to_name": (same or {}).get("to_name") or control[1],
                "origin": (same or {}).get("origin") or "manual",
                "value": {
                    "start": span.start,
                    "end": span.end,
                    "text": span.text,
                    "labels": [label],
                },
            }
        )
    return out


def _same_span(
    span: Span, earlier: Sequence[Any], type_of: Mapping[str, str], imported: set[str]
) -> dict[str, Any] | None:
    """The original labels result at the span's place and of its type, if any."""
    for result in earlier:
        value = result.get("value") if isinstance(result.get("value"), dict) else {}
        labels = value.get("labels") if isinstance(value.get("labels"), list) else [None]
        if (
            result.get("type") == "labels"
            and (not imported or result.get("from_name") in imported)
            and (value.get("start"), value.get("end")) == (span.start, span.end)
            and labels
            and type_of.get(str(labels[0]), str(labels[0])) == span.type
        ):
            return dict(result)
    return None
