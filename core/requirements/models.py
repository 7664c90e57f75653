"""Requirements, their statuses, evidence, impact and derivations, as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from core.requirements.rules import Rule, compared, default_min_n
from core.stats import Interval

SYSTEM_CATEGORIES = (
    "reliability",
    "safety",
    "security",
    "robustness",
    "performance",
    "energy",
    "usability",
    "business",
    "compliance",
)
ML_CATEGORIES = ("model quality", "fairness", "latency", "training", "labeling", "data quality")
PRIORITIES = ("high", "medium", "low")
# The fields a user writes, the one list every layout is made from: the YAML and CSV files, ReqIF,
# the managers' editor, the store's columns (with the dataclass below) and version comparisons.
DESCRIPTION_FIELDS = ("title", "statement", "category", "owner", "priority")
CHECK_FIELDS = (  # a change to one of these makes the requirement's evidence suspect
    "metric",
    "slices",
    "relative_to",
    "tolerance",
    "comparator",
    "threshold",
    "model",
    "evidence",
    "window_days",
    "absent_slice",
    "min_n",
)
VERDICT_FIELDS = ("fail_when_inconclusive",)  # what a verdict means to `verify-system`
# a system requirement's parent is its place in the tree; derived_from names every requirement it
# is derived from when there are several (a requirements tool's links), the parent first
SYSTEM_FIELDS = (*DESCRIPTION_FIELDS, "parent", "derived_from")
ML_FIELDS = (*DESCRIPTION_FIELDS, "derived_from", *CHECK_FIELDS, *VERDICT_FIELDS, "derivation")
CONTENT_FIELDS = (
    *DESCRIPTION_FIELDS,
    "parent",
    "derived_from",
    *CHECK_FIELDS,
    *VERDICT_FIELDS,
    "derivation",
)
LIST_FIELDS = ("derived_from", "slices", "evidence")
NO_CHECK = "no check yet"
# what a requirements tool gave (ReqIF imports): its identifier of the object, every attribute,
# its object type's name and the relations that are not derivations ("see also", "verifies")
TOOL_FIELDS = ("external_id", "attributes", "object_type", "relations")
REQIF_TYPES = ("STRING", "XHTML", "ENUMERATION", "INTEGER", "REAL", "BOOLEAN", "DATE")
FILE_NAMES = {"absent_slice": "if_slice_absent"}  # where files and the editor say it otherwise


def file_name(name: str) -> str:
    """A field's name in files and the editor (``absent_slice`` is written ``if_slice_absent``)."""
    return FILE_NAMES.get(name, name)


@dataclass(frozen=True)
class Requirement:
    """A system requirement (``level='system'``, a node of a tree) or an ML requirement derived from
    system requirements: a metric on a scope, a comparator and a threshold, checked against evidence."""

    project: str
    requirement_id: str
    level: str
    title: str
    statement: str = ""
    category: str = ""
    owner: str = ""
    priority: str = "medium"
    parent: str | None = None
    derived_from: tuple[str, ...] = ()
    metric: str | None = None
    slices: tuple[str, ...] = ()
    relative_to: str | None = None
    tolerance: float | None = None
    comparator: str | None = None
    threshold: float | None = None
    model: str | None = None
    evidence: tuple[str, ...] = ()
    window_days: int | None = None
    absent_slice: str = "no_evidence"
    min_n: int | None = None  # None: the default of the metric's kind (rules.MIN_N)
    fail_when_inconclusive: bool = False
    derivation: Mapping[str, Any] | None = None
    # from a requirements tool: its identifier of the object (re-imports update in place by it)
    # and every attribute it gave, ``{name: {"type": "INTEGER", "value": 3}}`` (None: not given,
    # a save keeps the stored ones)
    external_id: str | None = None
    attributes: Mapping[str, Mapping[str, Any]] | None = None
    # the tool's relations that are not derivations, ``({"type": "see also", "target": id}, …)``,
    # and its SPEC-OBJECT-TYPE's long name ("Stakeholder Requirement")
    relations: tuple[Mapping[str, str], ...] = ()
    object_type: str | None = None
    # set when read from the store
    version: int = 0
    set_version: int = 0
    deleted: bool = False
    check_changed_at: datetime | None = None
    change_note: str = ""
    created_at: datetime | None = None
    created_by: str = ""

    @property
    def is_ml(self) -> bool:
        return self.level == "ml"

    def rule(self) -> Rule:
        assert self.metric is not None and self.comparator is not None
        return Rule(
            self.requirement_id,
            self.metric,
            self.comparator,
            self.threshold,
            self.slices,
            self.relative_to,
            self.tolerance,
            self.absent_slice,
            self.derived_from,
        )

    @property
    def parents(self) -> tuple[str, ...]:
        """Every requirement this one is derived from: an ML requirement's system requirements;
        a system requirement's parent, then the others it is derived from."""
        if self.is_ml:
            return self.derived_from
        first = (self.parent,) if self.parent else ()
        return tuple(dict.fromkeys((*first, *self.derived_from)))

    @property
    def has_check(self) -> bool:
        """An ML requirement with a Loopline check (a metric and comparator); one imported from a
        requirements tool without them is "no check yet"."""
        return self.is_ml and self.metric is not None and self.comparator is not None

    @property
    def check_text(self) -> str:
        """``precision.out_of_office ≥ 0.85``; ``no check yet`` for an ML requirement without one;
        empty for a system requirement."""
        if not self.is_ml:
            return ""
        return self.rule().text() if self.has_check else NO_CHECK

    @property
    def minimum_sample(self) -> int:
        """The smallest n a verdict is drawn from: ``min_n``, else its metric kind's default."""
        if self.min_n is not None:
            return self.min_n
        return default_min_n(self.metric) if self.metric else 0

    @property
    def evidence_text(self) -> str:
        parts = []
        for source in self.evidence:
            parts.append(
                f"monitoring ({self.window_days or 30} d)" if source == "monitoring" else source
            )
        return " → ".join(parts)

    def content(self) -> dict[str, Any]:
        """The fields a user writes (what import/export and versions compare)."""
        out = dict(zip(CONTENT_FIELDS, _CONTENT(self), strict=True))
        for name in LIST_FIELDS:
            out[name] = list(out[name])
        out["derivation"] = dict(self.derivation) if self.derivation else None
        out["external_id"] = self.external_id
        out["attributes"] = {k: dict(v) for k, v in (self.attributes or {}).items()}
        out["object_type"] = self.object_type
        out["relations"] = [dict(r) for r in self.relations]
        return out

    def entry(self) -> dict[str, Any]:
        """The fields of its level under their file names, as :func:`parse_entry` reads them
        back: lists as lists, and of a derivation only what was given (not its result)."""
        if not self.is_ml:
            out = dict(zip(_SYSTEM_NAMES, _SYSTEM(self), strict=True))
            out["derived_from"] = list(self.derived_from)
            return out
        out = dict(zip(_ML_NAMES, _ML(self), strict=True))
        for name in LIST_FIELDS:
            out[name] = list(out[name])
        derivation = self.derivation
        out["derivation"] = (
            {
                k: v
                for k, v in derivation.items()
                if k not in ("steps", "threshold", "threshold_range")
            }
            if derivation
            else None
        )
        return out


