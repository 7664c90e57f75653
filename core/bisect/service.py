"""`loopline bisect PROJECT --check CHECK`: which promoted model version first broke a check.

The versions are the models that served in production (``alias_history``), in the order they were
first promoted. A check is a system-level expectation, judged on the project's current test set:

- an ML requirement's id (``ML-3``): its metric, slice, comparator and threshold, as
  ``verify-system`` judges them (a requirement relative to production has no fixed threshold,
  and one over several slices has no single figure: both are refused);
- an expectation written out: ``METRIC [@ SLICE] OP NUMBER`` — ``accuracy >= 0.9``,
  ``recall @ language = de >= 0.8`` (a slice as ``name = value``, as the matrix shows it);
- a behavioural test of the project's suite (core/bisect/behave.py): ``behave:NAME`` against the
  test's own ``min_pass_rate``, or ``behave_pass_rate @ test = NAME >= 0.95``, or a requirement
  whose metric is ``behave_pass_rate``.

A metric is measured with each model called the way the prediction service calls it
(core/requirements/verify.py's path); a behavioural test re-runs its seeded examples on each model.

Bisection assumes the check held once and fails now: it probes the newest and the oldest version,
then halves the range between the last that passed and the first that failed, so n versions cost
about log2(n) evaluations (``every`` probes them all). Nothing is recorded: the report is the
evidence, each probed version with its figure, n and verdict (a behavioural test's also with its
interval and a failing example).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.bisect.behave import BehaveProbe, behave_check, named_test
from core.bisect.models import BisectCheck, BisectReport, Probe
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

__all__ = ["BisectCheck", "BisectReport", "Probe", "bisect", "parse_check", "promoted_versions"]

Progress = Callable[[str, float], None]
_EXPECTATION = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_]+)\s*(?:@\s*(?P<slice>.+?))?\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_check(ws: Workspace, project: str, text: str) -> BisectCheck:
    """A requirement id of the project, an expectation ``METRIC [@ SLICE] OP NUMBER``, or a
    behavioural test ``behave:NAME``."""
    spec = get_project(ws, project).spec
    behave = behave_check(ws, spec, text)
    if behave is not None:
        return behave
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
            + ", an expectation such as 'accuracy >= 0.9' or 'recall @ language = de >= 0.8'"
            + ", or a behavioural test such as 'behave:NAME'.",
            hint="quote the check: --check 'f1 >= 0.8'",
        )
    slice_ = (found["slice"] or "").strip()
    test = named_test(found["metric"], slice_, f"The check {text!r}")
    return BisectCheck(
        text, found["metric"], slice_, found["op"], float(found["threshold"]), test=test
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
    if len(requirement.slices) > 1:
        raise InvalidInput(
            f"Requirement {rid} holds on {len(requirement.slices)} slices "
            f"({'; '.join(requirement.slices)}): bisect follows one figure.",
            hint=f"write the expectation for one of them: "
            f"'{requirement.metric} @ {requirement.slices[0]} {comparator} "
            f"{requirement.threshold:g}'",
        )
    slice_ = requirement.slices[0] if requirement.slices else ""
    test = named_test(requirement.metric, slice_, f"Requirement {rid}")
    return BisectCheck(
        text, requirement.metric, slice_, comparator, requirement.threshold, rid, test=test
    )


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
    actor: Actor | None = None,
) -> BisectReport:
    """Find the first promoted version that fails ``check`` after one that passed it; ``actor``
    needs ``experiments.read`` in the project (it reads every promoted model and the test set)."""
    authorize(ws, actor, "experiments.read", project)
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
    judge: Callable[[Artifact, datetime], Probe] = (
        BehaveProbe(ws, spec, parsed) if parsed.test else MetricProbe(ws, spec, parsed)
    )
    probes: dict[int, Probe] = {}

    def probe(index: int) -> Probe:
        if index not in probes:
            report(f"checking {versions[index][0].ref}", 0.05 + 0.9 * len(probes) / len(versions))
            probes[index] = judge(*versions[index])
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


class MetricProbe:
    """Judges promoted versions by a metric on the project's test set, read once."""

    def __init__(self, ws: Workspace, spec: ProjectSpec, check: BisectCheck) -> None:
        self.ws = ws
        self.spec = spec
        self.check = check
        self.test = project_test_set(ws, spec)

    def __call__(self, model: Artifact, promoted_at: datetime) -> Probe:
        spec, test, check = self.spec, self.test, self.check
        predict, _ = service_path(self.ws, spec.name, model, spec)
        rows = service_rows(test.frame, spec)
        predictions = predict_all(predict, rows, len(spec.labels.classes), lambda fraction: None)
        if check.slice:
            figures = slice_metrics(spec, test, predictions).get(check.slice, {})
            n = _slice_size(spec, test, check.slice)
        else:
            figures, n = overall_metrics(spec, test, predictions), len(rows)
        value = figures.get(check.metric)
        ref, artifact_id, version = model.ref, model.artifact_id, model.version
        if value is None:
            where = f"slice {check.slice!r}" if check.slice else "the test set"
            note = f"no {check.metric} on {where} (unknown metric, or too few items)"
            return Probe(ref, artifact_id, version, promoted_at, None, n, False, note)
        passed = compare(float(value), check.comparator, check.threshold)
        note = f"{check.metric} = {value:.4f} ({'passes' if passed else 'fails'} "
        note += f"{check.comparator} {check.threshold:g})"
        return Probe(ref, artifact_id, version, promoted_at, float(value), n, passed, note)


def _slice_size(spec: ProjectSpec, test: TrainingData, name: str) -> int:
    slice_name, _, value = (part.strip() for part in name.partition("="))
    for slice_spec in spec.slices:
        if slice_spec.name == slice_name:
            values = slice_values(test.frame, slice_spec).astype(str).to_numpy()
            return int((values == value).sum())
    return 0
