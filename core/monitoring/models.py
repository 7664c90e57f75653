"""Monitoring's dataclasses: what the services return and the pages draw."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from core.monitoring.log import quote
from core.monitoring.stats import PER_VALUE_LIMIT, Distribution
from core.monitoring.words import (
    alert_sentence,
    bound_text,
    figures_text,
    named,
    value_text,
    window_date,
    window_phrase,
)


def count(n: int, noun: str, many: str | None = None) -> str:
    """Counts in words: ``count(1, "alert")`` → "1 alert", ``count(2, "alert")`` → "2 alerts"."""
    return f"1 {noun}" if n == 1 else f"{n:,} {many or noun + 's'}"


@dataclass(frozen=True)
class Feature:
    """A monitored input: a logged column (or a text field's length) and how to compare it."""

    name: str  # "uptime_hours", "language", "body.length", "body" (vocabulary), "prediction"
    column: str  # the project column it comes from ("prediction" for the model's output)
    kind: str  # numeric | category | vocabulary
    integer: bool = False

    def sql(self, prefix: str = "f_") -> str:
        """The SQL expression of the feature over a table whose inputs carry ``prefix``."""
        if self.column == "prediction":
            return "CAST(prediction AS VARCHAR)"
        column = quote(prefix + self.column)
        if self.name.endswith(".length"):
            return f"CAST(length(CAST({column} AS VARCHAR)) AS DOUBLE)"
        if self.kind == "numeric":
            return f"CAST({column} AS DOUBLE)"
        if self.kind == "vocabulary":
            return f"lower(CAST({column} AS VARCHAR))"
        return f"CAST({column} AS VARCHAR)"


@dataclass(frozen=True)
class FeatureReference:
    feature: Feature
    n: int
    missing: int
    distribution: Distribution | None = None  # numeric
    categories: Mapping[str, float] = field(default_factory=dict)  # category / vocabulary
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def per_value(self) -> bool:
        """Evidently compares per value when the reference has at most 20 distinct values."""
        d = self.distribution
        return d is not None and d.exact and d.knots.size <= PER_VALUE_LIMIT


@dataclass(frozen=True)
class Reference:
    """A model version's training-data statistics, computed once and stored."""

    model_id: int
    project: str
    dataset_id: int | None
    label_set_id: int | None
    rows: int
    labeled_rows: int
    evaluation: Mapping[str, Mapping[str, float]]  # slice ('' overall) -> metric -> value
    features: Mapping[str, FeatureReference]
    calibration: Mapping[str, np.ndarray] = field(default_factory=dict)  # class -> curve
    created_at: datetime | None = None


@dataclass(frozen=True)
class Window:
    """One computed window's figures: ``metrics[(metric, slice)] = (value, n)``."""

    project: str
    grain: str
    start: datetime
    end: datetime
    model_id: int | None
    model_version: int | None
    metrics: Mapping[tuple[str, str], tuple[float | None, int | None]]

    def value(self, metric: str, slice_name: str = "") -> float | None:
        found = self.metrics.get((metric, slice_name))
        return None if found is None else found[0]

    def count(self, metric: str, slice_name: str = "") -> int | None:
        found = self.metrics.get((metric, slice_name))
        return None if found is None else found[1]

    @property
    def when(self) -> str:
        """The window in a sentence: ``the week of 2026-09-21``, ``the day of 2026-09-21``."""
        return window_phrase(self.grain, self.start)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    statistics: Mapping[str, float]  # psi, js, ks, ks_p, chi2_p, novelty
    n: int
    drifted: bool


@dataclass(frozen=True)
class Alert:
    alert_id: int
    project: str
    rule: str
    metric: str
    slice: str
    grain: str
    comparator: str
    threshold: float
    reference: float | None
    severity: str
    status: str  # open | acknowledged | resolved
    active: bool  # the breach held in the latest window evaluated
    first_window: datetime
    last_window: datetime
    windows: int
    value: float | None
    n: int | None
    model_id: int | None
    artifact_id: int | None
    evidence: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    acks: tuple[tuple[str, str, datetime], ...] = ()  # its timeline: (actor, note, at)

    @property
    def resolution(self) -> str | None:
        """Why monitoring resolved it (the last note monitoring added), if it did."""
        if self.status != "resolved":
            return None
        return next((note for who, note, _ in reversed(self.acks) if who == "loopline"), None)

    @property
    def name(self) -> str:
        """What it is about, for people: ``realized accuracy [language = de]``."""
        return named(self.metric, self.slice)

    @property
    def value_text(self) -> str:
        """Its latest value in the metric's unit (``1.2%``, ``1,204.0 ms``, ``0.846``)."""
        return value_text(self.metric, self.value)

    @property
    def label(self) -> str:
        return f"#{self.alert_id} {self.severity}: {self.name}"

    def sentence(self) -> str:
        """What went wrong, as a sentence: ``realized accuracy on language = de was 0.71 in the
        week of 2026-08-24, below 0.87`` (``in 3 week windows from …`` when it held for
        several)."""
        return alert_sentence(
            self.metric,
            self.slice,
            self.value,
            self.comparator,
            self.threshold,
            self.reference,
            self.grain,
            self.first_window,
            self.windows,
        )

    def describe(self) -> str:
        """One line: ``drift score = 8.08, above 0.25 (15 week windows, 2026-06-15 …
        2026-09-28)``."""
        bound = bound_text(self.metric, self.comparator, self.threshold, self.reference)
        when = (
            window_phrase(self.grain, self.first_window)
            if self.windows == 1
            else f"{count(self.windows, self.grain + ' window')}, "
            f"{window_date(self.grain, self.first_window)} … "
            f"{window_date(self.grain, self.last_window)}"
        )
        return f"{self.name} = {self.value_text}, {bound} ({when})"

    def opening_figures(self) -> str:
        """The figures of the window it opened on, its own metric left out (the sentence says
        it): ``84 predictions · error rate 0.0% · latency p95 3.0 ms …``."""
        figures = self.evidence.get("figures") or {}
        return figures_text({k: v for k, v in figures.items() if k != self.metric})


@dataclass(frozen=True)
class RetrainRequest:
    request_id: int
    project: str
    alert_id: int | None
    reason: str
    status: str  # pending | consumed
    requested_at: datetime
    requested_by: str
    build_id: int | None
    consumed_at: datetime | None
    alert_artifact_id: int | None = None

    @property
    def trigger(self) -> str:
        """What a build records as its trigger."""
        source = f" from alert #{self.alert_id}" if self.alert_id else ""
        return f"retraining request #{self.request_id}{source}: {self.reason}"


@dataclass(frozen=True)
class MonitorReport:
    """What one `loopline monitor` computed and what stands open."""

    project: str
    grain: str
    windows: tuple[Window, ...]
    drift: Mapping[str, tuple[FeatureDrift, ...]]  # window start (iso) -> per feature
    new_alerts: tuple[Alert, ...]
    open_alerts: tuple[Alert, ...]
    notes: tuple[str, ...] = ()
