"""Evaluating a model on labeled rows: overall and per slice, with latency and calibration.

Metric names: ``accuracy``, ``f1_macro``, ``precision.<class>``, ``recall.<class>``, ``f1.<class>``,
``roc_auc``, ``log_loss``, ``calibration_error``, ``span_precision.<type>``, ``span_recall.<type>``,
``span_f1.<type>``; slices are named ``"<slice> = <value>"``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.ml.labeled import slice_values
from core.ml.model import Model
from core.projects.spec import ProjectSpec
from core.spans.detect import Span

MIN_SLICE = 10  # smaller slices are reported by size only


@dataclass(frozen=True)
class Evaluation:
    overall: dict[str, float]
    slices: dict[str, dict[str, float]]
    sizes: dict[str, int]
    confusion: list[list[int]]
    classes: list[str]
    latency: dict[str, float] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)
    # every slice's confusion matrix (small slices too: their verdicts are judged by n) and the
    # per-item milliseconds behind the latency percentiles, so figures carry n and an interval
    slice_confusion: dict[str, list[list[int]]] = field(default_factory=dict)
    latency_timings: list[float] = field(default_factory=list)


def classification_metrics(
    truth: Sequence[str], probabilities: np.ndarray, classes: Sequence[str], positive: str | None
) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = np.asarray([list(classes).index(t) for t in truth])
    predicted = probabilities.argmax(axis=1)
    out: dict[str, float] = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(
            f1_score(y, predicted, average="macro", labels=range(len(classes)), zero_division=0)
        ),
        "n": float(len(y)),
    }
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=range(len(classes)), zero_division=0
    )
    for index, name in enumerate(classes):
        if support[index] or (predicted == index).any():
            out[f"precision.{name}"] = float(precision[index])
            out[f"recall.{name}"] = float(recall[index])
            out[f"f1.{name}"] = float(f1[index])
    clipped = np.clip(probabilities, 1e-7, 1)
    out["log_loss"] = float(
        log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=range(len(classes)))
    )
    if len(set(y)) > 1:
        if len(classes) == 2:
            index = (
                list(classes).index(positive) if positive is not None and positive in classes else 1
            )
            out["roc_auc"] = float(roc_auc_score(y == index, probabilities[:, index]))
        else:
            present = sorted(set(y))
            scores = probabilities[:, present] / np.clip(
                probabilities[:, present].sum(axis=1, keepdims=True), 1e-9, None
            )
            if len(present) > 2:
                out["roc_auc"] = float(roc_auc_score(y, scores, multi_class="ovr", labels=present))
    out["calibration_error"] = expected_calibration_error(y, probabilities)
    return out


def expected_calibration_error(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def span_metrics(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], types: Sequence[str]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for span_type in types:
        truth = {
            (i, s.start, s.end)
            for i, spans in enumerate(gold)
            for s in spans
            if s.type == span_type
        }
        found = {
            (i, s.start, s.end)
            for i, spans in enumerate(predicted)
            for s in spans
            if s.type == span_type
        }
        if not truth and not found:
            continue
        hits = len(truth & found)
        precision = hits / len(found) if found else 0.0
        recall = hits / len(truth) if truth else 0.0
        out[f"span_precision.{span_type}"] = precision
        out[f"span_recall.{span_type}"] = recall
        out[f"span_f1.{span_type}"] = 2 * precision * recall / (precision + recall) if hits else 0.0
    return out


def latency(
    model: Model, frame: pd.DataFrame, spec: ProjectSpec, singles: int = 100
) -> dict[str, float]:
    """Milliseconds per item one at a time (p50, p95), through the path the service runs (the
    lean row predictor, spans included), and per item in a batch of up to 1,000."""
    return timed_latency(model, frame, spec, singles)[0]


def timed_latency(
    model: Model, frame: pd.DataFrame, spec: ProjectSpec, singles: int = 100
) -> tuple[dict[str, float], list[float]]:
    """``latency``'s figures and the per-item milliseconds of the single calls behind them."""
    predictor = model.row_predictor(spec)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in frame.head(singles).to_dict("records")
    ]
    if records:  # the first call warms caches the service has warm too
        predictor.predict_proba(records[:1])
    timings = []
    for record in records:
        started = time.perf_counter()
        predictor.predict_proba([record])
        if predictor.text:
            predictor.extract([record])
        timings.append((time.perf_counter() - started) * 1000)
    batch = frame.head(1000)
    started = time.perf_counter()
    model.predict_proba(batch, spec)
    per_item = (time.perf_counter() - started) * 1000 / max(1, len(batch))
    if not timings:
        return {"batch_latency_per_item_ms": per_item}, []
    figures = {
        "latency_p50_ms": float(np.percentile(timings, 50)),
        "latency_p95_ms": float(np.percentile(timings, 95)),
        "batch_latency_per_item_ms": per_item,
    }
    return figures, [float(t) for t in timings]


