"""`loopline verify-system PROJECT`: the production model end to end on the project's large test set.

The model is loaded and called the way the prediction service does it (``core.serving``: the lean
row predictor, one request's items at a time, results as the service answers them), every test
item goes through it, and the per-item latency is measured one item at a time. The result is
evidence: a ``verification_runs`` row with its metrics (overall and per slice), an ``evaluation``
artifact linked to the model, dataset and label set, and recomputed statuses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import register
from core.errors import NotFound
from core.experiments.service import project_test_set
from core.ml.data import TrainingData, slice_values
from core.ml.evaluate import MIN_SLICE, classification_metrics, span_metrics
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias
from core.requirements.confidence import figure_intervals, latency_intervals, span_counts
from core.requirements.service import select_current
from core.requirements.status import recompute, select_statuses
from core.serving.service import Item, load_served, predict_items
from core.spans.detect import Span, from_dicts
from core.stats import Interval
from core.store import Tx, Workspace, utcnow

Progress = Callable[[str, float], None]
BATCH = 256
Predict = Callable[[list[dict[str, Any]]], tuple[np.ndarray, list[list[Span]]]]
SERVICE_PATH = "core.serving.predict_items"
RUN_COLUMNS = (
    "verification_id, project, model_id, model_version, dataset_id, label_set_id, artifact_id, "
    "items, path, created_at, created_by"
)
METRIC_COLUMNS = "verification_id, metric, slice, value, n, lower, upper"


@dataclass(frozen=True)
class Verification:
    verification_id: int
    project: str
    model_ref: str
    model_id: int
    dataset_id: int
    label_set_id: int
    items: int
    path: str
    overall: Mapping[str, float]
    slices: Mapping[str, Mapping[str, float]]
    artifact_id: int
    changes: int
    violated: tuple[str, ...] = ()  # the ML requirements violated after it
    # inconclusive ML requirements that say an inconclusive verdict fails (fail_when_inconclusive)
    inconclusive_failing: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()  # every inconclusive ML requirement after it
    no_check: tuple[str, ...] = ()  # ML requirements with no Loopline check yet (nothing to verify)

    @property
    def fails(self) -> bool:
        """Whether `verify-system` exits 1: a violated requirement, or an inconclusive one that
        says inconclusive fails."""
        return bool(self.violated or self.inconclusive_failing)


@dataclass(frozen=True)
class Predictions:
    """What the served model said about every test item, in the test set's order."""

    probabilities: np.ndarray  # one row per item, one column per class
    spans: list[list[Span]]


@dataclass(frozen=True)
class Measurement:
    """One verification's figures before they are recorded: what was measured, on what, how."""

    project: str
    model: Artifact
    test: TrainingData
    items: int
    path: str
    overall: dict[str, float]
    slices: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, Interval]] = field(default_factory=dict)  # by slice ('')


def verify_system(
    ws: Workspace,
    project: str,
    actor: Actor,
    *,
    latency_items: int = 200,
    progress: Progress | None = None,
) -> Verification:
    """The production model through the prediction service on the project's test set, recorded
    as evidence (run, metrics, evaluation artifact, audit) with the statuses recomputed."""
    report = progress or _silent
    spec = get_project(ws, project).spec
    model = production_model(ws, project)
    report("reading the test set", 0.02)
    test = project_test_set(ws, spec)
    predict, path = service_path(ws, project, model, spec)
    rows = service_rows(test.frame, spec)
    predictions = predict_all(
        predict,
        rows,
        len(spec.labels.classes),
        lambda fraction: report(f"predicting {len(rows):,} items through {path}", fraction),
    )
    report("timing one item at a time", 0.7)
    timings = time_items(predict, rows[:latency_items])
    overall = {**overall_metrics(spec, test, predictions), **latency_figures(timings)}
    slices = slice_metrics(spec, test, predictions)
    report("measuring each figure's confidence interval", 0.8)
    intervals = measured_intervals(spec, test, predictions, overall, slices)
    intervals[""].update(latency_intervals(timings))
    report("recording the evidence", 0.9)
    measured = Measurement(project, model, test, len(rows), path, overall, slices, intervals)
    verification = record_verification(ws, measured, actor)
    report("done", 1.0)
    return verification


def _silent(stage: str, fraction: float) -> None:
    pass


def production_model(ws: Workspace, project: str) -> Artifact:
    """The model under the project's ``production`` alias: the one a verification checks."""
    model = find_alias(ws, project, "production")
    if model is None:
        raise NotFound(
            f"Project {project!r} has no model in production to verify.",
            hint=f"promote one: `loopline promote {project} MODEL --reason …`",
        )
    return model


