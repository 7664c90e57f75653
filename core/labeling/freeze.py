"""Freezing: the final label of every item becomes an immutable, versioned label-set artifact.

Final label: the reviewer's decision, else the annotators' unanimous answer, else (rule
``majority``) the answer most annotators gave, if one did. Training only reads frozen label sets.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import find_artifact, get_artifact, read_file, register
from core.errors import InvalidInput, NotFound, expected_one_of
from core.labeling.agreement import agreement
from core.labeling.models import FREEZE_RULES, Annotation, Task
from core.labeling.queue import ANNOTATION_COLUMNS, current_annotations
from core.labeling.review import latest_reviews
from core.labeling.tasks import get_task
from core.projects.service import get_project
from core.spans.detect import Span
from core.store import Workspace

LABEL_COLUMNS = ["item_id", "label", "spans", "source", "annotations", "task_id"]


@dataclass(frozen=True)
class FrozenLabelSet:
    artifact: Artifact
    rows: int
    excluded: dict[str, int]
    classes: dict[str, int]
    sources: dict[str, int]


def _span_json(spans: Sequence[Span]) -> str:
    return json.dumps(
        [s.as_dict() for s in sorted(spans)], ensure_ascii=False, separators=(",", ":")
    )


def _consensus_spans(answers: Sequence[Annotation], label: str) -> tuple[Span, ...]:
    """Spans marked by more than half of the annotators who chose ``label``."""
    voters = [a for a in answers if a.label == label]
    counts = Counter(s for a in voters for s in set(a.spans))
    return tuple(sorted(s for s, n in counts.items() if n * 2 > len(voters)))


def final_labels(
    ws: Workspace, task_ids: Sequence[int], rule: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    if rule not in FREEZE_RULES:
        raise InvalidInput(expected_one_of("freeze rule", rule, FREEZE_RULES))
    answers: dict[tuple[int, str], list[Annotation]] = defaultdict(list)
    for a in current_annotations(ws, task_ids):
        answers[(a.task_id, a.item_id)].append(a)
    reviews = latest_reviews(ws, task_ids)
    rows: dict[str, dict[str, Any]] = {}
    excluded: Counter[str] = Counter()
    for key in sorted(set(answers) | set(reviews)):
        task_id, item_id = key
        given = answers.get(key, [])
        if key in reviews:
            review = reviews[key]
            label, spans, source = review.label, review.spans, "review"
        else:
            votes = Counter(a.label for a in given).most_common()
            if len(votes) == 1:
                label = str(votes[0][0])
                source = "single" if len(given) == 1 else "unanimous"
            elif rule == "majority" and votes[0][1] > votes[1][1]:
                label, source = str(votes[0][0]), "majority"
            else:
                excluded["tie" if rule == "majority" else "disagreement"] += 1
                continue
            spans = _consensus_spans(given, label)
        rows[item_id] = {
            "item_id": item_id,
            "label": label,
            "spans": _span_json(spans),
            "source": source,
            "annotations": len(given),
            "task_id": task_id,
        }
    frame = pd.DataFrame(list(rows.values()), columns=LABEL_COLUMNS).sort_values(
        "item_id", kind="stable"
    )
    return frame.reset_index(drop=True), dict(excluded)


def label_set_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256(b"loopline-label-set-v1")
    for item_id, label, spans in frame[["item_id", "label", "spans"]].itertuples(index=False):
        digest.update(f"{item_id}\x1f{label}\x1f{spans}\x1e".encode())
    return digest.hexdigest()


def freeze(
    ws: Workspace,
    project_name: str,
    actor: Actor,
    task_ids: Sequence[int],
    *,
    rule: str = "majority",
    extends: int | str | None = None,
    note: str = "",
) -> FrozenLabelSet:
    """Freeze the tasks' final labels (on top of ``extends``, a previous label set, if given)."""
    project = get_project(ws, project_name)
    tasks = _tasks_to_freeze(ws, project_name, task_ids)
    frame, excluded = final_labels(ws, task_ids, rule)
    base = get_artifact(ws, extends) if extends is not None else None
    if base is not None:
        frame = _on_top_of(ws, project_name, base, frame)
    if frame.empty:
        raise InvalidInput(
            "There is no final label to freeze yet.",
            hint="label some items, or review disagreements",
        )
    classes, sources = _counts(frame, "label"), _counts(frame, "source")
    report = agreement(current_annotations(ws, task_ids), project.spec.labels.classes)
    history = _annotation_history(ws, task_ids)
    datasets = sorted({t.dataset_id for t in tasks})
    inputs = [("annotates", d) for d in datasets] + (
        [("extends", base.artifact_id)] if base else []
    )
    inputs += trigger_inputs(tasks)
    with ws.store.transaction() as tx:
        artifact = register(
            ws,
            NewArtifact(
                "label_set",
                project_name,
                project=project_name,
                files={"labels.parquet": _parquet(frame), "annotations.parquet": _parquet(history)},
                content_hash=label_set_hash(frame),
                inputs=inputs,
                metadata={
                    "rows": len(frame),
                    "classes": classes,
                    "sources": sources,
                    "excluded": excluded,
                    "rule": rule,
                    "tasks": list(task_ids),
                    "dataset_ids": datasets,
                    "extends": base.artifact_id if base else None,
                    "annotations": len(history),
                    "alpha": report.alpha,
                    "alpha_lower": report.alpha_interval.lower if report.alpha_interval else None,
                    "alpha_upper": report.alpha_interval.upper if report.alpha_interval else None,
                    "items_compared": report.items_compared,
                    "note": note,
                },
            ),
            actor,
            checks=["freeze"],  # refused as a freeze (its roles), before any file is stored
        )
        record(
            tx,
            actor,
            "freeze",
            project=project_name,
            target=artifact.ref,
            details={"rows": len(frame), "tasks": list(task_ids), "rule": rule},
        )
    return FrozenLabelSet(artifact, len(frame), excluded, classes, sources)


