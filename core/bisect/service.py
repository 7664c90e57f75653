"""`loopline bisect PROJECT --check CHECK`: which promoted model version first broke a check.

The versions are the models that served in production (``alias_history``), in the order they were
first promoted. A check is a system-level expectation judged on the project's current test set,
each model called the way the prediction service calls it (core/requirements/verify.py's path):

- an ML requirement's id (``ML-3``): its metric, slice, comparator and threshold, as
  ``verify-system`` judges them (a requirement relative to production has no fixed threshold and
  is refused);
- an expectation written out: ``METRIC [@ SLICE] OP NUMBER`` — ``accuracy >= 0.9``,
  ``recall @ language = de >= 0.8`` (a slice as ``name = value``, as the matrix shows it).

Bisection assumes the check held once and fails now: it probes the newest and the oldest version,
then halves the range between the last that passed and the first that failed, so n versions cost
about log2(n) evaluations (``every`` probes them all). Nothing is recorded: the report is the
evidence, each probed version with its figure, n and verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.errors import InvalidInput, NotFound
from core.experiments.service import project_test_set
from core.ml.data import TrainingData, slice_values
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.requirements.models import Requirement
from core.requirements.rules import COMPARATORS, compare
from core.requirements.service import select_current
from core.requirements.verify import (
    overall_metrics,
    predict_all,
    service_path,
    service_rows,
    slice_metrics,
)
from core.store import Workspace

Progress = Callable[[str, float], None]
_EXPECTATION = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_]+)\s*(?:@\s*(?P<slice>.+?))?\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class BisectCheck:
    text: str  # as the user wrote it
    metric: str
    slice: str  # '' = the whole test set
    comparator: str
    threshold: float
    requirement_id: str | None = None

    @property
    def expectation(self) -> str:
        where = f" @ {self.slice}" if self.slice else ""
        return f"{self.metric}{where} {self.comparator} {self.threshold:g}"


@dataclass(frozen=True)
class Probe:
    """One promoted version judged by the check."""

    model: str  # ``model:ooo-replies@3``
    artifact_id: int
    version: int
    promoted_at: datetime
    value: float | None  # None: the figure could not be measured (a slice too small)
    n: int  # test items the figure rests on
    passed: bool
    note: str


@dataclass(frozen=True)
class BisectReport:
    project: str
    check: BisectCheck
    versions: tuple[str, ...]  # every promoted version, oldest first
    probes: tuple[Probe, ...]  # the versions evaluated, oldest first
    first_bad: str | None
    last_good: str | None
    verdict: str

    @property
    def found(self) -> bool:
        return self.first_bad is not None and self.last_good is not None


def parse_check(ws: Workspace, project: str, text: str) -> BisectCheck:
    """A requirement id of the project, or an expectation ``METRIC [@ SLICE] OP NUMBER``."""
    with ws.store.read() as tx:
        requirements = {r.requirement_id: r for r in select_current(tx, project)}
    if text.strip() in requirements:
        return _from_requirement(requirements[text.strip()], text)
    found = _EXPECTATION.match(text)
    if found is None:
        ids = [i for i, r in requirements.items() if r.metric]
        raise InvalidInput(
            f"Unknown check {text!r}. Expected a requirement of {project!r} with a metric"
            + (f" ({', '.join(ids)})" if ids else "")
            + " or an expectation such as 'accuracy >= 0.9' or 'recall @ language = de >= 0.8'.",
            hint="quote the check: --check 'f1 >= 0.8'",
        )
    return BisectCheck(
        text,
        found["metric"],
        (found["slice"] or "").strip(),
        found["op"],
        float(found["threshold"]),
    )


def _from_requirement(requirement: Requirement, text: str) -> BisectCheck:
    rid = requirement.requirement_id
    if requirement.metric is None or requirement.threshold is None:
        raise InvalidInput(
            f"Requirement {rid} has no metric and threshold to check.",
            hint="name an ML requirement, or write the expectation: 'accuracy >= 0.9'",
        )
    if requirement.relative_to:
        raise InvalidInput(
            f"Requirement {rid} is relative to {requirement.relative_to}, not a fixed threshold.",
            hint="write the expectation instead: 'accuracy >= 0.9'",
        )
    comparator = requirement.comparator or ">="
    if comparator not in COMPARATORS:
        raise InvalidInput(f"Requirement {rid}'s comparator {comparator!r} cannot be bisected.")
    slice_ = requirement.slices[0] if requirement.slices else ""
    return BisectCheck(text, requirement.metric, slice_, comparator, requirement.threshold, rid)


def promoted_versions(ws: Workspace, project: str) -> list[tuple[Artifact, datetime]]:
    """Every model that served in production, in the order of its first promotion."""
    with ws.store.read() as tx:
        rows = tx.rows(
            'SELECT artifact_id, min("at") AS first_at, min(entry_id) AS first_entry '
            "FROM alias_history WHERE project = ? AND alias = 'production' "
            "AND artifact_id IS NOT NULL GROUP BY artifact_id ORDER BY first_entry",
            [project],
        )
    return [(get_artifact(ws, int(r[0])), r[1]) for r in rows]


def bisect(
    ws: Workspace,
    project: str,
    check: str,
    *,
    every: bool = False,
    progress: Progress | None = None,
) -> BisectReport:
    """Find the first promoted version that fails ``check`` after one that passed it."""
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    parsed = parse_check(ws, project, check)
    versions = promoted_versions(ws, project)
    if len(versions) < 1:
        raise NotFound(
            f"Project {project!r} has never had a model in production: nothing to bisect.",
            hint=f"promote one: `loopline promote {project} MODEL --reason …`",
        )
    report("reading the test set", 0.02)
    test = project_test_set(ws, spec)
    probes: dict[int, Probe] = {}

    def probe(index: int) -> Probe:
        if index not in probes:
            report(f"checking {versions[index][0].ref}", 0.05 + 0.9 * len(probes) / len(versions))
            probes[index] = _probe(ws, spec, test, parsed, *versions[index])
        return probes[index]

    if every:
        for index in range(len(versions)):
            probe(index)
    good, bad = _search(len(versions), probe, every)
    report("done", 1.0)
    refs = tuple(model.ref for model, _ in versions)
    return BisectReport(
        project,
        parsed,
        refs,
        tuple(probes[i] for i in sorted(probes)),
        None if bad is None else refs[bad],
        None if good is None else refs[good],
        _verdict(parsed, refs, good, bad),
    )


def _search(
    count: int, probe: Callable[[int], Probe], every: bool
) -> tuple[int | None, int | None]:
    """(last good, first bad) indexes: the break the newest version's failure goes back to."""
    newest = count - 1
    if probe(newest).passed:
        return newest, None
    if every:
        passed = [i for i in range(count) if probe(i).passed]
        return (passed[-1], passed[-1] + 1) if passed else (None, 0)
    if not probe(0).passed:
        return None, 0
    good, bad = 0, newest
    while bad - good > 1:
        middle = (good + bad) // 2
        if probe(middle).passed:
            good = middle
        else:
            bad = middle
    return good, bad


