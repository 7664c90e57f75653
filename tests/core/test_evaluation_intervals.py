"""A training run's evaluation.json holds each slice's confusion matrix and the per-item
latencies, so every figure a requirement reads from it carries n and an interval."""

from __future__ import annotations

import json
from pathlib import Path

from core.api import Actor, Client
from core.ml.evaluate import as_dict, from_dict
from core.requirements.confidence import _cached_intervals
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")


def test_evaluation_json_has_slice_confusion_and_latency_timings(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, tmp_path)
    run = client.runs.train(PROJECT)
    blobs = client.workspace.blobs
    digest = run.files["evaluation.json"]
    evaluation = json.loads(blobs.read_bytes(digest))

    assert evaluation["slice_confusion"], "no slice confusion recorded"
    for name, table in evaluation["slice_confusion"].items():
        assert sum(map(sum, table)) == evaluation["sizes"][name]
    assert sum(map(sum, evaluation["confusion"])) == evaluation["overall"]["n"]
    timings = evaluation["latency_timings"]
    assert 0 < len(timings) <= 100 and all(t > 0 for t in timings)

    intervals = _cached_intervals(str(blobs.root), digest)
    slice_name = next(iter(evaluation["slice_confusion"]))
    accuracy = intervals[(slice_name, "accuracy")]
    assert accuracy.n == evaluation["sizes"][slice_name]
    assert accuracy.lower <= accuracy.upper
    p95 = intervals[("", "latency_p95_ms")]
    assert p95.n == len(timings) and p95.lower <= p95.upper
    assert as_dict(from_dict(evaluation)) == evaluation