def service_path(
    ws: Workspace, project: str, model: Artifact, spec: ProjectSpec
) -> tuple[Predict, str]:
    """The prediction service's own path (``core.serving``): the served model, one request's
    items at a time, results as the service answers them; and the path's name."""
    classes = list(spec.labels.classes)
    served = load_served(ws, project, model.artifact_id, None)
    now = utcnow()

    def through_service(rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[list[Span]]]:
        items = [Item(f"verify:{i}", row, now) for i, row in enumerate(rows)]
        predict_items(served, items)
        probabilities = np.array(
            [[item.result["probabilities"][c] for c in classes] for item in items]
        )
        spans = [from_dicts(item.result.get("spans", [])) for item in items]
        return probabilities, spans

    return through_service, SERVICE_PATH


def service_rows(frame: pd.DataFrame, spec: ProjectSpec) -> list[dict[str, Any]]:
    """The test items as the service receives them: the inputs (and the span field), None for
    missing values."""
    span_field = [spec.labels.spans.field] if spec.labels.spans else []
    fields = [c for c in dict.fromkeys([*spec.inputs, *span_field]) if c in frame]
    return _records(frame, fields)


def _records(frame: pd.DataFrame, fields: Sequence[str]) -> list[dict[str, Any]]:
    part = frame[list(fields)].astype(object).where(frame[list(fields)].notna(), None)
    return part.to_dict("records")  # type: ignore[return-value]


def predict_all(
    predict: Predict,
    rows: list[dict[str, Any]],
    classes: int,
    progress: Callable[[float], None],
) -> Predictions:
    """Every row through ``predict``, ``BATCH`` rows to a request."""
    probabilities: list[np.ndarray] = []
    predicted: list[list[Span]] = []
    for start in range(0, len(rows), BATCH):
        part, spans = predict(rows[start : start + BATCH])
        probabilities.append(part)
        predicted.extend(spans)
        progress(0.05 + 0.6 * min(1.0, (start + BATCH) / max(1, len(rows))))
    matrix = np.vstack(probabilities) if probabilities else np.zeros((0, classes))
    return Predictions(matrix, predicted)