_CONTENT = attrgetter(*CONTENT_FIELDS)  # one C call per requirement: content() runs per item
_SYSTEM, _SYSTEM_NAMES = attrgetter(*SYSTEM_FIELDS), tuple(map(file_name, SYSTEM_FIELDS))
_ML, _ML_NAMES = attrgetter(*ML_FIELDS), tuple(map(file_name, ML_FIELDS))


def system_tree(items: Iterable[Requirement]) -> dict[str | None, list[Requirement]]:
    """System requirements by parent id (their first parent: a requirement derived from several
    sits under the first), in the given order; None holds the roots (and those whose parent is not
    among them)."""
    systems = [r for r in items if r.level == "system"]
    known = {r.requirement_id for r in systems}
    children: dict[str | None, list[Requirement]] = {}
    for item in systems:
        children.setdefault(item.parent if item.parent in known else None, []).append(item)
    return children


@dataclass(frozen=True)
class DocumentNode:
    """One node of an imported document, in document order: a heading/section (``section``), a
    free-text node (``text``) or the place of a requirement (``requirement``)."""

    project: str
    set_version: int
    position: int
    depth: int
    kind: str
    node_id: str
    title: str
    text: str
    requirement_id: str | None
    specification: str
    tool: str | None = None  # the tools the file's header names (lower case, '; '-separated)