def _tasks_to_freeze(ws: Workspace, project_name: str, task_ids: Sequence[int]) -> list[Task]:
    """The tasks, each checked to belong to the project."""
    if not task_ids:
        raise InvalidInput("Name at least one task to freeze.")
    tasks = [get_task(ws, t) for t in task_ids]
    for task in tasks:
        if task.project != project_name:
            raise InvalidInput(
                f"Task #{task.task_id} belongs to project {task.project!r}, not {project_name!r}."
            )
    return tasks


def _on_top_of(
    ws: Workspace, project_name: str, base: Artifact, frame: pd.DataFrame
) -> pd.DataFrame:
    """The new final labels over a previous label set's (a new label replaces its item's)."""
    if base.kind != "label_set" or base.project != project_name:
        raise InvalidInput(f"{base.ref} is not a label set of {project_name!r}.")
    previous = load_label_set(ws, base)
    frame = pd.concat(
        [previous[~previous["item_id"].isin(frame["item_id"])], frame], ignore_index=True
    )
    return frame.sort_values("item_id", kind="stable").reset_index(drop=True)


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()}


def trigger_inputs(tasks: Sequence[Task]) -> list[tuple[str, int]]:
    """Lineage of a label set from what started its tasks (e.g. a monitoring alert): the label
    set is ``triggered_by`` each task's trigger artifact."""
    return [("triggered_by", t.trigger_id) for t in tasks if t.trigger_id is not None]


def _annotation_history(ws: Workspace, task_ids: Sequence[int]) -> pd.DataFrame:
    with ws.store.read() as tx:
        cursor = tx.execute(
            f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE task_id IN (SELECT unnest(?::BIGINT[])) "
            "ORDER BY annotation_id",
            [list(task_ids)],
        ).cursor
        return cursor.fetchdf()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def load_label_set(ws: Workspace, ref: int | str | Artifact) -> pd.DataFrame:
    artifact = ref if isinstance(ref, Artifact) else get_artifact(ws, ref)
    if artifact.kind != "label_set":
        raise InvalidInput(f"{artifact.ref} is a {artifact.kind}, not a label set.")
    return pd.read_parquet(io.BytesIO(read_file(ws, artifact, "labels.parquet")))


def latest_label_set(ws: Workspace, project_name: str) -> Artifact:
    found = find_artifact(ws, f"label_set:{project_name}")
    if found is None:
        raise NotFound(
            f"Project {project_name!r} has no frozen label set yet.",
            hint="label a task and freeze it on the Labeling page or with `loopline freeze`",
        )
    return found
