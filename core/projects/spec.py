"""The project file: parsed once, validated with messages that name the field and the fix."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InvalidInput, expected_one_of
from core.projects.retraining import RetrainingSpec, parse_retraining

PROJECT_KINDS = {
    "text_classification": "classify a text (optionally extracting spans from one field)",
    "tabular_classification": "classify a row of typed feature columns",
}
COLUMN_TYPES = ("string", "text", "integer", "number", "boolean", "datetime", "category")
TIME_DERIVATIONS = ("week", "month", "quarter", "half", "year")  # a datetime column's period
DERIVATIONS = ("email_domain", *TIME_DERIVATIONS)
NUMERIC_TYPES = ("integer", "number")
DETECTOR_NAMES = ("date", "email", "phone", "name")
SPLIT_METHODS = ("hash", "time")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DATA_KEYS = {
    "id",
    "time",
    "columns",
    "text",
    "features",
    "compare_within",
    "feature_groups",
    "max_text_length",
}
SLICE_KEYS = ("name", "column", "derive", "bins")
COLUMN_KEYS = ("name", "type", "required", "values", "min", "max", "max_length")
TEXT_TYPES = ("string", "text")  # the column types whose values are free text
# The prediction service refuses a text value longer than this (characters), unless the project
# file says otherwise (``data.max_text_length``, or ``max_length`` on one column): 20x the longest
# sample reply, and short enough that every detector reads it in a few milliseconds.
DEFAULT_MAX_TEXT_LENGTH = 10_000
MAX_TEXT_LENGTH_LIMIT = 1_000_000  # a longer value could not arrive in one request body anyway
TOP_KEYS = {
    "name",
    "title",
    "description",
    "kind",
    "data",
    "labels",
    "slices",
    "split",
    "protected_slices",
    "extractor",
    "retraining",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None  # text types: at most this many characters (None: the default)


@dataclass(frozen=True)
class SliceSpec:
    name: str
    column: str
    derive: str | None = None
    bins: tuple[float, ...] | None = None  # a numeric column's edges: "< 18", "18–65", "≥ 65"


@dataclass(frozen=True)
class SplitSpec:
    method: str = "hash"
    key: str = ""
    test_fraction: float = 0.25
    seed: int = 0
    cutoff: str | None = None


@dataclass(frozen=True)
class SpanSpec:
    field: str
    types: tuple[str, ...]
    detect: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class LabelSpec:
    classes: tuple[str, ...]
    positive: str | None = None
    spans: SpanSpec | None = None


@dataclass(frozen=True)
class ProtectedSlice:
    slice: str
    value: str

    def __str__(self) -> str:
        return f"{self.slice} = {self.value}"


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    title: str
    description: str
    kind: str
    id_column: str
    time_column: str | None
    columns: tuple[Column, ...]
    text_fields: tuple[str, ...]
    features: tuple[str, ...]
    labels: LabelSpec
    slices: tuple[SliceSpec, ...]
    split: SplitSpec
    protected_slices: tuple[ProtectedSlice, ...] = ()
    extractor: str = "core.data.extract:extract_table"
    compare_within: str | None = None  # typical values are judged within this column's groups
    feature_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_text_length: int = DEFAULT_MAX_TEXT_LENGTH
    retraining: RetrainingSpec | None = None  # schedules and triggers of builds (issue 17)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def max_length(self, column: Column) -> int | None:
        """The most characters a value of ``column`` may have (None: not a text column)."""
        if column.type not in TEXT_TYPES:
            return None
        return column.max_length or self.max_text_length

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the model reads: the text fields or the feature columns."""
        return self.text_fields if self.kind == "text_classification" else self.features

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data; a length limit left at its default is not listed, so a
        project file written before limits existed keeps its content hash."""
        out = asdict(self)
        out.pop("raw")
        if out["max_text_length"] == DEFAULT_MAX_TEXT_LENGTH:
            del out["max_text_length"]
        if out["retraining"] is None:  # a file without schedules keeps its content hash
            del out["retraining"]
        for column in out["columns"]:
            if column["max_length"] is None:
                del column["max_length"]
        for slice_ in out["slices"]:
            if slice_["bins"] is None:  # as before bins existed: the same content hash
                del slice_["bins"]
            else:
                slice_["bins"] = list(slice_["bins"])
        return out


class _Reader:
    """Reads one mapping, naming the path of every problem (``data.columns[3].type``)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str, hint: str | None = None) -> InvalidInput:
        return InvalidInput(f"{self.source}: {where}: {message}", hint=hint)

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}.")
        return value

    def text(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key}", f"expected a non-empty text, got {value!r}.")
        return value.strip()

    def names(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if (
            not isinstance(value, Sequence)
            or isinstance(value, str)
            or not all(isinstance(item, str | int | float | bool) for item in value)
        ):
            raise self.fail(where, f"expected a list of names, got {value!r}.")
        return tuple(str(item) for item in value)


def parse_spec(data: Any, source: str = "project file") -> ProjectSpec:
    r = _Reader(source)
    top = r.mapping(data, "top level")
    unknown = sorted(set(top) - TOP_KEYS)
    if unknown:
        raise r.fail(unknown[0], expected_one_of("key", unknown[0], TOP_KEYS))
    name = r.text(top, "name", "")
    if not SLUG.match(name):
        raise r.fail("name", f"{name!r} is not a slug: use lowercase letters, digits and '-'.")
    kind = r.text(top, "kind", "")
    if kind not in PROJECT_KINDS:
        raise r.fail("kind", expected_one_of("project kind", kind, PROJECT_KINDS))
    data_section = r.mapping(top.get("data"), "data")
    extra = sorted(set(data_section) - DATA_KEYS)
    if extra:
        raise r.fail(f"data.{extra[0]}", expected_one_of("key", extra[0], DATA_KEYS))
    columns = _columns(r, data_section.get("columns"))
    names = [c.name for c in columns]

    def known(column: str, where: str) -> str:
        if column not in names:
            raise r.fail(where, expected_one_of("column", column, names))
        return column

    id_column = known(r.text(data_section, "id", "data."), "data.id")
    time_column = data_section.get("time")
    if time_column is not None:
        known(str(time_column), "data.time")
        if next(c for c in columns if c.name == time_column).type != "datetime":
            raise r.fail("data.time", f"column {time_column!r} must have type datetime.")
    text_fields = tuple(
        known(c, "data.text") for c in r.names(data_section.get("text"), "data.text")
    )
    features = tuple(
        known(c, "data.features") for c in r.names(data_section.get("features"), "data.features")
    )
    if kind == "text_classification" and not text_fields:
        raise r.fail("data.text", "a text project lists the text fields the model reads.")
    if kind == "tabular_classification" and not features:
        raise r.fail("data.features", "a tabular project lists its feature columns.")
    compare_within = data_section.get("compare_within")
    if compare_within is not None:
        known(str(compare_within), "data.compare_within")
    feature_groups: dict[str, tuple[str, ...]] = {}
    for group, members in r.mapping(
        data_section.get("feature_groups") or {}, "data.feature_groups"
    ).items():
        where = f"data.feature_groups.{group}"
        feature_groups[str(group)] = tuple(known(c, where) for c in r.names(members, where))
    labels = _labels(r, top.get("labels"), kind, known)
    slices = _slices(r, top.get("slices"), known, {c.name: c.type for c in columns})
    split = _split(r, top.get("split"), id_column, known)
    protected = _protected(r, top.get("protected_slices"), slices)
    return ProjectSpec(
        name=name,
        title=r.text(top, "title", "", default=name),
        description=str(top.get("description") or "").strip(),
        kind=kind,
        id_column=id_column,
        time_column=str(time_column) if time_column is not None else None,
        columns=columns,
        text_fields=text_fields,
        features=features,
        labels=labels,
        slices=slices,
        split=split,
        protected_slices=protected,
        extractor=str(top.get("extractor") or "core.data.extract:extract_table"),
        compare_within=None if compare_within is None else str(compare_within),
        feature_groups=feature_groups,
        max_text_length=_length(
            r, data_section.get("max_text_length", DEFAULT_MAX_TEXT_LENGTH), "data.max_text_length"
        ),
        retraining=parse_retraining(top.get("retraining"), r.fail),
        raw=dict(top),
    )


def _columns(r: _Reader, value: Any) -> tuple[Column, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise r.fail("data.columns", "expected a non-empty list of columns.")
    out: list[Column] = []
    for index, item in enumerate(value):
        where = f"data.columns[{index}]"
        entry = r.mapping(item, where)
        extra = sorted(set(entry) - set(COLUMN_KEYS))
        if extra:
            raise r.fail(
                f"{where}.{extra[0]}", expected_one_of("column key", extra[0], COLUMN_KEYS)
            )
        name = r.text(entry, "name", f"{where}.")
        if name in {c.name for c in out}:
            raise r.fail(f"{where}.name", f"column {name!r} is declared twice.")
        kind = r.text(entry, "type", f"{where}.")
        if kind not in COLUMN_TYPES:
            raise r.fail(f"{where}.type", expected_one_of("column type", kind, COLUMN_TYPES))
        values = r.names(entry.get("values"), f"{where}.values") or None
        if kind == "category" and not values:
            raise r.fail(f"{where}.values", "a category column lists its allowed values.")
        bounds: list[float | None] = []
        for key in ("min", "max"):
            bound = entry.get(key)
            if bound is not None and (
                not isinstance(bound, int | float) or isinstance(bound, bool)
            ):
                raise r.fail(f"{where}.{key}", f"expected a number, got {bound!r}.")
            bounds.append(None if bound is None else float(bound))
        max_length = entry.get("max_length")
        if max_length is not None:
            if kind not in TEXT_TYPES:
                raise r.fail(
                    f"{where}.max_length",
                    f"only text columns ({', '.join(TEXT_TYPES)}) have a length; "
                    f"{name!r} is {kind}.",
                )
            max_length = _length(r, max_length, f"{where}.max_length")
        out.append(
            Column(
                name,
                kind,
                bool(entry.get("required", False)),
                values,
                bounds[0],
                bounds[1],
                max_length,
            )
        )
    return tuple(out)


def _length(r: _Reader, value: Any, where: str) -> int:
    """A length limit: a whole number of characters from 1 to ``MAX_TEXT_LENGTH_LIMIT``."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 1 <= value <= MAX_TEXT_LENGTH_LIMIT
    ):
        raise r.fail(
            where,
            f"expected a whole number of characters from 1 to {MAX_TEXT_LENGTH_LIMIT:,}, "
            f"got {value!r}.",
        )
    return value


def _labels(r: _Reader, value: Any, kind: str, known: Any) -> LabelSpec:
    section = r.mapping(value, "labels")
    classes = r.names(section.get("classes"), "labels.classes")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise r.fail(
            "labels.classes", f"expected at least two distinct classes, got {list(classes)}."
        )
    positive = section.get("positive")
    if positive is not None and positive not in classes:
        raise r.fail("labels.positive", expected_one_of("class", positive, classes))
    spans = None
    if section.get("spans") is not None:
        if kind != "text_classification":
            raise r.fail("labels.spans", "spans need a text project.")
        spec = r.mapping(section["spans"], "labels.spans")
        span_field = known(r.text(spec, "field", "labels.spans."), "labels.spans.field")
        types = r.names(spec.get("types"), "labels.spans.types")
        if not types:
            raise r.fail("labels.spans.types", "list at least one span type, e.g. [RETURN_DATE].")
        detect: dict[str, tuple[str, ...]] = {}
        for span_type, names in r.mapping(spec.get("detect") or {}, "labels.spans.detect").items():
            if span_type not in types:
                raise r.fail(
                    f"labels.spans.detect.{span_type}",
                    expected_one_of("span type", span_type, types),
                )
            detectors = r.names(names, f"labels.spans.detect.{span_type}")
            for name in detectors:
                if name not in DETECTOR_NAMES:
                    raise r.fail(
                        f"labels.spans.detect.{span_type}",
                        expected_one_of("detector", name, DETECTOR_NAMES),
                    )
            detect[str(span_type)] = detectors
        spans = SpanSpec(span_field, types, detect)
    return LabelSpec(classes, None if positive is None else str(positive), spans)


def _slices(r: _Reader, value: Any, known: Any, types: Mapping[str, str]) -> tuple[SliceSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise r.fail("slices", "expected a list of slices.")
    out: list[SliceSpec] = []
    for index, item in enumerate(value):
        where = f"slices[{index}]"
        entry = r.mapping(item, where)
        extra = sorted(set(entry) - set(SLICE_KEYS))
        if extra:
            raise r.fail(f"{where}.{extra[0]}", expected_one_of("slice key", extra[0], SLICE_KEYS))
        column = known(r.text(entry, "column", f"{where}."), f"{where}.column")
        derive = entry.get("derive")
        if derive is not None and derive not in DERIVATIONS:
            raise r.fail(f"{where}.derive", expected_one_of("derivation", derive, DERIVATIONS))
        if derive in TIME_DERIVATIONS and types[column] != "datetime":
            raise r.fail(
                f"{where}.derive",
                f"{derive!r} needs a datetime column; {column!r} is {types[column]}.",
            )
        bins = _bins(r, entry.get("bins"), f"{where}.bins", column, types[column], derive)
        name = r.text(entry, "name", f"{where}.", default=column)
        out.append(SliceSpec(name, column, derive, bins))
    if len({s.name for s in out}) != len(out):
        raise r.fail("slices", "slice names must be distinct.")
    return tuple(out)


def _bins(
    r: _Reader, value: Any, where: str, column: str, kind: str, derive: Any
) -> tuple[float, ...] | None:
    """A numeric slice's bin edges: one or more numbers, strictly increasing."""
    if value is None:
        return None
    if derive is not None:
        raise r.fail(where, "a slice has bins or a derivation, not both.")
    if kind not in NUMERIC_TYPES:
        raise r.fail(where, f"bins need a numeric column; {column!r} is {kind}.")
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not value
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise r.fail(where, f"expected a list of numbers (the bin edges), got {value!r}.")
    edges = tuple(float(v) for v in value)
    if any(b <= a for a, b in itertools.pairwise(edges)) or not all(
        math.isfinite(v) for v in edges
    ):
        raise r.fail(where, f"bin edges must be finite and increasing, got {list(value)}.")
    return edges


def _split(r: _Reader, value: Any, id_column: str, known: Any) -> SplitSpec:
    section = r.mapping(value or {}, "split")
    method = str(section.get("method", "hash"))
    if method not in SPLIT_METHODS:
        raise r.fail("split.method", expected_one_of("split method", method, SPLIT_METHODS))
    fraction = section.get("test_fraction", 0.25)
    if not isinstance(fraction, int | float) or not 0 < float(fraction) < 1:
        raise r.fail("split.test_fraction", f"expected a number between 0 and 1, got {fraction!r}.")
    seed = section.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise r.fail("split.seed", f"expected a whole number, got {seed!r}.")
    key = known(str(section.get("key", id_column)), "split.key")
    cutoff = section.get("cutoff")
    if method == "time" and cutoff is None:
        raise r.fail(
            "split.cutoff", "a time split names the cutoff date (items after it are test)."
        )
    return SplitSpec(method, key, float(fraction), seed, None if cutoff is None else str(cutoff))


def _protected(r: _Reader, value: Any, slices: tuple[SliceSpec, ...]) -> tuple[ProtectedSlice, ...]:
    out: list[ProtectedSlice] = []
    for index, item in enumerate(r.names(value, "protected_slices")):
        if "=" not in item:
            raise r.fail(f"protected_slices[{index}]", f"expected 'slice = value', got {item!r}.")
        slice_name, slice_value = (part.strip() for part in item.split("=", 1))
        if slice_name not in {s.name for s in slices}:
            raise r.fail(
                f"protected_slices[{index}]",
                expected_one_of("slice", slice_name, [s.name for s in slices]),
            )
        out.append(ProtectedSlice(slice_name, slice_value))
    return tuple(out)