@dataclass(frozen=True)
class RequirementSet:
    project: str
    set_version: int
    artifact_id: int | None
    source: str
    note: str
    changed: int
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class SaveResult:
    project: str
    set_version: int | None  # None when nothing changed
    created: tuple[str, ...]
    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int
    artifact_id: int | None = None

    @property
    def summary(self) -> str:
        if self.set_version is None:
            return f"{self.project}: nothing changed ({self.unchanged} requirement(s) as they were)"
        return (
            f"{self.project}: requirement set v{self.set_version}: {len(self.created)} new, "
            f"{len(self.changed)} changed, {len(self.deleted)} removed, {self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class Status:
    """A requirement's current status and the evidence behind it."""

    project: str
    requirement_id: str
    level: str
    requirement_version: int
    status: str
    value: float | None
    threshold: float | None
    comparator: str | None
    slice: str | None
    estimated: bool | None
    n: float | None
    source: str | None
    model_id: int | None
    model_version: int | None
    run_id: int | None
    dataset_id: int | None
    label_set_id: int | None
    build_id: int | None
    verification_id: int | None
    window_from: datetime | None
    window_to: datetime | None
    measured_at: datetime | None
    via: str | None
    failing: int | None
    missing: int | None
    evidence_ref: str | None
    computed_at: datetime
    lower: float | None = None
    upper: float | None = None
    interval_method: str | None = None
    min_n: int | None = None
    alert_id: int | None = None  # an open monitoring alert on the requirement's rule

    @property
    def value_text(self) -> str:
        """``0.912 ≥ 0.900`` or ``—``."""
        if self.value is None or self.threshold is None or self.comparator is None:
            return "—"
        where = f" on {self.slice}" if self.slice else ""
        return f"{compared(self.value, self.comparator, self.threshold)}{where}"

    @property
    def interval(self) -> Interval:
        return Interval(self.n, self.lower, self.upper, self.interval_method or "none")

    @property
    def interval_text(self) -> str:
        """``n = 319, 95% CI 0.612–0.705``; ``exact`` for a figure measured without sampling;
        empty without a figure or without anything known about its sample."""
        if self.value is None or (self.n is None and self.lower is None):
            return ""  # nothing known about the sample (a figure recorded without it)
        if self.interval_method == "exact":
            return "exact" if self.n is None else f"n = {self.n:,.0f}, exact"
        return self.interval.text()

    @property
    def figure(self) -> dict[str, Any]:
        """The figure as exports and ``--json`` carry it."""
        return {
            "value": self.value,
            "n": self.n,
            "lower": self.lower,
            "upper": self.upper,
            "interval": self.interval_method,
            "min_n": self.min_n,
            "alert_id": self.alert_id,
        }


@dataclass(frozen=True)
class HistoryEntry:
    project: str
    requirement_id: str
    level: str
    status: str
    previous_status: str | None
    value: float | None
    threshold: float | None
    slice: str | None
    source: str | None
    evidence_ref: str | None
    model_id: int | None
    model_version: int | None
    via: str | None
    cause: str
    at: datetime
    n: float | None = None
    lower: float | None = None
    upper: float | None = None
    alert_id: int | None = None


@dataclass(frozen=True)
class VersionEntry:
    """One version of one requirement: who changed what, and when."""

    requirement_id: str
    version: int
    set_version: int
    deleted: bool
    changes: Mapping[str, tuple[Any, Any]]
    note: str
    at: datetime
    by: str


@dataclass(frozen=True)
class MatrixRow:
    """A system requirement (a tree node) with the ML requirements derived from it."""

    requirement: Requirement
    status: Status | None
    depth: int
    ml: tuple[tuple[Requirement, Status | None], ...]


@dataclass(frozen=True)
class Coverage:
    system: int
    ml: int
    system_without_ml: tuple[str, ...]
    ml_without_evidence: tuple[str, ...]
    by_status: Mapping[str, int]


@dataclass(frozen=True)
class Matrix:
    project: str
    rows: tuple[MatrixRow, ...]
    coverage: Coverage
    requirements: Mapping[str, Requirement] = field(default_factory=dict)
    statuses: Mapping[str, Status] = field(default_factory=dict)

    def select(
        self,
        *,
        level: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        category: str | None = None,
    ) -> list[tuple[Requirement, Status | None]]:
        """Every requirement that matches all the filters given (empty ones filter nothing), in
        id order, with its status: the flat list, where ``rows`` keep the tree."""
        found = []
        for rid, item in self.requirements.items():
            current = self.statuses.get(rid)
            if (
                (not level or item.level == level)
                and (not status or (current is not None and current.status == status))
                and (not owner or item.owner == owner)
                and (not category or item.category == category)
            ):
                found.append((item, current))
        return found


@dataclass(frozen=True)
class ImpactChange:
    requirement_id: str
    level: str
    before: str
    after: str
    value: float | None
    threshold: float | None
    slice: str | None
    via: str | None
    message: str
    n: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Impact:
    project: str
    candidate: str
    changes: tuple[ImpactChange, ...]
    after: Mapping[str, Status]

    @property
    def violates(self) -> bool:
        """Would promoting the candidate make a requirement violated?"""
        return any(c.after == "violated" for c in self.changes)

    @property
    def summary(self) -> str:
        """``With v2 in production, 4 statuses would change, 2 to violated.`` (a promotion and a
        rollback alike: both put the candidate in production)."""
        if not self.changes:
            return f"With {self.candidate} in production, no requirement's status would change."
        worse = sum(c.after == "violated" for c in self.changes)
        unsure = sum(c.after == "inconclusive" for c in self.changes)
        changed = "1 status" if len(self.changes) == 1 else f"{len(self.changes)} statuses"
        return (
            f"With {self.candidate} in production, {changed} would change"
            + (f", {worse} to violated" if worse else "")
            + (f", {unsure} to inconclusive" if unsure else "")
            + "."
        )


@dataclass(frozen=True)
class Derivation:
    """An ML threshold computed from operational terms, with every step shown."""

    kind: str
    metric: str
    comparator: str
    threshold: float
    inputs: Mapping[str, Any]
    steps: tuple[str, ...]
    threshold_range: tuple[float, float] | None = None  # over measured inputs' intervals

    def as_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            **dict(self.inputs),
            "threshold": self.threshold,
            "steps": list(self.steps),
        }
        if self.threshold_range is not None:
            out["threshold_range"] = list(self.threshold_range)
        return out
