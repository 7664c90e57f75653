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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import register
from core.errors import NotFound
from core.projects.spec import ProjectSpec
from core.spans.detect import Span, from_dicts
from core.store import Workspace, utcnow

Progress = Callable[[str, float], None]
BATCH = 256
Predict = Callable[[list[dict[str, Any]]], tuple[np.ndarray, list[list[Span]]]]


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


def service_path(
    ws: Workspace, project: str, model: Artifact, spec: ProjectSpec
) -> tuple[Predict, str]:
    """The prediction service's own path (``core.serving``), or the model's when it is absent."""
    classes = list(spec.labels.classes)
    try:
        from core.serving.service import Item, load_served, predict_items
    except ImportError:  # a build without the service: the model's own predict path
        from core.registry.service import load_model

        loaded = load_model(ws, model)

        def direct(rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[list[Span]]]:
            frame = pd.DataFrame(rows)
            return loaded.predict_proba(frame, spec), loaded.extract(frame, spec)

        return direct, "model.predict_proba"
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

    return through_service, "core.serving.predict_items"


def _records(frame: pd.DataFrame, fields: Sequence[str]) -> list[dict[str, Any]]:
    part = frame[list(fields)].astype(object).where(frame[list(fields)].notna(), None)
    return part.to_dict("records")  # type: ignore[return-value]


def verify_system(
    ws: Workspace,
    project: str,
    actor: Actor,
    *,
    latency_items: int = 200,
    progress: Progress | None = None,
) -> Verification:
    from core.experiments.service import project_test_set
    from core.ml.data import slice_values
    from core.ml.evaluate import MIN_SLICE, classification_metrics, span_metrics
    from core.projects.service import get_project
    from core.registry.service import find_alias
    from core.requirements.status import recompute, select_statuses

    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    model = find_alias(ws, project, "production")
    if model is None:
        raise NotFound(
            f"Project {project!r} has no model in production to verify.",
            hint=f"promote one: `loopline promote {project} MODEL --reason …`",
        )
    report("reading the test set", 0.02)
    test = project_test_set(ws, spec)
    predict, path = service_path(ws, project, model, spec)
    span_field = [spec.labels.spans.field] if spec.labels.spans else []
    fields = [c for c in dict.fromkeys([*spec.inputs, *span_field]) if c in test.frame]
    rows = _records(test.frame, fields)
    probabilities: list[np.ndarray] = []
    predicted: list[list[Span]] = []
    for start in range(0, len(rows), BATCH):
        part, spans = predict(rows[start : start + BATCH])
        probabilities.append(part)
        predicted.extend(spans)
        report(
            f"predicting {len(rows):,} items through {path}",
            0.05 + 0.6 * min(1.0, (start + BATCH) / max(1, len(rows))),
        )
    matrix = np.vstack(probabilities) if probabilities else np.zeros((0, len(spec.labels.classes)))
    report("timing one item at a time", 0.7)
    timings = []
    for row in rows[:latency_items]:
        started = time.perf_counter()
        predict([row])
        timings.append((time.perf_counter() - started) * 1000)
    classes = list(spec.labels.classes)
    truth = list(test.labels)
    types = list(spec.labels.spans.types) if spec.labels.spans else []
    overall = classification_metrics(truth, matrix, classes, spec.labels.positive)
    overall.update(span_metrics(test.spans, predicted, types))
    if timings:
        overall.update(
            latency_p50_ms=float(np.percentile(timings, 50)),
            latency_p95_ms=float(np.percentile(timings, 95)),
            latency_p99_ms=float(np.percentile(timings, 99)),
        )
    slices: dict[str, dict[str, float]] = {}
    for slice_spec in spec.slices:
        values = slice_values(test.frame, slice_spec).to_numpy()
        for value in pd.unique(values):
            mask = values == value
            if mask.sum() < MIN_SLICE:
                continue
            figures = classification_metrics(
                [t for t, m in zip(truth, mask, strict=True) if m],
                matrix[mask],
                classes,
                spec.labels.positive,
            )
            figures.update(
                span_metrics(
                    [g for g, m in zip(test.spans, mask, strict=True) if m],
                    [p for p, m in zip(predicted, mask, strict=True) if m],
                    types,
                )
            )
            slices[f"{slice_spec.name} = {value}"] = figures
    report("recording the evidence", 0.9)
    flat = [("", k, v) for k, v in overall.items()] + [
        (s, k, v) for s, metrics in slices.items() for k, v in metrics.items()
    ]
    with ws.store.transaction() as tx:
        verification_id = int(tx.scalar("SELECT nextval('verification_ids')"))
        artifact = register(
            ws,
            NewArtifact(
                "evaluation",
                f"{project}.verification",
                project=project,
                files={
                    "evaluation.json": json.dumps(
                        {"overall": overall, "slices": slices, "items": len(rows), "path": path},
                        sort_keys=True,
                    ).encode()
                },
                inputs=[
                    ("evaluates", model.artifact_id),
                    ("evaluated_on", test.dataset.artifact_id),
                    ("evaluated_on", test.label_set.artifact_id),
                ],
                metadata={
                    "verification_id": verification_id,
                    "model": model.ref,
                    "items": len(rows),
                    "path": path,
                    "accuracy": overall.get("accuracy"),
                    "latency_p95_ms": overall.get("latency_p95_ms"),
                },
            ),
            actor,
        )
        tx.execute(
            "INSERT INTO verification_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                verification_id,
                project,
                model.artifact_id,
                model.version,
                test.dataset.artifact_id,
                test.label_set.artifact_id,
                artifact.artifact_id,
                len(rows),
                path,
                utcnow(),
                actor.name,
            ],
        )
        tx.execute(
            "INSERT INTO verification_metrics SELECT ?, unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::DOUBLE[])",
            [
                verification_id,
                [k for _, k, _ in flat],
                [s for s, _, _ in flat],
                [float(v) for _, _, v in flat],
            ],
        )
        record(
            tx,
            actor,
            "verify_system",
            project=project,
            target=f"verification #{verification_id}",
            details={"model": model.ref, "items": len(rows), "path": path},
        )
        done = recompute(tx, project, cause=f"verification #{verification_id} of {model.ref}")
        statuses = select_statuses(tx, project)
    report("done", 1.0)
    return Verification(
        verification_id,
        project,
        model.ref,
        model.artifact_id,
        test.dataset.artifact_id,
        test.label_set.artifact_id,
        len(rows),
        path,
        overall,
        slices,
        artifact.artifact_id,
        done.changes,
        tuple(sorted(k for k, s in statuses.items() if s.status == "violated" and s.level == "ml")),
    )
