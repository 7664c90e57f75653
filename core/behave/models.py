"""What a behavioural suite's run found: per test its pass rate with ``n`` and a Wilson interval,
the verdict against its threshold, and a few failing examples."""

from __future__ import annotations

from dataclasses import dataclass

from core.stats import Interval, wilson

MAX_FAILURES = 5  # failing examples kept per test
METRIC = "behave_pass_rate"  # the figure's name where requirements read it (slice: test = NAME)


@dataclass(frozen=True)
class Failure:
    example: str  # the example as the model saw it (text shortened, or the changed features)
    expected: str
    got: str


@dataclass(frozen=True)
class BehaveResult:
    name: str
    kind: str  # mft | inv | dir
    capability: str
    expectation: str  # the expectations in words
    n: int  # examples judged
    passed_n: int
    threshold: float
    failures: tuple[Failure, ...] = ()

    @property
    def pass_rate(self) -> float | None:
        return self.passed_n / self.n if self.n else None

    @property
    def interval(self) -> Interval:
        return wilson(self.passed_n, self.n)

    @property
    def passed(self) -> bool:
        """At least ``threshold`` of the examples passed (a test with no example fails)."""
        rate = self.pass_rate
        return rate is not None and rate >= self.threshold

    @property
    def slice(self) -> str:
        """The slice its figure is stored under: ``test = NAME``."""
        return f"test = {self.name}"

    def text(self) -> str:
        """``18/20 passed (0.900; n = 20, 95% CI 0.699–0.972), needs ≥ 0.9``."""
        if not self.n:
            return f"no example could be made for this test (needs ≥ {self.threshold:g})"
        return (
            f"{self.passed_n}/{self.n} passed ({self.pass_rate:.3f}; {self.interval.text()}), "
            f"{'≥' if self.passed else '<'} {self.threshold:g}"
        )


@dataclass(frozen=True)
class SuiteResult:
    project: str
    model: str  # the model as people name it
    source: str  # the suite file
    tests: tuple[BehaveResult, ...]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tests)

    @property
    def failed(self) -> tuple[BehaveResult, ...]:
        return tuple(t for t in self.tests if not t.passed)
