"""Comparing runs with each other and with the model in production."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.errors import InvalidInput
from core.experiments.service import RunDetail, get_run
from core.registry.service import find_alias
from core.store import Workspace

KEY_METRICS = (
    "accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "calibration_error",
    "latency_p95_ms",
    "training_time_s",
)
LOWER_IS_BETTER = (
    "log_loss",
    "calibration_error",
    "latency_p50_ms",
    "latency_p95_ms",
    "training_time_s",
    "batch_latency_per_item_ms",
    "model_size_bytes",
)


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunDetail, ...]
    production_run: int | None
    metrics: pd.DataFrame  # rows: metric; columns: "run #N" (and "Δ #N" vs production)
    slices: pd.DataFrame  # rows: slice; columns: run labels; values: the slice metric
    params: pd.DataFrame  # only parameters that differ
    confusion: dict[str, tuple[list[str], list[list[int]]]]
    disagreements: list[str]  # test items one run gets right and another wrong
    history: pd.DataFrame  # run, key, step, value


def run_label(run: RunDetail) -> str:
    """A run as a column of the comparison: ``#12 build-3``."""
    return f"#{run.run_id} {run.name}"


def compare_runs(
    ws: Workspace, run_ids: Sequence[int], slice_metric: str = "accuracy"
) -> Comparison:
    if not 1 <= len(run_ids) <= 10:
        raise InvalidInput(f"Compare 1 to 10 runs, got {len(run_ids)}.")
    runs = tuple(get_run(ws, r) for r in run_ids)
    production = find_alias(ws, runs[0].project, "production")
    production_run = production.metadata.get("run_id") if production else None
    baseline = get_run(ws, production_run) if production_run else None
    names = sorted({k for r in runs for k in r.metrics} | set(KEY_METRICS))
    ordered = [m for m in KEY_METRICS if any(m in r.metrics for r in runs)] + [
        m for m in names if m not in KEY_METRICS and not m.startswith("latency")
    ]
    table: dict[str, list[float | None]] = {}
    for run in runs:
        table[run_label(run)] = [run.metrics.get(m) for m in ordered]
        if baseline is not None and run.run_id != baseline.run_id:
            table[f"Δ {run_label(run)}"] = [
                None
                if run.metrics.get(m) is None or baseline.metrics.get(m) is None
                else run.metrics[m] - baseline.metrics[m]
                for m in ordered
            ]
    if baseline is not None:
        table["production"] = [baseline.metrics.get(m) for m in ordered]
    metrics = pd.DataFrame(table, index=ordered)
    slice_names = sorted(
        {s for r in (*runs, *([baseline] if baseline else [])) for s in r.slice_metrics}
    )
    slices = pd.DataFrame(
        {
            run_label(r): [r.slice_metrics.get(s, {}).get(slice_metric) for s in slice_names]
            for r in runs
        },
        index=slice_names,
    )
    if baseline is not None:
        slices["production"] = [
            baseline.slice_metrics.get(s, {}).get(slice_metric) for s in slice_names
        ]
    keys = sorted({k for r in runs for k in r.params})
    differing = [k for k in keys if len({r.params.get(k) for r in runs}) > 1]
    params = pd.DataFrame(
        {run_label(r): [r.params.get(k) for k in differing] for r in runs}, index=differing
    )
    confusion: dict[str, tuple[list[str], list[list[int]]]] = {}
    wrong: dict[str, set[str]] = {}
    for run in runs:
        if "evaluation.json" in run.files:
            evaluation = json.loads(ws.blobs.read_bytes(run.files["evaluation.json"]))
            confusion[run_label(run)] = (evaluation["classes"], evaluation["confusion"])
            wrong[run_label(run)] = set(evaluation.get("misclassified", []))
    sets = list(wrong.values())
    disagreements = (
        sorted(set().union(*sets) - sets[0].intersection(*sets[1:])) if len(sets) > 1 else []
    )
    history = (
        pd.concat(
            [r.history.assign(run=run_label(r)) for r in runs if len(r.history)], ignore_index=True
        )
        if any(len(r.history) for r in runs)
        else pd.DataFrame(columns=["key", "step", "value", "run"])
    )
    return Comparison(
        runs, production_run, metrics, slices, params, confusion, disagreements[:200], history
    )