def time_items(predict: Predict, rows: Sequence[dict[str, Any]]) -> list[float]:
    """Milliseconds per item, each item a request of its own."""
    timings = []
    for row in rows:
        started = time.perf_counter()
        predict([row])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def latency_figures(timings: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of the per-item timings (nothing when no item was timed)."""
    if not timings:
        return {}
    return {f"latency_p{q}_ms": float(np.percentile(timings, q)) for q in (50, 95, 99)}


def overall_metrics(
    spec: ProjectSpec, test: TrainingData, predictions: Predictions
) -> dict[str, float]:
    """Classification and span figures over the whole test set."""
    return _figures(
        spec, list(test.labels), predictions.probabilities, test.spans, predictions.spans
    )


def slice_metrics(
    spec: ProjectSpec, test: TrainingData, predictions: Predictions
) -> dict[str, dict[str, float]]:
    """The same figures per value of each slice the project defines (``"name = value"``);
    values with fewer than ``MIN_SLICE`` items are left out."""
    truth = list(test.labels)
    slices: dict[str, dict[str, float]] = {}
    for slice_spec in spec.slices:
        values = slice_values(test.frame, slice_spec).to_numpy()
        for value in pd.unique(values):
            mask = values == value
            if mask.sum() < MIN_SLICE:
                continue
            slices[f"{slice_spec.name} = {value}"] = _figures(
                spec,
                [t for t, m in zip(truth, mask, strict=True) if m],
                predictions.probabilities[mask],
                [g for g, m in zip(test.spans, mask, strict=True) if m],
                [p for p, m in zip(predictions.spans, mask, strict=True) if m],
            )
    return slices


def measured_intervals(
    spec: ProjectSpec,
    test: TrainingData,
    predictions: Predictions,
    overall: Mapping[str, float],
    slices: Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, Interval]]:
    """Each figure's n and interval, overall ('') and per slice, from the same predictions."""
    classes = list(spec.labels.classes)
    types = list(spec.labels.spans.types) if spec.labels.spans else []
    truth = np.asarray([classes.index(t) for t in test.labels], dtype=int)

    def measure(mask: np.ndarray, figures: Mapping[str, float]) -> dict[str, Interval]:
        gold = [g for g, m in zip(test.spans, mask, strict=True) if m] if test.spans else []
        found = [p for p, m in zip(predictions.spans, mask, strict=True) if m]
        counts = span_counts(gold, found, types) if gold else None
        return figure_intervals(
            truth[mask], predictions.probabilities[mask], classes, figures, counts
        )

    out = {"": measure(np.ones(len(truth), dtype=bool), overall)}
    for slice_spec in spec.slices:
        values = slice_values(test.frame, slice_spec).to_numpy()
        for value in pd.unique(values):
            name = f"{slice_spec.name} = {value}"
            if name in slices:
                out[name] = measure(values == value, slices[name])
    return out


def _figures(
    spec: ProjectSpec,
    truth: list[str],
    probabilities: np.ndarray,
    gold: Sequence[Sequence[Span]],
    predicted: Sequence[Sequence[Span]],
) -> dict[str, float]:
    types = list(spec.labels.spans.types) if spec.labels.spans else []
    figures = classification_metrics(
        truth, probabilities, list(spec.labels.classes), spec.labels.positive
    )
    figures.update(span_metrics(gold, predicted, types))
    return figures


def record_verification(ws: Workspace, measured: Measurement, actor: Actor) -> Verification:
    """One transaction: the evaluation artifact, the run and its metrics, the audit row and the
    recomputed statuses."""
    model, project = measured.model, measured.project
    with ws.store.transaction() as tx:
        verification_id = int(tx.scalar("SELECT nextval('verification_ids')"))
        artifact = register(ws, evaluation_artifact(verification_id, measured), actor)
        insert_run(tx, verification_id, measured, artifact.artifact_id, actor)
        insert_metrics(tx, verification_id, measured.overall, measured.slices, measured.intervals)
        record(
            tx,
            actor,
            "verify_system",
            project=project,
            target=f"verification #{verification_id}",
            details={"model": model.ref, "items": measured.items, "path": measured.path},
        )
        done = recompute(tx, project, cause=f"verification #{verification_id} of {model.ref}")
        statuses = select_statuses(tx, project)
        current = select_current(tx, project)
    strict = {r.requirement_id for r in current if r.fail_when_inconclusive}
    no_check = tuple(r.requirement_id for r in current if r.is_ml and not r.has_check)
    violated = (k for k, s in statuses.items() if s.status == "violated" and s.level == "ml")
    unsure = sorted(
        k for k, s in statuses.items() if s.status == "inconclusive" and s.level == "ml"
    )
    return Verification(
        verification_id,
        project,
        model.ref,
        model.artifact_id,
        measured.test.dataset.artifact_id,
        measured.test.label_set.artifact_id,
        measured.items,
        measured.path,
        measured.overall,
        measured.slices,
        artifact.artifact_id,
        done.changes,
        tuple(sorted(violated)),
        tuple(k for k in unsure if k in strict),
        tuple(unsure),
        no_check,
    )


def evaluation_artifact(verification_id: int, measured: Measurement) -> NewArtifact:
    """The ``evaluation`` artifact: the figures as JSON, linked to the model, dataset, label set."""
    evaluation = {
        "overall": measured.overall,
        "slices": measured.slices,
        "items": measured.items,
        "path": measured.path,
    }
    return NewArtifact(
        "evaluation",
        f"{measured.project}.verification",
        project=measured.project,
        files={"evaluation.json": json.dumps(evaluation, sort_keys=True).encode()},
        inputs=[
            ("evaluates", measured.model.artifact_id),
            ("evaluated_on", measured.test.dataset.artifact_id),
            ("evaluated_on", measured.test.label_set.artifact_id),
        ],
        metadata={
            "verification_id": verification_id,
            "model": measured.model.ref,
            "items": measured.items,
            "path": measured.path,
            "accuracy": measured.overall.get("accuracy"),
            "latency_p95_ms": measured.overall.get("latency_p95_ms"),
        },
    )


def insert_run(
    tx: Tx, verification_id: int, measured: Measurement, artifact_id: int, actor: Actor
) -> None:
    tx.execute(
        f"INSERT INTO verification_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            verification_id,
            measured.project,
            measured.model.artifact_id,
            measured.model.version,
            measured.test.dataset.artifact_id,
            measured.test.label_set.artifact_id,
            artifact_id,
            measured.items,
            measured.path,
            utcnow(),
            actor.name,
        ],
    )


def insert_metrics(
    tx: Tx,
    verification_id: int,
    overall: Mapping[str, float],
    slices: Mapping[str, Mapping[str, float]],
    intervals: Mapping[str, Mapping[str, Interval]] | None = None,
) -> None:
    """Every figure in one statement with its n and interval (where measured): overall ones
    with slice '', then each slice's."""
    flat = [("", k, v) for k, v in overall.items()] + [
        (s, k, v) for s, metrics in slices.items() for k, v in metrics.items()
    ]
    known = intervals or {}
    none = Interval(None, None, None, "none")
    found = [known.get(s, {}).get(k, none) for s, k, _ in flat]
    tx.execute(
        f"INSERT INTO verification_metrics ({METRIC_COLUMNS}) "
        "SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
        "unnest(?::DOUBLE[]), unnest(?::DOUBLE[]), unnest(?::DOUBLE[])",
        [
            verification_id,
            [k for _, k, _ in flat],
            [s for s, _, _ in flat],
            [float(v) for _, _, v in flat],
            [i.n for i in found],
            [i.lower for i in found],
            [i.upper for i in found],
        ],
    )
