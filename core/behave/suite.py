"""The suite file: ``gates/<project>.behave.yaml`` in the workspace (or a file given), parsed
into frozen configs; a mistake is named by its place (``tests[2].perturb.kind``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from core.behave.dates import STYLES
from core.behave.expect import (
    EXPECTATIONS,
    Expectation,
    LabelIs,
    LabelUnchanged,
    ScoreMoves,
    SpanFound,
    SpanKept,
    names_in,
)
from core.behave.perturb import PERTURBATIONS, TABLE_PERTURBATIONS, Perturbation
from core.errors import InvalidInput, NotFound, expected_one_of
from core.projects.spec import ProjectSpec

KINDS = {"mft": "minimum functionality", "inv": "invariance", "dir": "directional"}
DEFAULT_MIN_PASS_RATE = 0.9
MAX_EXAMPLES = 1000


@dataclass(frozen=True)
class DateFill:
    """A date between ``first`` and ``last`` written in one of ``styles``, per example."""

    first: date
    last: date
    styles: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    row: Mapping[str, Any]  # column -> value, text with {var} placeholders
    fill: Mapping[str, tuple[str, ...] | DateFill]
    count: int


@dataclass(frozen=True)
class FromTestSet:
    count: int
    label: str | None = None
    where: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class BehaveTest:
    name: str
    kind: str  # mft | inv | dir
    capability: str
    examples: Template | FromTestSet
    perturb: Perturbation | None
    expect: tuple[Expectation, ...]
    min_pass_rate: float


@dataclass(frozen=True)
class Suite:
    tests: tuple[BehaveTest, ...]
    seed: int
    source: str


def suite_path(workspace_root: Path, project: str) -> Path:
    return workspace_root / "gates" / f"{project}.behave.yaml"


def find_suite(path: Path | None, workspace_root: Path, spec: ProjectSpec) -> Suite | None:
    """The suite of ``path``, else the workspace's ``gates/<project>.behave.yaml``; None: none."""
    chosen = path or suite_path(workspace_root, spec.name)
    if not chosen.is_file():
        if path is not None:
            raise NotFound(f"No behavioural suite at {path}.")
        return None
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{chosen.name}: not valid YAML ({exc}).") from exc
    return parse_suite(data, chosen.name, spec)


def load_suite(path: Path | None, workspace_root: Path, spec: ProjectSpec) -> Suite:
    found = find_suite(path, workspace_root, spec)
    if found is None:
        raise NotFound(
            f"Project {spec.name!r} has no behavioural suite.",
            hint=f"write gates/{spec.name}.behave.yaml in the workspace (see docs/behave.md; "
            f"the sample projects' suites are sample_data/<project>/behave.yaml) or pass --suite",
        )
    return found


def parse_suite(data: Any, source: str, spec: ProjectSpec) -> Suite:
    if not isinstance(data, Mapping) or not isinstance(data.get("tests"), Sequence):
        raise InvalidInput(f"{source}: expected a mapping with a list of 'tests'.")
    default_rate = _rate(
        data.get("min_pass_rate", DEFAULT_MIN_PASS_RATE), f"{source}: min_pass_rate"
    )
    tests = [
        _test(entry, f"{source}: tests[{index}]", spec, default_rate)
        for index, entry in enumerate(data["tests"])
    ]
    names = [t.name for t in tests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"{source}: test names must differ; used twice: {', '.join(twice)}.")
    return Suite(tuple(tests), int(data.get("seed", 0)), source)


_TEST_KEYS = {"name", "type", "capability", "examples", "perturb", "expect", "min_pass_rate"}


