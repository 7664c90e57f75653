"""What `loopline bisect` reads and finds: the check, each promoted version probed, the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BisectCheck:
    text: str  # as the user wrote it
    metric: str
    slice: str  # '' = the whole test set; a behavioural test's: ``test = NAME``
    comparator: str
    threshold: float
    requirement_id: str | None = None
    test: str = ""  # a behavioural test of the project's suite, by name ('' = a metric)

    @property
    def expectation(self) -> str:
        if self.test:
            return f"behave: {self.test} (pass rate {self.comparator} {self.threshold:g})"
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
    n: int  # test items (a behavioural test: examples) the figure rests on
    passed: bool
    note: str
    lower: float | None = None  # a behavioural test's pass rate: its 95% Wilson interval
    upper: float | None = None
    example: str = ""  # a behavioural test's first failing example, what it expected and got


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
