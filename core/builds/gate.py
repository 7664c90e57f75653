"""The build gate: small check configs with an explicit registry, each computing a typed result.

A gate file (``gates/<project>.yaml`` in the workspace, or ``--gate FILE``) lists checks:

    checks:
      - {check: min_metric, metric: f1_macro, threshold: 0.85}
      - {check: max_regression, metric: accuracy, tolerance: 0.01}
      - {check: max_regression, metric: accuracy, slices: protected, tolerance: 0.02}
      - {check: max_latency, metric: latency_p95_ms, threshold: 50}
      - {check: min_metric, metric: accuracy, slice: language = de, threshold: 0.8, inconclusive: pass}
      - {check: requirements, ids: [ML-2, ML-7]}   # default: every ML requirement with evidence 'build'
      - {check: min_pass_rate, threshold: 0.95, tests: [German out-of-office with a return date]}

The behavioural suite's check (``min_pass_rate``) is also added on its own when the project has
a suite (``gates/<project>.behave.yaml``, docs/behave.md): each test must pass at least its own
share of examples (or ``threshold``, when the gate gives one), one check per test.

The requirements check is also added on its own when the project has ML requirements whose
evidence is the build (see docs/traceability.md): a violated one fails the build, named by its id.

``min_metric`` and ``requirements`` judge a figure as the traceability matrix does
(core/requirements/rules.py ``verdict``): with its sample size and confidence interval, *met*
when the interval clears the threshold, *violated* when it lies on the wrong side, *inconclusive*
when it straddles it or n is below the metric's minimum sample. An inconclusive check fails the
build on a protected slice of the project and passes elsewhere (``inconclusive: protected``, the
default), or always fails (``fail``) or passes (``pass``); its message names the verdict, n and
the interval, the same words on the Builds page, in JUnit and in the matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.behave.models import METRIC, BehaveResult
from core.errors import InvalidInput, expected_one_of
from core.ml.evaluate import Evaluation
from core.projects.spec import ProjectSpec
from core.requirements.confidence import latency_intervals
from core.requirements.rules import Rule, check, default_min_n, verdict
from core.stats import Interval, confusion_intervals

INCONCLUSIVE = ("protected", "fail", "pass")  # what an inconclusive verdict does to the build


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    metric: str
    slice: str
    value: float | None
    baseline: float | None
    threshold: float | None
    passed: bool
    message: str


def interval_of(evaluation: Evaluation, metric: str, slice_name: str) -> Interval | None:
    """The figure's sample size and interval, from the evaluation's confusion matrix (overall or
    the slice's) or its latency timings, as the matrix computes them; None: none known."""
    table = evaluation.confusion if not slice_name else evaluation.slice_confusion.get(slice_name)
    if table and evaluation.classes:
        found = confusion_intervals(np.asarray(table, float), evaluation.classes).get(metric)
        if found is not None:
            return found
    if not slice_name and evaluation.latency_timings:
        return latency_intervals(evaluation.latency_timings).get(metric)
    return None


def judged(
    value: float | None,
    comparator: str,
    limit: float | None,
    interval: Interval | None,
    min_n: int,
) -> tuple[str, str]:
    """The verdict (met, violated, inconclusive, no_evidence) and its evidence text."""
    known = interval if interval is not None else Interval(None, None, None, "none")
    found = verdict(
        value, comparator, limit, n=known.n, lower=known.lower, upper=known.upper, min_n=min_n
    )
    if found == "inconclusive" and known.n is not None and known.n < min_n:
        return found, f"{known.text()}; fewer than the {min_n} needed to judge"
    return found, known.text()


def settle(
    found: str, inconclusive: str, slice_name: str, spec: ProjectSpec | None
) -> tuple[bool, str]:
    """Whether a verdict passes the gate, and what the message adds for an inconclusive one:
    ``protected`` (the default) fails it on a protected slice and lets it pass elsewhere."""
    if found != "inconclusive":
        return found == "met", ""
    protected = spec is not None and slice_name in {str(p) for p in spec.protected_slices}
    if inconclusive == "protected":
        if protected:
            return False, " (fails the build: a protected slice)"
        return True, " (passes: not a protected slice)"
    if inconclusive == "pass":
        return True, " (passes: inconclusive: pass)"
    return False, " (fails the build)"


@dataclass(frozen=True)
class MinMetric:
    metric: str
    threshold: float
    slice: str = ""
    inconclusive: str = "protected"  # what an inconclusive verdict does (INCONCLUSIVE)

    def __post_init__(self) -> None:
        if self.inconclusive not in INCONCLUSIVE:
            raise InvalidInput(expected_one_of("inconclusive", self.inconclusive, INCONCLUSIVE))

    def run(
        self, candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
    ) -> list[CheckResult]:
        value = _metric(candidate, self.metric, self.slice)
        interval = interval_of(candidate, self.metric, self.slice)
        found, evidence = judged(value, ">=", self.threshold, interval, default_min_n(self.metric))
        passed, note = settle(found, self.inconclusive, self.slice, spec)
        where = f" on {self.slice}" if self.slice else ""
        text = (
            f"{self.metric}{where} = {_fmt(value)} ({evidence}) vs ≥ {self.threshold}: "
            f"{found.replace('_', ' ')}{note}"
        )
        return [
            CheckResult(
                f"min {self.metric}{where}",
                "min_metric",
                self.metric,
                self.slice,
                value,
                None,
                self.threshold,
                passed,
                text,
            )
        ]


@dataclass(frozen=True)
class MaxRegression:
    metric: str
    tolerance: float
    slices: str = "overall"  # "overall", "protected", or one slice name such as "language = en"

    def run(
        self, candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
    ) -> list[CheckResult]:
        if self.slices == "overall":
            targets = [""]
        elif self.slices == "protected":
            targets = [str(p) for p in spec.protected_slices]
        else:
            targets = [self.slices]
        results = []
        for target in targets:
            where = f" on {target}" if target else ""
            value = _metric(candidate, self.metric, target)
            before = None if baseline is None else _metric(baseline, self.metric, target)
            if baseline is None:
                passed, message = True, "no model in production yet: nothing to compare"
            elif value is None or before is None:
                passed, message = (
                    False,
                    f"{self.metric}{where} could not be measured (too few test items)",
                )
            else:
                drop = before - value
                passed = drop <= self.tolerance
                message = (
                    f"{self.metric}{where}: {value:.3f} vs production {before:.3f} "
                    f"({'+' if drop <= 0 else '−'}{abs(drop):.3f}; allowed drop {self.tolerance})"
                )
            results.append(
                CheckResult(
                    f"no regression of {self.metric}{where}",
                    "max_regression",
                    self.metric,
                    target,
                    value,
                    before,
                    self.tolerance,
                    passed,
                    message,
                )
            )
        return results


@dataclass(frozen=True)
class MaxLatency:
    threshold: float
    metric: str = "latency_p95_ms"

    def run(
        self, candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
    ) -> list[CheckResult]:
        value = candidate.latency.get(self.metric)
        passed = value is not None and value <= self.threshold
        return [
            CheckResult(
                f"max {self.metric}",
                "max_latency",
                self.metric,
                "",
                value,
                None,
                self.threshold,
                passed,
                f"{self.metric} = {_fmt(value)} ms {'≤' if passed else '>'} {self.threshold} ms",
            )
        ]


@dataclass(frozen=True)
class MeetsRequirements:
    """The project's ML requirements checked on the candidate: every one whose evidence is the
    build, or the ``ids`` listed. ``rules`` and ``extra`` (run-level figures such as training time
    or label agreement) are filled in by the build from the workspace's requirement set."""

    ids: Sequence[str] = ()
    rules: tuple[Rule, ...] = ()
    extra: Mapping[str, float] = field(default_factory=dict)
    behave: tuple[BehaveResult, ...] = ()  # the build's behavioural tests (``test = NAME``)
    min_n: Mapping[str, int] = field(default_factory=dict)  # requirement id -> minimum sample
    inconclusive: str = "protected"  # what an inconclusive verdict does (INCONCLUSIVE)

    def __post_init__(self) -> None:
        if self.inconclusive not in INCONCLUSIVE:
            raise InvalidInput(expected_one_of("inconclusive", self.inconclusive, INCONCLUSIVE))

    def run(
        self, candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
    ) -> list[CheckResult]:
        if not self.rules:
            return [
                CheckResult(
                    "requirements",
                    "requirement",
                    "",
                    "",
                    None,
                    None,
                    None,
                    True,
                    "no ML requirement is checked on builds",
                )
            ]

        def lookup(metric: str, slice_name: str) -> float | None:
            if metric == METRIC:
                return next(
                    (t.pass_rate for t in self.behave if t.slice == slice_name.strip()), None
                )
            found = _metric(candidate, metric, slice_name)
            if found is None and not slice_name and metric in self.extra:
                return float(self.extra[metric])
            return found

        def interval(metric: str, slice_name: str) -> Interval | None:
            if metric == METRIC:
                return next(
                    (t.interval for t in self.behave if t.slice == slice_name.strip()), None
                )
            return interval_of(candidate, metric, slice_name)

        results = []
        for rule in self.rules:
            outcome = check(rule, lookup)
            links = f" (derived from {', '.join(rule.derived_from)})" if rule.derived_from else ""
            message = outcome.text(rule) + links
            passed = outcome.passed is not False
            if outcome.passed is None:
                message += ": no evidence in this build"
            else:
                found, evidence, where = self._verdict(rule, outcome.threshold, lookup, interval)
                passed, note = settle(found, self.inconclusive, where, spec)
                message += f" ({evidence}): {found.replace('_', ' ')}{note}"
            results.append(
                CheckResult(
                    f"{rule.requirement_id}: {rule.text()}",
                    "requirement",
                    rule.metric,
                    outcome.slice,
                    outcome.value,
                    None,
                    outcome.threshold,
                    passed,
                    message,
                )
            )
        return results

    def _verdict(
        self,
        rule: Rule,
        limit: float | None,
        lookup: Any,
        interval: Any,
    ) -> tuple[str, str, str]:
        """The worst verdict over the rule's slices (violated, then inconclusive, then met),
        with that slice's evidence and the slice."""
        order = {"violated": 0, "inconclusive": 1, "no_evidence": 2, "met": 3}
        min_n = self.min_n.get(rule.requirement_id, default_min_n(rule.metric))
        worst: tuple[str, str, str] | None = None
        for target in rule.slices or ("",):
            value = lookup(rule.metric, target)
            if value is None:
                continue
            found = judged(value, rule.comparator, limit, interval(rule.metric, target), min_n)
            if worst is None or order[found[0]] < order[worst[0]]:
                worst = (*found, target)
        return worst or ("no_evidence", "no figure", "")


@dataclass(frozen=True)
class MinPassRate:
    """Each behavioural test (or the ``tests`` listed) passes at least ``threshold`` of its
    examples (None: the test's own ``min_pass_rate``). ``results`` and ``suite`` are filled in by
    the build from its run of the suite."""

    threshold: float | None = None
    tests: Sequence[str] = ()
    results: tuple[BehaveResult, ...] = ()
    suite: str = ""

    def run(
        self, candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
    ) -> list[CheckResult]:
        if not self.suite:
            return [
                CheckResult(
                    "behavioural tests", "behave", METRIC, "", None, None, self.threshold, False,
                    f"no behavioural suite: write gates/{spec.name}.behave.yaml (docs/behave.md)",
                )
            ]  # fmt: skip
        chosen = [r for r in self.results if not self.tests or r.name in self.tests]
        unknown = sorted(set(self.tests) - {r.name for r in self.results})
        if unknown:
            raise InvalidInput(
                f"The gate names behavioural test(s) {', '.join(map(repr, unknown))}, which "
                f"{self.suite} does not have.",
                hint="use the names of the suite's tests",
            )
        return [self._result(r) for r in chosen]

    def _result(self, result: BehaveResult) -> CheckResult:
        threshold = result.threshold if self.threshold is None else self.threshold
        rate = result.pass_rate
        passed = rate is not None and rate >= threshold
        message = (
            f"{result.passed_n}/{result.n} passed ({_fmt(rate)}; {result.interval.text()}) "
            f"{'≥' if passed else '<'} {threshold:g}"
            if result.n
            else "no example could be made for this test"
        )
        if result.failures and not passed:
            worst = result.failures[0]
            message += f"; e.g. expected {worst.expected}, got {worst.got}"
        return CheckResult(
            f"behave: {result.name}",
            "behave",
            METRIC,
            result.slice,
            rate,
            None,
            threshold,
            passed,
            message,
        )


CHECKS: dict[
    str,
    type[MinMetric]
    | type[MaxRegression]
    | type[MaxLatency]
    | type[MeetsRequirements]
    | type[MinPassRate],
] = {
    "min_metric": MinMetric,
    "max_regression": MaxRegression,
    "max_latency": MaxLatency,
    "requirements": MeetsRequirements,
    "min_pass_rate": MinPassRate,
}
Check = MinMetric | MaxRegression | MaxLatency | MeetsRequirements | MinPassRate


def _metric(evaluation: Evaluation, metric: str, slice_name: str) -> float | None:
    source = evaluation.overall if not slice_name else evaluation.slices.get(slice_name, {})
    value = (
        source.get(metric)
        if metric in source
        else evaluation.latency.get(metric)
        if not slice_name
        else None
    )
    return None if value is None else float(value)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def default_gate(spec: ProjectSpec) -> list[Check]:
    checks: list[Check] = [
        MinMetric("f1_macro", 0.75),
        MaxRegression("f1_macro", 0.01),
        MaxLatency(100.0),
    ]
    if spec.protected_slices:
        checks.insert(2, MaxRegression("accuracy", 0.02, "protected"))
    return checks


def parse_gate(data: Any, source: str) -> list[Check]:
    if not isinstance(data, Mapping) or not isinstance(data.get("checks"), Sequence):
        raise InvalidInput(f"{source}: expected a mapping with a list of 'checks'.")
    checks: list[Check] = []
    for index, entry in enumerate(data["checks"]):
        if not isinstance(entry, Mapping) or "check" not in entry:
            raise InvalidInput(f"{source}: checks[{index}]: expected {{check: NAME, …}}.")
        kind = entry["check"]
        if kind not in CHECKS:
            raise InvalidInput(
                f"{source}: checks[{index}].check: {expected_one_of('check', kind, CHECKS)}"
            )
        arguments = {k: v for k, v in entry.items() if k != "check"}
        if kind == "requirements":
            unknown = sorted(set(arguments) - {"ids", "inconclusive"})
            if unknown:
                raise InvalidInput(
                    f"{source}: checks[{index}]: the requirements check takes only 'ids' and "
                    f"'inconclusive', not {', '.join(unknown)}."
                )
            ids = arguments.get("ids") or ()
            ids = [ids] if isinstance(ids, str) else ids
            arguments = {
                "ids": tuple(str(i) for i in ids),
                "inconclusive": str(arguments.get("inconclusive", "protected")),
            }
        if kind == "min_pass_rate":
            arguments = _pass_rate_arguments(arguments, f"{source}: checks[{index}]")
        try:
            checks.append(CHECKS[kind](**arguments))
        except TypeError as exc:
            raise InvalidInput(f"{source}: checks[{index}]: {exc}.") from exc
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: checks[{index}]: {exc.message}") from exc
    return checks


def _pass_rate_arguments(arguments: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(arguments) - {"threshold", "tests"})
    if unknown:
        raise InvalidInput(
            f"{where}: the min_pass_rate check takes only 'threshold' and 'tests', "
            f"not {', '.join(unknown)}."
        )
    threshold = arguments.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise InvalidInput(f"{where}.threshold: expected a share from 0 to 1, got {threshold!r}.")
    tests = arguments.get("tests") or ()
    tests = [tests] if isinstance(tests, str) else tests
    return {
        "threshold": None if threshold is None else float(threshold),
        "tests": tuple(str(t) for t in tests),
    }


def load_gate(
    path: Path | None, workspace_root: Path, spec: ProjectSpec
) -> tuple[list[Check], str]:
    chosen = path or workspace_root / "gates" / f"{spec.name}.yaml"
    if chosen.is_file():
        try:
            data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{chosen.name}: not valid YAML ({exc}).") from exc
        return parse_gate(data, chosen.name), str(chosen)
    if path is not None:
        raise InvalidInput(f"No gate file at {path}.")
    return default_gate(spec), "default gate"


def run_gate(
    checks: Sequence[Check], candidate: Evaluation, baseline: Evaluation | None, spec: ProjectSpec
) -> list[CheckResult]:
    return [result for check in checks for result in check.run(candidate, baseline, spec)]