def _test(entry: Any, where: str, spec: ProjectSpec, default_rate: float) -> BehaveTest:
    if not isinstance(entry, Mapping) or not entry.get("name"):
        raise InvalidInput(
            f"{where}: expected {{name: …, type: mft|inv|dir, examples: …, expect: …}}."
        )
    unknown = sorted(set(entry) - _TEST_KEYS)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {unknown[0]!r}. Expected one of: {', '.join(sorted(_TEST_KEYS))}."
        )
    kind = str(entry.get("type", ""))
    if kind not in KINDS:
        raise InvalidInput(f"{where}.type: {expected_one_of('test type', kind, KINDS)}")
    perturb = _perturbation(entry.get("perturb"), f"{where}.perturb", spec)
    if (perturb is None) != (kind == "mft"):
        raise InvalidInput(
            f"{where}: {'an' if kind == 'inv' else 'a'} {KINDS[kind]} test ({kind}) "
            + ("takes no perturbation." if kind == "mft" else "needs a perturbation (perturb).")
        )
    expect = _expectations(entry.get("expect"), f"{where}.expect", spec)
    if kind == "mft" and any(getattr(e, "needs_before", False) for e in expect):
        raise InvalidInput(
            f"{where}.expect: label_unchanged and score compare with the unperturbed example; "
            "a minimum functionality test has none.",
            hint="use type: inv or dir with a perturbation",
        )
    examples = _examples(entry.get("examples"), f"{where}.examples", spec)
    _vars_known(expect, examples, perturb, f"{where}.expect")
    return BehaveTest(
        name=str(entry["name"]),
        kind=kind,
        capability=str(entry.get("capability") or ""),
        examples=examples,
        perturb=perturb,
        expect=expect,
        min_pass_rate=_rate(entry.get("min_pass_rate", default_rate), f"{where}.min_pass_rate"),
    )


def _vars_known(
    expect: Sequence[Expectation],
    examples: Template | FromTestSet,
    perturb: Perturbation | None,
    where: str,
) -> None:
    """Every ``{var}`` an expectation names is put in by the template or the perturbation."""
    known = set(examples.fill) if isinstance(examples, Template) else set()
    known |= set(getattr(perturb, "puts", ()))
    for index, expectation in enumerate(expect):
        if isinstance(expectation, SpanFound):
            for name in sorted(names_in(expectation.text) - known):
                raise InvalidInput(
                    f"{where}[{index}].text: {{{name}}} is put in by neither the template nor "
                    f"the perturbation. Expected one of: {', '.join(sorted(known)) or '(none)'}."
                )


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(f"{where}: expected a share from 0 to 1, got {value!r}.")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXAMPLES:
        raise InvalidInput(
            f"{where}: expected a whole number from 1 to {MAX_EXAMPLES}, got {value!r}."
        )
    return value


def _examples(data: Any, where: str, spec: ProjectSpec) -> Template | FromTestSet:
    if isinstance(data, Mapping) and "template" in data:
        row = data["template"]
        columns = {c.name for c in spec.columns}
        if not isinstance(row, Mapping) or not row:
            raise InvalidInput(f"{where}.template: expected a mapping of column -> value.")
        for name in row:
            if name not in columns:
                raise InvalidInput(f"{where}.template: {expected_one_of('column', name, columns)}")
        fill = {str(k): _fill(v, f"{where}.fill.{k}") for k, v in (data.get("fill") or {}).items()}
        return Template(dict(row), fill, _count(data.get("count", 20), f"{where}.count"))
    if isinstance(data, Mapping) and "test_set" in data:
        label = data.get("label")
        if label is not None and label not in spec.labels.classes:
            raise InvalidInput(
                f"{where}.label: {expected_one_of('label', label, spec.labels.classes)}"
            )
        where_ = {str(k): str(v) for k, v in (data.get("where") or {}).items()}
        return FromTestSet(_count(data["test_set"], f"{where}.test_set"), label, where_)
    raise InvalidInput(
        f"{where}: expected {{template: {{column: text}}, fill: …, count: N}} "
        "or {test_set: N, label: …, where: …}."
    )


