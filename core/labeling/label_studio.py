"""Label Studio's JSON export format, both ways: reading an export (with the project's labeling
config and an optional mapping of names), and writing one its own converter reads back as the
same rows (original task ids and data, one annotation per annotator, the config's names).

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
MAPPING_KEYS = ("item_id", "classes", "span_types")
OBJECT_TAGS = ("Text", "HyperText", "Paragraphs")


@dataclass(frozen=True)
class Control:
    """A control tag of the labeling config: ``<Choices>`` or ``<Labels>``."""

    name: str
    to_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class LabelConfig:
    choices: Control | None = None
    labels: Control | None = None


@dataclass(frozen=True)
class NameMapping:
    """How the export's names meet the project's: the data field naming the item, and Label
    Studio's choice and label values → the project's classes and span types."""

    item_id: str | None = None
    classes: Mapping[str, str] = field(default_factory=dict)
    span_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LsTask:
    ls_id: Any
    item_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ParsedExport:
    """What an export holds, in the project's names: its tasks, one record per kept annotation
    (item_id, annotator, label, spans, ground_truth), and the names to write back."""

    tasks: tuple[LsTask, ...]
    records: pd.DataFrame
    names: Mapping[str, Any]


# --- the labeling config and the mapping ---------------------------------------------------------


def read_label_config(raw: bytes | str) -> LabelConfig:
    """The ``<Choices>`` and ``<Labels>`` controls of a labeling config (XML with no DTD, no
    entities: a config with either is refused)."""
    try:
        root = SafeXml.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidInput(
            f"The labeling config is refused: it declares a DTD or entities ({type(exc).__name__}).",
            hint="use the config from Label Studio's Settings → Labeling Interface → Code",
        ) from exc
    except (ElementTree.ParseError, ValueError) as exc:
        raise InvalidInput(
            f"The labeling config is not well-formed XML: {exc}.",
            hint="use the config from Label Studio's Settings → Labeling Interface → Code",
        ) from exc
    found: dict[str, list[Control]] = {"Choices": [], "Labels": []}
    for element in root.iter():
        if element.tag in found:
            values = tuple(
                str(child.get("value") or child.get("alias") or "")
                for child in element
                if child.tag in ("Choice", "Label")
            )
            found[element.tag].append(
                Control(str(element.get("name") or ""), str(element.get("toName") or ""), values)
            )
    for tag, controls in found.items():
        if len(controls) > 1:
            raise InvalidInput(
                f"The labeling config has {len(controls)} <{tag}> controls "
                f"({', '.join(c.name for c in controls)}); Loopline reads one class and one span control.",
            )
    if not found["Choices"]:
        raise InvalidInput(
            "The labeling config has no <Choices> control; a Loopline project needs a class per item."
        )
    labels = found["Labels"][0] if found["Labels"] else None
    return LabelConfig(found["Choices"][0], labels)


def read_mapping(raw: bytes | str) -> NameMapping:
    """A mapping file (YAML): ``item_id: FIELD``, ``classes: {LS value: class}``,
    ``span_types: {LS label: span type}``."""
    try:
        loaded = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The mapping file is not valid YAML: {exc}.") from exc
    if not isinstance(loaded, dict):
        raise InvalidInput(
            "The mapping file must be a YAML mapping (item_id, classes, span_types)."
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
    item_id = loaded.get("item_id")
    return NameMapping(
        None if item_id is None else str(item_id),
        {str(k): str(v) for k, v in (loaded.get("classes") or {}).items()},
        {str(k): str(v) for k, v in (loaded.get("span_types") or {}).items()},
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
    name: str = "the file",
) -> ParsedExport:
    """An export → tasks, records in the project's names, and the names to write back (``classes``
    or ``span_types`` None: any value is taken as it is). Every problem is gathered; any problem
    refuses the whole file."""
    reader = _Reader(id_column, classes, span_types, config, mapping or NameMapping())
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
    return ParsedExport(tuple(reader.tasks), records, reader.names())


class _Reader:
    """Reads tasks one by one, gathering records, the names seen and every problem."""

    def __init__(
        self,
        id_column: str,
        classes: Sequence[str] | None,
        span_types: Sequence[str] | None,
        config: LabelConfig | None,
        mapping: NameMapping,
    ) -> None:
        self.id_fields = [f for f in (mapping.item_id, id_column, "item_id") if f]
        self.classes, self.span_types = classes, span_types
        self.config, self.mapping = config, mapping
        self.records: list[dict[str, Any]] = []
        self.tasks: list[LsTask] = []
        self.problems: list[str] = []
        self.hint = "export with Label Studio's 'JSON' format"
        self.seen: dict[str, set[tuple[str, str]]] = {"choices": set(), "labels": set()}
        self.values: dict[str, set[str]] = {"choices": set(), "labels": set()}
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
            if kind not in ("choices", "labels") or not value.get(kind):
                continue  # other controls (ratings, text areas …) are not Loopline labels
            names = (str(result.get("from_name")), str(result.get("to_name")))
            values = value[kind]
            if not isinstance(values, list):
                problems.append(f"{here}: 'value.{kind}' is not a list")
                continue
            if len(values) != 1 or not isinstance(values[0], str):
                problems.append(f"{here}: 'value.{kind}' must hold exactly one name")
                continue
            self.seen[kind].add(names)
            self.values[kind].add(values[0])
            if kind == "choices":
                label = values[0]
                continue
            try:
                start, end = value["start"], value["end"]
                if not (isinstance(start, int) and isinstance(end, int)):
                    raise TypeError
                spans.append(Span(start, end, values[0], str(value.get("text") or "")))
            except (KeyError, TypeError):
                problems.append(f"{here}: a span without whole-number 'start' and 'end'")
        return label, spans, problems

    def check_values(self) -> None:
        """The names seen against the config's, and the values against the project's."""
        for kind, tag in (("choices", "Choices"), ("labels", "Labels")):
            control = getattr(self.config, kind) if self.config else None
            seen = sorted(self.seen[kind])
            if len(seen) > 1 and control is None:
                self.problems.append(
                    f"results name several {kind} controls ({', '.join(f for f, _ in seen)}); "
                    "pass the labeling config"
                )
            if control is not None:
                stray = [f"{f} → {t}" for f, t in seen if (f, t) != (control.name, control.to_name)]
                if stray:
                    self.problems.append(
                        f"{kind} result(s) named {', '.join(stray)} are not in the labeling config, "
                        f"whose <{tag}> is {control.name} → {control.to_name}"
                    )
                off = sorted(self.values[kind] - set(control.values))
                if off:
                    self.problems.append(
                        f"{kind} value(s) {', '.join(map(repr, off))} are not in the config's "
                        f"<{tag} name={control.name!r}> ({', '.join(control.values)})"
                    )
        self.unmatched("choice", self.values["choices"], self.mapping.classes, self.classes)
        self.unmatched("label", self.values["labels"], self.mapping.span_types, self.span_types)

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

    def names(self) -> dict[str, Any]:
        """The control names and values to write back, keyed by the project's names."""
        out: dict[str, Any] = {}
        for kind in ("choices", "labels"):
            control = getattr(self.config, kind) if self.config else None
            seen = sorted(self.seen[kind])
            pair = (control.name, control.to_name) if control else (seen[0] if seen else None)
            out[kind] = list(pair) if pair else None
        out["classes"] = {self.class_of(v): v for v in sorted(self.values["choices"])}
        out["span_types"] = {self.span_type_of(v): v for v in sorted(self.values["labels"])}
        return out


