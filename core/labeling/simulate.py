"""Simulated annotators for the demo: they work through the real queue (lease, save, skip) and
make realistic, seeded mistakes from a profile; reviewers settle disagreements from the truth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.actor import Actor
from core.labeling.interchange import ImportResult, import_annotations
from core.labeling.queue import next_item, save_annotation
from core.labeling.review import decide, review_queue
from core.spans.detect import Span, from_dicts
from core.store import Workspace

Truth = Mapping[str, Mapping[str, Any]]  # item id -> {label, spans (JSON), difficulty, …}


def truth_table(frame: pd.DataFrame, id_column: str) -> dict[str, dict[str, Any]]:
    records = frame.set_index(id_column).to_dict("index")
    return {str(k): {str(c): v for c, v in row.items()} for k, row in records.items()}


@dataclass(frozen=True)
class AnnotatorProfile:
    """How one simulated person labels: error rates overall and on hard items, spans they miss."""

    name: str
    error_rate: float = 0.02
    hard_error_rate: float | None = None  # on items whose difficulty is "hard"; default error_rate
    hard_error_to: str | None = None  # the class a hard item is mistaken for (default: any other)
    span_miss_rate: float = 0.0
    span_miss: Mapping[str, float] = field(
        default_factory=dict
    )  # per span type, overrides the above
    unsure_rate: float = 0.0
    share: float = 1.0  # relative amount of work this person takes

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnnotatorProfile:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def simulated_answer(
    profile: AnnotatorProfile,
    truth: Mapping[str, Any],
    classes: Sequence[str],
    rng: np.random.Generator,
    hard: bool,
) -> tuple[str, tuple[Span, ...], bool]:
    label = str(truth["label"])
    rate = (
        profile.hard_error_rate
        if hard and profile.hard_error_rate is not None
        else profile.error_rate
    )
    if rng.random() < rate:
        if hard and profile.hard_error_to and profile.hard_error_to != label:
            label = profile.hard_error_to
        else:
            others = [c for c in classes if c != label]
            label = str(others[int(rng.integers(len(others)))])
    spans: list[Span] = []
    if label == truth["label"]:
        for span in from_dicts(json.loads(str(truth.get("spans") or "[]"))):
            if rng.random() >= profile.span_miss.get(span.type, profile.span_miss_rate):
                spans.append(span)
    return label, tuple(spans), bool(rng.random() < profile.unsure_rate)


def simulate_labeling(
    ws: Workspace,
    task_id: int,
    truth: Truth,
    profiles: Sequence[AnnotatorProfile],
    classes: Sequence[str],
    *,
    seed: int = 0,
    hard_values: Sequence[str] = ("hard_negative", "ambiguous"),
    stop_after: int | None = None,
) -> dict[str, int]:
    """Annotators take turns (weighted by share) through the queue until no one gets an item."""
    rng = np.random.default_rng(seed)
    done: dict[str, int] = {p.name: 0 for p in profiles}
    active = list(profiles)
    with ws.store.read():  # keep the workspace open for the whole session of work
        while active and (stop_after is None or sum(done.values()) < stop_after):
            weights = np.array([p.share for p in active], dtype=float)
            profile = active[int(rng.choice(len(active), p=weights / weights.sum()))]
            who = Actor(profile.name, "demo")
            item = next_item(ws, task_id, who)
            if item is None:
                active.remove(profile)
                continue
            row = truth[item.item_id]
            hard = str(row.get("difficulty", "")) in hard_values
            label, spans, unsure = simulated_answer(profile, row, classes, rng, hard)
            save_annotation(
                ws,
                task_id,
                item.item_id,
                who,
                label,
                spans=spans,
                unsure=unsure,
                note="not sure" if unsure else "",
                seconds=float(rng.gamma(3.0, 2.5)),
            )
            done[profile.name] += 1
    return done


def simulate_review(ws: Workspace, task_id: int, truth: Truth, reviewer: str, limit: int) -> int:
    """A careful reviewer settles up to ``limit`` waiting items with the true answer."""
    cases, _ = review_queue(ws, task_id, limit=limit)
    who = Actor(reviewer, "demo")
    with ws.store.read():
        for case in cases:
            row = truth[case.item_id]
            spans = from_dicts(json.loads(str(row.get("spans") or "[]")))
            decide(
                ws,
                task_id,
                case.item_id,
                who,
                str(row["label"]),
                spans=spans,
                note="checked against the source",
            )
    return len(cases)


def simulate_verdicts(
    ws: Workspace,
    project: str,
    truth: Truth,
    item_ids: Sequence[str],
    operators: Sequence[AnnotatorProfile],
    classes: Sequence[str],
    actor: Actor,
    *,
    second_opinion: float = 0.0,
    seed: int = 0,
    task_name: str = "Verdicts",
) -> ImportResult:
    """Verdicts recorded elsewhere (e.g. by screening operators), brought in through the importer."""
    rng = np.random.default_rng(seed)
    records = []
    for item_id in item_ids:
        row = truth[item_id]
        picks = rng.choice(
            len(operators), size=2 if rng.random() < second_opinion else 1, replace=False
        )
        for pick in picks:
            label, spans, unsure = simulated_answer(
                operators[int(pick)], row, classes, rng, hard=False
            )
            records.append(
                {
                    "item_id": item_id,
                    "annotator": operators[int(pick)].name,
                    "label": label,
                    "spans": list(spans),
                    "unsure": unsure,
                    "note": "",
                }
            )
    return import_annotations(
        ws, project, pd.DataFrame(records), actor, task_name=task_name, source="verdicts"
    )
