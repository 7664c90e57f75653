"""A window's figures from the log in SQL: operations, class mix, realized and estimated
performance (overall and per slice). Drift is in ``drift.py``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from core.ml.evaluate import MIN_SLICE
from core.monitoring.estimate import (
    calibrated_sql,
    denominators_from_confusion,
    metrics_from_confusion,
)
from core.monitoring.log import FEATURE_PREFIX, LogReader, quote
from core.monitoring.models import Reference
from core.projects import slicing
from core.projects.spec import ProjectSpec

Figures = dict[datetime, dict[tuple[str, str], tuple[float | None, int | None, str]]]
MAX_SLICE_VALUES = 30  # per slice and window, the most frequent values get their own figures


def slice_sql(spec: ProjectSpec, reader: LogReader) -> dict[str, str]:
    """Each project slice the log can show: its name and SQL expression over the log."""
    out: dict[str, str] = {}
    for item in spec.slices:
        column = FEATURE_PREFIX + item.column
        if item.column == spec.time_column and not reader.has(column):
            column = "ts"
        elif not reader.has(column):
            continue
        out[item.name] = slicing.slice_sql(quote(column), item)
    return out


def _put(
    figures: Figures,
    window: datetime,
    metric: str,
    slice_name: str,
    value: float | None,
    n: int | None,
    kind: str,
) -> None:
    if value is not None and not np.isfinite(value):
        value = None
    figures[window][(metric, slice_name)] = (value, n, kind)


def operations(reader: LogReader, classes: Sequence[str], figures: Figures) -> None:
    has_latency = reader.has("latency_ms")
    has_error = reader.has("error")
    latency = (
        "quantile_cont(latency_ms, [0.5, 0.95, 0.99]), count(latency_ms)"
        if has_latency
        else "NULL, 0"
    )
    errors = "count(*) FILTER (WHERE error IS NOT NULL)" if has_error else "0"
    for window, volume, failed, quantiles, timed in reader.rows(
        f"SELECT w, count(*), {errors}, {latency} FROM chosen GROUP BY w"
    ):
        _put(figures, window, "volume", "", float(volume), int(volume), "operational")
        _put(figures, window, "error_rate", "", failed / volume, int(volume), "operational")
        if quantiles:
            for name, value in zip(("p50", "p95", "p99"), quantiles, strict=True):
                _put(figures, window, f"latency_{name}_ms", "", value, int(timed), "operational")
    shares: dict[datetime, dict[str, int]] = defaultdict(dict)
    for window, predicted, count in reader.rows(
        "SELECT w, CAST(prediction AS VARCHAR), count(*) FROM chosen "
        "WHERE prediction IS NOT NULL GROUP BY ALL"
    ):
        shares[window][str(predicted)] = int(count)
    for window, counts in shares.items():
        total = sum(counts.values())
        for name in classes:
            _put(
                figures,
                window,
                f"class_share.{name}",
                "",
                counts.get(name, 0) / total,
                total,
                "operational",
            )


def slice_volumes(reader: LogReader, slices: Mapping[str, str], figures: Figures) -> None:
    for name, expr in slices.items():
        for window, value, count in reader.rows(
            f"SELECT w, v, c FROM (SELECT w, {expr} AS v, count(*) AS c FROM chosen GROUP BY w, v) "
            "QUALIFY row_number() OVER (PARTITION BY w ORDER BY c DESC, v) <= ?",
            [MAX_SLICE_VALUES],
        ):
            _put(
                figures,
                window,
                "volume",
                f"{name} = {value}",
                float(count),
                int(count),
                "operational",
            )


def _groups(slices: Mapping[str, str]) -> list[tuple[str, str]]:
    return [("", "''"), *((name, expr) for name, expr in slices.items())]


def realized(
    reader: LogReader,
    classes: Sequence[str],
    slices: Mapping[str, str],
    figures: Figures,
) -> None:
    """Metrics from the confusion matrix of predictions joined with their feedback."""
    index = {name: i for i, name in enumerate(classes)}
    for slice_name, expr in _groups(slices):
        matrices: dict[tuple[datetime, str], np.ndarray] = defaultdict(
            lambda: np.zeros((len(classes), len(classes)))
        )
        for window, value, predicted, label, count in reader.rows(
            f"SELECT c.w, {expr} AS v, CAST(c.prediction AS VARCHAR), f.label, count(*) "
            "FROM chosen c JOIN (SELECT request_id, label FROM feedback) f USING (request_id) "
            "WHERE c.prediction IS NOT NULL GROUP BY ALL"
        ):
            if predicted in index and label in index:
                matrices[(window, str(value))][index[label], index[predicted]] += count
        for (window, value), matrix in matrices.items():
            labeled = int(matrix.sum())
            name = f"{slice_name} = {value}" if slice_name else ""
            if slice_name and labeled < MIN_SLICE:
                continue
            _put(figures, window, "labeled", name, float(labeled), labeled, "realized")
            for metric, number in metrics_from_confusion(matrix, classes).items():
                _put(figures, window, metric, name, number, labeled, "realized")
            for metric, count in denominators_from_confusion(matrix, classes).items():
                _put(figures, window, metric, name, count, round(count), "realized")


def estimated(
    reader: LogReader,
    spec: ProjectSpec,
    references: Mapping[str, Reference | None],
    slices: Mapping[str, str],
    figures: Figures,
) -> None:
    """CBPE: the expected confusion matrix from each model's calibrated probabilities."""
    classes = list(spec.labels.classes)
    if not all(reader.has(f"p_{name}") for name in classes):
        return
    index = {name: i for i, name in enumerate(classes)}
    for slice_name, expr in _groups(slices):
        matrices: dict[tuple[datetime, str], np.ndarray] = defaultdict(
            lambda: np.zeros((len(classes), len(classes)))
        )
        counts: dict[tuple[datetime, str], int] = defaultdict(int)
        for model_key, reference in references.items():
            calibration = reference.calibration if reference is not None else {}
            columns, params = calibrated_sql(classes, calibration, spec.labels.positive, "cal")
            sums = ", ".join(f"sum({column})" for column in columns)
            params_all: dict[str, Any] = {**params, "model": model_key}
            for row in reader.con.execute(
                f"SELECT w, {expr} AS v, CAST(prediction AS VARCHAR) AS predicted, count(*), {sums} "
                "FROM chosen WHERE prediction IS NOT NULL AND CAST(model_id AS VARCHAR) = $model "
                "GROUP BY ALL",
                params_all,
            ).fetchall():
                window, value, predicted, count = row[:4]
                if predicted not in index:
                    continue
                key = (window, str(value))
                matrices[key][:, index[predicted]] += np.asarray(row[4:], dtype=float)
                counts[key] += int(count)
        for (window, value), matrix in matrices.items():
            n = counts[(window, value)]
            name = f"{slice_name} = {value}" if slice_name else ""
            if slice_name and n < MIN_SLICE:
                continue
            for metric, number in metrics_from_confusion(matrix, classes, "estimated.").items():
                _put(figures, window, metric, name, number, n, "estimated")
            for metric, count in denominators_from_confusion(matrix, classes, "estimated.").items():
                _put(figures, window, metric, name, count, round(count), "estimated")