def _closest(value: str, allowed: Sequence[str]) -> str:
    """The allowed name equal to ``value`` but for case or separators, else the first."""
    folded = "".join(c for c in value.lower() if c.isalnum())
    same = [a for a in allowed if "".join(c for c in a.lower() if c.isalnum()) == folded]
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
    annotations (matched by annotator) lend their ids, times and result ids and order."""
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
    before = before or {}
    choices = names.get("choices") or ["label", "text"]
    labels = names.get("labels") or ["spans", choices[1]]
    class_value = (names.get("classes") or {}).get(answer.label, answer.label)
    span_value = names.get("span_types") or {}
    result: list[dict[str, Any]] = [
        {
            "id": _result_id(before, "choices", None) or f"{task.item_id}-label",
            "type": "choices",
            "from_name": choices[0],
            "to_name": choices[1],
            "origin": "manual",
            "value": {"choices": [class_value]},
        }
    ]
    spans = sorted(answer.spans, key=lambda s: _span_position(before, s, span_value))
    for index, span in enumerate(spans):
        value = span_value.get(span.type, span.type)
        result.append(
            {
                "id": _result_id(before, "labels", (span.start, span.end, value))
                or f"{task.item_id}-span{index}",
                "type": "labels",
                "from_name": labels[0],
                "to_name": labels[1],
                "origin": "manual",
                "value": {
                    "start": span.start,
                    "end": span.end,
                    "text": span.text,
                    "labels": [value],
                },
            }
        )
    kept = {k: before[k] for k in ("id", "created_at", "updated_at", "lead_time") if k in before}
    return {
        "id": kept.pop("id", number),
        "completed_by": before.get("completed_by") or {"email": answer.annotator},
        "result": result,
        "was_cancelled": False,
        "ground_truth": answer.ground_truth,
        **kept,
    }


def _result_id(before: Mapping[str, Any], kind: str, key: tuple[int, int, str] | None) -> Any:
    for result in before.get("result") or []:
        if result.get("type") != kind:
            continue
        value = result.get("value") or {}
        if (
            key is None
            or (value.get("start"), value.get("end"), (value.get(kind) or [""])[0]) == key
        ):
            return result.get("id")
    return None


def _span_position(
    before: Mapping[str, Any], span: Span, values: Mapping[str, str]
) -> tuple[int, int, int]:
    """Where a span stood in the original annotation's results (new spans last, by position)."""
    key = (span.start, span.end, values.get(span.type, span.type))
    for index, result in enumerate(before.get("result") or []):
        value = result.get("value") or {}
        if (value.get("start"), value.get("end"), (value.get("labels") or [""])[0]) == key:
            return (index, span.start, span.end)
    return (1 << 30, span.start, span.end)
