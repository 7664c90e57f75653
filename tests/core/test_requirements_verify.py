"""verify_system's steps, each on its own: prediction in batches, per-item timing, latency figures,
per-slice figures, the production model it checks and the rows it records (issue 13: a use case
read as named steps, each testable). The whole use case runs in test_requirements.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.errors import NotFound
from core.experiments.service import project_test_set
from core.ml.data import slice_values
from core.ml.evaluate import MIN_SLICE
from core.projects.service import get_project
from core.requirements.verify import (
    BATCH,
    METRIC_COLUMNS,
    Predictions,
    insert_metrics,
    latency_figures,
    predict_all,
    production_model,
    service_path,
    service_rows,
    slice_metrics,
    time_items,
)
from core.spans.detect import Span
from core.store import Workspace
from tests.core.test_requirements_support import production

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws


class Counting:
    """A predict step that answers two classes and remembers each request's size."""

    def __init__(self) -> None:
        self.requests: list[int] = []

    def __call__(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[list[Span]]]:
        self.requests.append(len(rows))
        return np.tile([0.25, 0.75], (len(rows), 1)), [[] for _ in rows]


def test_predict_all_sends_batches_in_order_and_reports_progress() -> None:
    predict = Counting()
    seen: list[float] = []
    rows = [{"text": str(i)} for i in range(BATCH * 2 + 3)]
    done = predict_all(predict, rows, 2, seen.append)
    assert predict.requests == [BATCH, BATCH, 3]
    assert done.probabilities.shape == (len(rows), 2) and len(done.spans) == len(rows)
    assert seen[-1] == pytest.approx(0.65) and seen == sorted(seen)


def test_predict_all_of_no_rows_is_an_empty_matrix() -> None:
    predict = Counting()
    done = predict_all(predict, [], 3, lambda fraction: None)
    assert predict.requests == [] and done.probabilities.shape == (0, 3) and done.spans == []


def test_time_items_sends_one_item_per_request() -> None:
    predict = Counting()
    timings = time_items(predict, [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    assert predict.requests == [1, 1, 1] and len(timings) == 3 and min(timings) >= 0


def test_latency_figures() -> None:
    assert latency_figures([]) == {}
    figures = latency_figures([float(i) for i in range(1, 101)])
    assert list(figures) == ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]
    assert figures["latency_p50_ms"] == pytest.approx(50.5)
    assert figures["latency_p99_ms"] == pytest.approx(99.01)


def test_production_model_is_the_alias_or_a_named_refusal(evidence_ws: Workspace) -> None:
    assert production_model(evidence_ws, "tickets") == production(evidence_ws)
    with pytest.raises(NotFound) as refused:
        production_model(evidence_ws, "nope")
    assert str(refused.value) == "Project 'nope' has no model in production to verify."
    assert refused.value.hint == "promote one: `loopline promote nope MODEL --reason …`"


def test_slices_leave_out_small_values_and_perfect_predictions_score_one(
    evidence_ws: Workspace,
) -> None:
    spec = get_project(evidence_ws, "tickets").spec
    test = project_test_set(evidence_ws, spec)
    classes = list(spec.labels.classes)
    perfect = np.array([[float(c == label) for c in classes] for label in test.labels])
    slices = slice_metrics(spec, test, Predictions(perfect, [[] for _ in test.labels]))
    expected = {
        f"{s.name} = {value}"
        for s in spec.slices
        for value, count in slice_values(test.frame, s).value_counts().items()
        if count >= MIN_SLICE
    }
    assert set(slices) == expected and expected
    assert all(figures["accuracy"] == 1.0 for figures in slices.values())


def test_the_service_path_answers_each_test_row(evidence_ws: Workspace) -> None:
    spec = get_project(evidence_ws, "tickets").spec
    test = project_test_set(evidence_ws, spec)
    rows = service_rows(test.frame, spec)
    assert set(rows[0]) <= set(spec.inputs) and len(rows) == len(test.frame)
    predict, path = service_path(evidence_ws, "tickets", production(evidence_ws), spec)
    probabilities, spans = predict(rows[:5])
    assert path == "core.serving.predict_items" and probabilities.shape == (
        5,
        len(spec.labels.classes),
    )
    assert np.allclose(probabilities.sum(axis=1), 1.0) and len(spans) == 5


def test_insert_metrics_writes_overall_then_slices_by_name(evidence_ws: Workspace) -> None:
    with evidence_ws.store.transaction() as tx:
        insert_metrics(
            tx, 9999, {"accuracy": 0.9, "f1": 0.8}, {"channel = mail": {"accuracy": 0.7}}
        )
        found = tx.rows(
            f"SELECT {METRIC_COLUMNS} FROM verification_metrics WHERE verification_id = 9999 "
            "ORDER BY slice, metric"
        )
    assert [tuple(r) for r in found] == [  # no intervals given: none stored
        (9999, "accuracy", "", 0.9, None, None, None),
        (9999, "f1", "", 0.8, None, None, None),
        (9999, "accuracy", "channel = mail", 0.7, None, None, None),
    ]