def evaluate(
    model: Model,
    frame: pd.DataFrame,
    truth: Sequence[str],
    gold_spans: Sequence[Sequence[Span]],
    spec: ProjectSpec,
    *,
    measure_latency: bool = True,
    ids: Sequence[str] | None = None,
) -> Evaluation:
    probabilities = model.predict_proba(frame, spec)
    classes = list(spec.labels.classes)
    predicted_spans = model.extract(frame, spec)
    span_types = list(spec.labels.spans.types) if spec.labels.spans else []
    overall = classification_metrics(truth, probabilities, classes, spec.labels.positive)
    overall.update(span_metrics(gold_spans, predicted_spans, span_types))
    slices: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    y = [classes.index(t) for t in truth]
    predicted = probabilities.argmax(axis=1)
    slice_confusion: dict[str, list[list[int]]] = {}
    for slice_spec in spec.slices:
        values = slice_values(frame, slice_spec).to_numpy()
        for value in pd.unique(values):
            mask = values == value
            name = f"{slice_spec.name} = {value}"
            sizes[name] = int(mask.sum())
            slice_confusion[name] = confusion_table(
                [v for v, m in zip(y, mask, strict=True) if m], predicted[mask], len(classes)
            )
            if mask.sum() < MIN_SLICE:
                continue
            part = classification_metrics(
                [t for t, m in zip(truth, mask, strict=True) if m],
                probabilities[mask],
                classes,
                spec.labels.positive,
            )
            part.update(
                span_metrics(
                    [g for g, m in zip(gold_spans, mask, strict=True) if m],
                    [p for p, m in zip(predicted_spans, mask, strict=True) if m],
                    span_types,
                )
            )
            slices[name] = part
    matrix = confusion_table(y, predicted, len(classes))
    result_latency, timings = timed_latency(model, frame, spec) if measure_latency else ({}, [])
    wrong = [
        str(i) for i, t, p in zip(ids or [], truth, predicted, strict=False) if classes[int(p)] != t
    ]
    return Evaluation(
        overall,
        slices,
        sizes,
        matrix,
        classes,
        result_latency,
        wrong[:500],
        slice_confusion=slice_confusion,
        latency_timings=timings,
    )


def confusion_table(truth: Sequence[int], predicted: np.ndarray, classes: int) -> list[list[int]]:
    """Counts by (true class index, predicted class index), every class a row and a column."""
    table = np.zeros((classes, classes), dtype=int)
    np.add.at(table, (np.asarray(truth, dtype=int), np.asarray(predicted, dtype=int)), 1)
    return [[int(c) for c in row] for row in table]


def as_dict(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "overall": evaluation.overall,
        "slices": evaluation.slices,
        "sizes": evaluation.sizes,
        "confusion": evaluation.confusion,
        "classes": evaluation.classes,
        "latency": evaluation.latency,
        "misclassified": evaluation.disagreements,
        "slice_confusion": evaluation.slice_confusion,
        "latency_timings": evaluation.latency_timings,
    }


def from_dict(data: dict[str, Any]) -> Evaluation:
    """An evaluation as ``as_dict`` wrote it (files written before slice_confusion and
    latency_timings were recorded read back without them)."""
    return Evaluation(
        overall={str(k): float(v) for k, v in data["overall"].items()},
        slices={
            str(name): {str(k): float(v) for k, v in values.items()}
            for name, values in data["slices"].items()
        },
        sizes={str(k): int(v) for k, v in data["sizes"].items()},
        confusion=[[int(c) for c in row] for row in data["confusion"]],
        classes=[str(c) for c in data["classes"]],
        latency={str(k): float(v) for k, v in data.get("latency", {}).items()},
        disagreements=[str(i) for i in data.get("misclassified", [])],
        slice_confusion={
            str(name): [[int(c) for c in row] for row in table]
            for name, table in (data.get("slice_confusion") or {}).items()
        },
        latency_timings=[float(t) for t in data.get("latency_timings") or []],
    )
