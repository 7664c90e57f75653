"""A behavioural test of the project's suite (``gates/<project>.behave.yaml``, docs/behave.md) as
bisect's check: the one test re-run on each promoted version. Its examples are seeded and drawn
from the project's current test set, so every version answers the same examples; a version
passes when its pass rate clears the threshold, as the build's ``min_pass_rate`` check judges it.
"""

from __future__ import annotations

from datetime import datetime

from core.artifacts.models import Artifact
from core.behave.models import METRIC
from core.behave.run import Sample, run_test
from core.behave.service import test_set_sampler
from core.behave.suite import BehaveTest, Suite, find_suite
from core.bisect.models import BisectCheck, Probe
from core.errors import InvalidInput, NotFound
from core.projects.spec import ProjectSpec
from core.registry.service import load_model
from core.requirements.rules import compare
from core.store import Workspace

PREFIX = "behave:"  # --check 'behave:German out-of-office with a return date'
SLICE = "test ="  # the slice a test's pass rate is stored under: ``test = NAME``


def behave_check(ws: Workspace, spec: ProjectSpec, text: str) -> BisectCheck | None:
    """``behave:NAME``: the suite's test NAME against its own ``min_pass_rate``; None when
    ``text`` is not written that way."""
    written = text.strip()
    if not written.lower().startswith(PREFIX):
        return None
    name = written[len(PREFIX) :].strip().strip("\"'").strip()
    if not name:
        raise InvalidInput(
            f"The check {text!r} names no behavioural test.",
            hint="name one of the suite's tests: --check 'behave:NAME'",
        )
    _, test = suite_test(ws, spec, name)
    return BisectCheck(
        text, METRIC, f"test = {test.name}", ">=", test.min_pass_rate, test=test.name
    )


def named_test(metric: str, slice_: str, where: str) -> str:
    """The test a ``behave_pass_rate`` figure is of, from its slice ``test = NAME``."""
    if metric != METRIC:
        return ""
    if not slice_.startswith(SLICE) or not slice_[len(SLICE) :].strip():
        raise InvalidInput(
            f"{where}: {METRIC} is a behavioural test's pass rate and needs the test as its "
            f"slice, not {slice_ or 'none'!r}.",
            hint=f"write '{METRIC} @ test = NAME >= 0.9', or 'behave:NAME' for the test's own "
            "threshold",
        )
    return slice_[len(SLICE) :].strip()


def suite_test(ws: Workspace, spec: ProjectSpec, name: str) -> tuple[Suite, BehaveTest]:
    """The project's suite and its test ``name``; a missing suite or test is named."""
    suite = find_suite(None, ws.root, spec)
    if suite is None:
        raise NotFound(
            f"Project {spec.name!r} has no behavioural suite to take the test {name!r} from.",
            hint=f"write gates/{spec.name}.behave.yaml in the workspace (see docs/behave.md; the "
            "sample projects' suites are sample_data/<project>/behave.yaml)",
        )
    for test in suite.tests:
        if test.name == name:
            return suite, test
    raise InvalidInput(
        f"{suite.source} has no behavioural test {name!r}. "
        f"Expected one of: {', '.join(t.name for t in suite.tests)}.",
        hint="quote the check: --check 'behave:German out-of-office with a return date'",
    )


class BehaveProbe:
    """Judges promoted versions by one behavioural test; the test set is read once."""

    def __init__(self, ws: Workspace, spec: ProjectSpec, check: BisectCheck) -> None:
        self.ws = ws
        self.spec = spec
        self.check = check
        self.suite, self.test = suite_test(ws, spec, check.test)
        self.sample: Sample = test_set_sampler(ws, spec)

    def __call__(self, model: Artifact, promoted_at: datetime) -> Probe:
        result = run_test(
            load_model(self.ws, model), self.spec, self.test, self.suite.seed, self.sample
        )
        rate, interval, check = result.pass_rate, result.interval, self.check
        passed = rate is not None and compare(rate, check.comparator, check.threshold)
        if rate is None:
            note = "no example could be made for this test"
        else:
            note = (
                f"{result.passed_n}/{result.n} passed ({rate:.3f}; {interval.text()}), "
                f"{'passes' if passed else 'fails'} {check.comparator} {check.threshold:g}"
            )
        failure = result.failures[0] if result.failures else None
        example = (
            ""
            if failure is None
            else f"{failure.example}: expected {failure.expected}, got {failure.got}"
        )
        return Probe(
            model.ref,
            model.artifact_id,
            model.version,
            promoted_at,
            rate,
            result.n,
            passed,
            note,
            interval.lower,
            interval.upper,
            example,
        )