def _verdict(check: BisectCheck, refs: tuple[str, ...], good: int | None, bad: int | None) -> str:
    if bad is None:
        return f"{refs[-1]} passes {check.expectation}: nothing is broken."
    if good is None:
        return f"{check.expectation} fails since the first promoted version, {refs[0]}."
    return f"{refs[bad]} broke {check.expectation}: {refs[good]} before it passed."


def _probe(
    ws: Workspace,
    spec: ProjectSpec,
    test: TrainingData,
    check: BisectCheck,
    model: Artifact,
    promoted_at: datetime,
) -> Probe:
    predict, _ = service_path(ws, spec.name, model, spec)
    rows = service_rows(test.frame, spec)
    predictions = predict_all(predict, rows, len(spec.labels.classes), lambda fraction: None)
    if check.slice:
        figures = slice_metrics(spec, test, predictions).get(check.slice, {})
        n = _slice_size(spec, test, check.slice)
    else:
        figures, n = overall_metrics(spec, test, predictions), len(rows)
    value = figures.get(check.metric)
    if value is None:
        where = f"slice {check.slice!r}" if check.slice else "the test set"
        note = f"no {check.metric} on {where} (unknown metric, or too few items)"
        return Probe(model.ref, model.artifact_id, model.version, promoted_at, None, n, False, note)
    passed = compare(float(value), check.comparator, check.threshold)
    note = f"{check.metric} = {value:.4f} ({'passes' if passed else 'fails'} {check.comparator} "
    note += f"{check.threshold:g})"
    return Probe(
        model.ref, model.artifact_id, model.version, promoted_at, float(value), n, passed, note
    )


def _slice_size(spec: ProjectSpec, test: TrainingData, name: str) -> int:
    slice_name, _, value = (part.strip() for part in name.partition("="))
    for slice_spec in spec.slices:
        if slice_spec.name == slice_name:
            values = slice_values(test.frame, slice_spec).astype(str).to_numpy()
            return int((values == value).sum())
    return 0
