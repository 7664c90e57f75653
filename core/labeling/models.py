"""Labeling's dataclasses: what services return and pages draw."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.spans.detect import Span

ORDERINGS = ("random", "uncertainty")
UNCERTAINTY = ("least_confident", "margin", "entropy")
STATUSES = ("labeled", "skipped", "retracted")
FREEZE_RULES = ("majority", "unanimous")


@dataclass(frozen=True)
class TaskFilter:
    """Which items of a dataset version a task takes. Every field is optional."""

    date_from: str | None = None
    date_to: str | None = None
    equals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # column -> allowed values
    score_min: float | None = None  # on the model's uncertainty (0 = sure, 1 = unsure)
    score_max: float | None = None
    item_ids: tuple[str, ...] | None = None
    untasked_only: bool = False  # leave out items already in another task of the project
    limit: int | None = None
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v for k, v in self.__dict__.items() if v not in (None, {}, (), False)
        }
        if "equals" in out:
            out["equals"] = {k: list(v) for k, v in self.equals.items()}
        if "item_ids" in out:
            out["item_ids"] = len(self.item_ids or ())
        return out


@dataclass(frozen=True)
class Task:
    task_id: int
    project: str
    name: str
    dataset_id: int
    filter: Mapping[str, Any]
    overlap: int
    ordering: str
    uncertainty: str | None
    model_id: int | None
    lease_seconds: int
    instructions: str
    status: str
    trigger_id: int | None
    created_at: datetime
    created_by: str
    items: int

    @property
    def label(self) -> str:
        return f"#{self.task_id} {self.name}"


@dataclass(frozen=True)
class Suggestion:
    label: str | None
    probability: float | None
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class QueueItem:
    """One item to label: its fields from the dataset, the suggestion, and where the queue stands."""

    task_id: int
    item_id: str
    fields: Mapping[str, Any]
    suggestion: Suggestion
    required: int
    labels_so_far: int
    resumed: bool = False


@dataclass(frozen=True)
class Annotation:
    annotation_id: int
    task_id: int
    item_id: str
    annotator: str
    status: str
    label: str | None
    spans: tuple[Span, ...]
    unsure: bool
    note: str
    seconds: float | None
    source: str
    created_at: datetime


@dataclass(frozen=True)
class Review:
    review_id: int
    task_id: int
    item_id: str
    reviewer: str
    label: str
    spans: tuple[Span, ...]
    note: str
    created_at: datetime


@dataclass(frozen=True)
class TaskProgress:
    items: int
    complete_items: int  # items with as many labels as they need
    labels_needed: int
    labels_done: int
    mine_total: int
    mine_today: int
    per_annotator: Mapping[str, int]
    skipped: int
    unsure: int

    @property
    def left_items(self) -> int:
        return self.items - self.complete_items


@dataclass(frozen=True)
class SpanVote:
    """A span some annotators of an item marked (same type, start and end), and who."""

    span: Span
    annotators: tuple[str, ...]


@dataclass(frozen=True)
class ReviewCase:
    """An item to adjudicate: every annotator's current answer, why it is in the queue, and
    each distinct span they marked with who marked it (to decide span by span)."""

    task_id: int
    item_id: str
    reason: str  # "disagreement", "span disagreement" or "unsure"
    annotations: tuple[Annotation, ...]
    fields: Mapping[str, Any]
    suggestion: Suggestion
    span_votes: tuple[SpanVote, ...] = ()

    def spans_of(self, annotator: str) -> tuple[Span, ...]:
        """One annotator's spans (to decide the item's spans as theirs)."""
        return next((a.spans for a in self.annotations if a.annotator == annotator), ())

    def majority_spans(self) -> tuple[Span, ...]:
        """The spans more than half the item's annotators marked."""
        half = len(self.annotations) / 2
        return tuple(v.span for v in self.span_votes if len(v.annotators) > half)