def _fill(value: Any, where: str) -> tuple[str, ...] | DateFill:
    if isinstance(value, Mapping) and "dates" in value:
        first, last = _dates(value["dates"], f"{where}.dates")
        styles = tuple(str(s) for s in value.get("styles") or ("iso",))
        for style in styles:
            if style not in STYLES:
                raise InvalidInput(
                    f"{where}.styles: {expected_one_of('date style', style, STYLES)}"
                )
        return DateFill(first, last, styles)
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        return tuple(str(v) for v in value)
    raise InvalidInput(
        f"{where}: expected a list of values or {{dates: [FIRST, LAST], styles: […]}}."
    )


def _dates(value: Any, where: str) -> tuple[date, date]:
    if (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, date) for v in value)
        and value[0] <= value[1]
    ):
        return value[0], value[1]
    raise InvalidInput(f"{where}: expected [FIRST, LAST] as dates (2026-08-03), first ≤ last.")


def _perturbation(data: Any, where: str, spec: ProjectSpec) -> Perturbation | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or "kind" not in data:
        raise InvalidInput(f"{where}: expected {{kind: NAME, …}}.")
    kind = str(data["kind"])
    if kind not in PERTURBATIONS:
        raise InvalidInput(f"{where}.kind: {expected_one_of('perturbation', kind, PERTURBATIONS)}")
    tabular = spec.kind == "tabular_classification"
    if tabular != (kind in TABLE_PERTURBATIONS):
        allowed = [k for k in PERTURBATIONS if (k in TABLE_PERTURBATIONS) == tabular]
        raise InvalidInput(
            f"{where}.kind: {kind!r} is not for {spec.kind} projects. "
            f"Expected one of: {', '.join(sorted(allowed))}."
        )
    arguments = {k: _plain(v) for k, v in data.items() if k != "kind"}
    try:
        made = PERTURBATIONS[kind](**arguments)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {exc}.") from exc
    _known_column(getattr(made, "column", None) or getattr(made, "field", None), where, spec)
    check = getattr(made, "check", None)
    if check is not None:
        check(where)
    return made


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    return value


def _known_column(name: str | None, where: str, spec: ProjectSpec) -> None:
    columns = {c.name for c in spec.columns}
    if name and name not in columns:
        raise InvalidInput(f"{where}: {expected_one_of('column', name, columns)}")


def _expectations(data: Any, where: str, spec: ProjectSpec) -> tuple[Expectation, ...]:
    entries = [data] if isinstance(data, Mapping) else data
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise InvalidInput(f"{where}: expected one expectation or a list of them.")
    return tuple(_expectation(e, f"{where}[{i}]", spec) for i, e in enumerate(entries))


def _expectation(entry: Any, where: str, spec: ProjectSpec) -> Expectation:
    kind = next((k for k in EXPECTATIONS if isinstance(entry, Mapping) and k in entry), None)
    if kind is None:
        raise InvalidInput(
            f"{where}: expected one of {{label: X}}, {{label_unchanged: true}}, "
            "{span: TYPE, text: …}, {span: TYPE, kept: true}, {score: X, moves: up|down, by: …}."
        )
    assert isinstance(entry, Mapping)
    classes = spec.labels.classes
    if kind == "label_unchanged":
        return LabelUnchanged()
    if kind == "span":
        types = spec.labels.spans.types if spec.labels.spans else ()
        if entry["span"] not in types:
            raise InvalidInput(
                f"{where}.span: {expected_one_of('span type', entry['span'], types)}"
            )
        if entry.get("kept"):
            return SpanKept(str(entry["span"]))
        return SpanFound(str(entry["span"]), str(entry.get("text") or ""))
    label = entry[kind]
    if label not in classes:
        raise InvalidInput(f"{where}.{kind}: {expected_one_of('label', label, classes)}")
    if kind == "label":
        return LabelIs(str(label))
    direction = str(entry.get("moves", "up"))
    if direction not in ("up", "down"):
        raise InvalidInput(
            f"{where}.moves: {expected_one_of('direction', direction, ('up', 'down'))}"
        )
    return ScoreMoves(str(label), direction, float(entry.get("by", 0.0)))
