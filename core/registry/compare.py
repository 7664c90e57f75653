"""Comparing runs with each other and with the model in production."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.data.service import latest_dataset
from core.errors import InvalidInput, NotFound
from core.experiments.service import RunDetail, get_run, project_test_set, test_set_inputs
from core.ml.evaluate import MIN_SLICE, classification_metrics, span_metrics
from core.ml.labeled import slice_values
from core.ml.model import Model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias
from core.spans.detect import Span
from core.stats import Interval, bootstrap, f1_of
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
    # the test set every figure above was measured on, in words, and its size (None: the runs'
    # own, different test sets, so no difference is judged)
    test_set: str = ""
    common_items: int | None = None
    # each run against production on the common items: run, metric, delta, lower, upper, verdict
    # ("better", "worse", "no clear difference"); a paired bootstrap gives the interval
    deltas: pd.DataFrame = field(default_factory=pd.DataFrame)
    slice_sizes: dict[str, int] = field(default_factory=dict)  # items per slice, common set
    min_slice: int = MIN_SLICE  # a slice with fewer items is too small to judge

    def verdict(self, label: str, metric: str) -> str:
        """``better``/``worse``/``no clear difference`` for the run column ``label`` on
        ``metric`` against production, or "" when not judged."""
        if self.deltas.empty:
            return ""
        row = self.deltas[(self.deltas["run"] == label) & (self.deltas["metric"] == metric)]
        return str(row["verdict"].iloc[0]) if len(row) else ""

    def too_small(self, slice_name: str) -> bool:
        """Whether the slice has too few common items to judge (fewer than MIN_SLICE)."""
        return self.slice_sizes.get(slice_name, 0) < self.min_slice


def run_label(run: RunDetail) -> str:
    """A run as a column of the comparison: ``#12 build-3``."""
    return f"#{run.run_id} {run.name}"


@dataclass(frozen=True)
class _Common:
    """The common test set: the project's current one, re-scored with every compared model."""

    spec: ProjectSpec
    frame: pd.DataFrame
    truth: np.ndarray  # class index per item
    probabilities: dict[int, np.ndarray]  # run id -> its model's probabilities on the items
    spans: list[list[Span]] = field(default_factory=list)  # gold spans per item
    extracted: dict[int, list[list[Span]]] = field(default_factory=dict)  # run id -> its spans

    @property
    def classes(self) -> list[str]:
        return list(self.spec.labels.classes)

    def predicted(self, run_id: int) -> np.ndarray:
        return np.asarray(self.probabilities[run_id].argmax(axis=1), dtype=int)


def compare_runs(
    ws: Workspace, run_ids: Sequence[int], slice_metric: str = "accuracy"
) -> Comparison:
    """The runs side by side and against production, measured on one common test set: the
    project's current test set re-scored with each run's model (runs whose model files are gone
    keep their recorded figures, and then no difference is judged)."""
    if not 1 <= len(run_ids) <= 10:
        raise InvalidInput(
            f"Compare 1 to 10 runs, got {len(run_ids)}.",
            hint="pick between one and ten run ids",
        )
    runs = tuple(get_run(ws, r) for r in run_ids)
    if len({r.project for r in runs}) > 1:
        raise InvalidInput(
            f"Runs of different projects cannot be compared: "
            f"{', '.join(sorted({r.project for r in runs}))}.",
            hint="compare runs of one project",
        )
    production = find_alias(ws, runs[0].project, "production")
    production_run = production.metadata.get("run_id") if production else None
    baseline = get_run(ws, production_run) if production_run else None
    everyone = [*runs, *([baseline] if baseline is not None else [])]
    common = _rescored(ws, everyone)
    figures = {r.run_id: _figures(r, common) for r in everyone}
    metrics = _metric_table(runs, baseline, figures)
    deltas = _deltas(runs, baseline, common)
    slices, sizes = (
        _common_slices(runs, baseline, common, slice_metric)
        if common is not None
        else _recorded_slices(ws, runs, baseline, slice_metric)
    )
    keys = sorted({k for r in runs for k in r.params})
    differing = [k for k in keys if len({r.params.get(k) for r in runs}) > 1]
    params = pd.DataFrame(
        {run_label(r): [r.params.get(k) for k in differing] for r in runs}, index=differing
    )
    confusion, disagreements = (
        _common_confusion(runs, common) if common is not None else _recorded_confusion(ws, runs)
    )
    history = (
        pd.concat(
            [r.history.assign(run=run_label(r)) for r in runs if len(r.history)], ignore_index=True
        )
        if any(len(r.history) for r in runs)
        else pd.DataFrame(columns=["key", "step", "value", "run"])
    )
    return Comparison(
        runs,
        production_run,
        metrics,
        slices,
        params,
        confusion,
        disagreements[:200],
        history,
        test_set=_test_set_text(everyone, common),
        common_items=None if common is None else len(common.frame),
        deltas=deltas,
        slice_sizes=sizes,
    )


# -- the common test set -----------------------------------------------------------------------
def _rescored(ws: Workspace, runs: Sequence[RunDetail]) -> _Common | None:
    """Every run's model on the project's current test set, or None when one has no model files
    (an imported run) or the project has no test set. Kept for the same models and test set
    (the page reruns on every click)."""
    project = get_project(ws, runs[0].project)
    if any("model.json" not in r.files for r in runs):
        return None
    try:
        sets = tuple(a.artifact_id for a in test_set_inputs(ws, project.spec))
    except NotFound:
        return None
    dataset = latest_dataset(ws, project.name)
    key = (
        str(ws.root),
        project.spec_artifact_id,
        sets,
        None if dataset is None else dataset.artifact_id,
        tuple(sorted((r.run_id, tuple(sorted(r.files.items()))) for r in runs)),
    )
    if key not in _RESCORED:
        _RESCORED[key] = _score(ws, project.spec, runs)
        while len(_RESCORED) > 8:
            _RESCORED.pop(next(iter(_RESCORED)))
    return _RESCORED[key]


_RESCORED: dict[tuple[Any, ...], _Common | None] = {}


def _score(ws: Workspace, spec: ProjectSpec, runs: Sequence[RunDetail]) -> _Common | None:
    models = {r.run_id: _model(ws, r) for r in runs}
    if any(m is None for m in models.values()):
        return None
    try:
        data = project_test_set(ws, spec)
    except NotFound:
        return None
    classes = list(spec.labels.classes)
    labels = [str(t) for t in data.labels]
    keep = np.asarray([t in classes for t in labels], dtype=bool)
    frame = data.frame[keep].reset_index(drop=True)
    if not len(frame):
        return None
    truth = np.asarray([classes.index(t) for t, k in zip(labels, keep, strict=True) if k])
    scores = {
        run_id: np.asarray(model.predict_proba(frame, spec))
        for run_id, model in models.items()
        if model is not None
    }
    if not spec.labels.spans:
        return _Common(spec, frame, truth, scores)
    gold = [list(s) for s, k in zip(data.spans, keep, strict=True) if k]
    extracted = {
        run_id: [list(s) for s in model.extract(frame, spec)]
        for run_id, model in models.items()
        if model is not None
    }
    return _Common(spec, frame, truth, scores, gold, extracted)


def _model(ws: Workspace, run: RunDetail) -> Model | None:
    files = {r: h for r, h in run.files.items() if r != "evaluation.json"}
    if "model.json" not in files:
        return None
    try:
        return Model.from_files({r: ws.blobs.read_bytes(h) for r, h in files.items()})
    except (NotFound, OSError, ValueError):
        return None


def _test_set_text(runs: Sequence[RunDetail], common: _Common | None) -> str:
    if common is not None:
        return (
            f"the project's current test set ({len(common.frame):,} items), re-scored with "
            "each model"
        )
    sizes = sorted({int(r.params.get("test_items", 0) or 0) for r in runs})
    return (
        "each run's own test set as recorded ("
        + ", ".join(f"{s:,}" for s in sizes)
        + " items): not comparable item for item, so no difference is judged"
    )


def _figures(run: RunDetail, common: _Common | None) -> dict[str, float]:
    """A run's metrics, those of its evaluation re-measured on the common set."""
    if common is None:
        return dict(run.metrics)
    truth = [common.classes[i] for i in common.truth]
    measured = classification_metrics(
        truth, common.probabilities[run.run_id], common.classes, common.spec.labels.positive
    )
    if common.spec.labels.spans:
        types = list(common.spec.labels.spans.types)
        measured.update(span_metrics(common.spans, common.extracted[run.run_id], types))
    kept = {k: v for k, v in run.metrics.items() if not _is_evaluation_metric(k)}
    return {**kept, **measured}


def _is_evaluation_metric(name: str) -> bool:
    return name in {"accuracy", "f1_macro", "n", "log_loss", "roc_auc", "calibration_error"} or (
        name.split(".", 1)[0]
        in {"precision", "recall", "f1", "span_precision", "span_recall", "span_f1"}
    )


def _metric_table(
    runs: Sequence[RunDetail], baseline: RunDetail | None, figures: dict[int, dict[str, float]]
) -> pd.DataFrame:
    names = sorted({k for r in runs for k in figures[r.run_id]} | set(KEY_METRICS))
    ordered = [m for m in KEY_METRICS if any(m in figures[r.run_id] for r in runs)] + [
        m for m in names if m not in KEY_METRICS and not m.startswith("latency")
    ]
    table: dict[str, list[float | None]] = {}
    base = figures[baseline.run_id] if baseline is not None else {}
    for run in runs:
        own = figures[run.run_id]
        table[run_label(run)] = [own.get(m) for m in ordered]
        if baseline is not None and run.run_id != baseline.run_id:
            table[f"Δ {run_label(run)}"] = [
                None if own.get(m) is None or base.get(m) is None else own[m] - base[m]
                for m in ordered
            ]
    if baseline is not None:
        table["production"] = [base.get(m) for m in ordered]
    return pd.DataFrame(table, index=ordered)


# -- is a difference real? ---------------------------------------------------------------------
DELTA_COLUMNS = ["run", "metric", "delta", "n", "lower", "upper", "verdict"]


def _deltas(
    runs: Sequence[RunDetail], baseline: RunDetail | None, common: _Common | None
) -> pd.DataFrame:
    """Each run minus production on the common items, with a paired bootstrap interval of the
    difference (the same resampled items for both models) and its verdict."""
    rows: list[dict[str, object]] = []
    if baseline is None or common is None:
        return pd.DataFrame(columns=DELTA_COLUMNS)
    base = common.predicted(baseline.run_id)
    for run in runs:
        if run.run_id == baseline.run_id:
            continue
        own = common.predicted(run.run_id)
        for metric, interval, delta in paired_differences(common.truth, own, base, common.classes):
            rows.append(
                {
                    "run": run_label(run),
                    "metric": metric,
                    "delta": delta,
                    "n": interval.n,
                    "lower": interval.lower,
                    "upper": interval.upper,
                    "verdict": delta_verdict(metric, interval),
                }
            )
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def paired_differences(
    truth: np.ndarray, a: np.ndarray, b: np.ndarray, classes: Sequence[str]
) -> list[tuple[str, Interval, float]]:
    """(metric, interval, delta) of ``a``'s metric minus ``b``'s, for accuracy, macro F1 and each
    class's precision, recall and F1, from predictions of the same items (paired bootstrap)."""
    k = len(classes)
    truth = np.asarray(truth, dtype=int)

    def table(predicted: np.ndarray, picks: np.ndarray) -> np.ndarray:
        counts = np.bincount(truth[picks] * k + predicted[picks], minlength=k * k)
        return counts.reshape(k, k).astype(float)

    everything = np.arange(len(truth))
    out = []
    for metric, of in confusion_metrics(classes).items():

        def difference(picks: np.ndarray, of: Callable[[np.ndarray], float] = of) -> float:
            return of(table(a, picks)) - of(table(b, picks))

        out.append((metric, bootstrap(difference, len(truth)), difference(everything)))
    return out


def confusion_metrics(classes: Sequence[str]) -> dict[str, Callable[[np.ndarray], float]]:
    """Metric name -> its value from a confusion table (rows true, columns predicted), named and
    computed as the evaluation does (macro F1 over every class, 0 where undefined)."""

    out: dict[str, Callable[[np.ndarray], float]] = {
        "accuracy": lambda t: _ratio(np.trace(t), t.sum()),
        "f1_macro": lambda t: float(np.mean([f1_of(t, i) for i in range(len(t))])),
    }
    for i, name in enumerate(classes):
        out[f"precision.{name}"] = functools.partial(_precision, index=i)
        out[f"recall.{name}"] = functools.partial(_recall, index=i)
        out[f"f1.{name}"] = functools.partial(f1_of, index=i)
    return out


def _ratio(top: float, bottom: float) -> float:
    return float(top / bottom) if bottom else 0.0


def _precision(table: np.ndarray, index: int) -> float:
    return _ratio(table[index, index], table[:, index].sum())


def _recall(table: np.ndarray, index: int) -> float:
    return _ratio(table[index, index], table[index, :].sum())


def delta_verdict(metric: str, interval: Interval) -> str:
    """``better``/``worse`` when the difference's interval excludes 0, else ``no clear
    difference`` (the delta is smaller than its uncertainty)."""
    if interval.lower is None or interval.upper is None:
        return "no clear difference"
    if interval.lower <= 0 <= interval.upper:
        return "no clear difference"
    higher = interval.lower > 0
    return "better" if higher != (metric in LOWER_IS_BETTER) else "worse"


# -- slices and confusion ----------------------------------------------------------------------
def _common_slices(
    runs: Sequence[RunDetail], baseline: RunDetail | None, common: _Common, metric: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``metric`` per slice of the common set for each run (and production), and each slice's
    number of items; every slice is listed, small ones too (the page greys them)."""
    of = confusion_metrics(common.classes).get(metric)
    columns: dict[str, RunDetail] = {run_label(r): r for r in runs}
    if baseline is not None:
        columns["production"] = baseline
    k = len(common.classes)
    values: dict[str, dict[str, float | None]] = {c: {} for c in columns}
    sizes: dict[str, int] = {}
    for slice_spec in common.spec.slices:
        found = slice_values(common.frame, slice_spec).to_numpy()
        for value in pd.unique(found):
            mask = found == value
            name = f"{slice_spec.name} = {value}"
            sizes[name] = int(mask.sum())
            for column, run in columns.items():
                predicted = common.predicted(run.run_id)[mask]
                table = np.bincount(common.truth[mask] * k + predicted, minlength=k * k).reshape(
                    k, k
                )
                values[column][name] = None if of is None else of(table.astype(float))
    names = sorted(sizes)
    frame = pd.DataFrame({c: [values[c].get(s) for s in names] for c in columns}, index=names)
    return frame, sizes


def _recorded_slices(
    ws: Workspace, runs: Sequence[RunDetail], baseline: RunDetail | None, metric: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    everyone = [*runs, *([baseline] if baseline else [])]
    names = sorted({s for r in everyone for s in r.slice_metrics})
    frame = pd.DataFrame(
        {run_label(r): [r.slice_metrics.get(s, {}).get(metric) for s in names] for r in runs},
        index=names,
    )
    if baseline is not None:
        frame["production"] = [baseline.slice_metrics.get(s, {}).get(metric) for s in names]
    sizes: dict[str, int] = {}
    for run in runs:  # the smallest size any run recorded: a slice is judged by its weakest n
        for name, size in _evaluation(ws, run).get("sizes", {}).items():
            sizes[name] = min(int(size), sizes.get(name, int(size)))
    return frame, sizes


def _evaluation(ws: Workspace, run: RunDetail) -> dict[str, Any]:
    if "evaluation.json" not in run.files:
        return {}
    data: dict[str, Any] = json.loads(ws.blobs.read_bytes(run.files["evaluation.json"]))
    return data


def _common_confusion(
    runs: Sequence[RunDetail], common: _Common
) -> tuple[dict[str, tuple[list[str], list[list[int]]]], list[str]]:
    k = len(common.classes)
    confusion = {}
    right = {}
    for run in runs:
        predicted = common.predicted(run.run_id)
        table = np.bincount(common.truth * k + predicted, minlength=k * k).reshape(k, k)
        confusion[run_label(run)] = (common.classes, [[int(c) for c in row] for row in table])
        right[run.run_id] = predicted == common.truth
    ids = common.frame[common.spec.id_column].astype(str).to_numpy()
    if len(runs) < 2:
        return confusion, []
    correct = np.vstack(list(right.values()))
    split = correct.any(axis=0) & ~correct.all(axis=0)
    return confusion, sorted(ids[split].tolist())


def _recorded_confusion(
    ws: Workspace, runs: Sequence[RunDetail]
) -> tuple[dict[str, tuple[list[str], list[list[int]]]], list[str]]:
    confusion: dict[str, tuple[list[str], list[list[int]]]] = {}
    wrong: dict[str, set[str]] = {}
    for run in runs:
        evaluation = _evaluation(ws, run)
        if evaluation:
            confusion[run_label(run)] = (evaluation["classes"], evaluation["confusion"])
            wrong[run_label(run)] = set(evaluation.get("misclassified", []))
    sets = list(wrong.values())
    disagreements = (
        sorted(set().union(*sets) - sets[0].intersection(*sets[1:])) if len(sets) > 1 else []
    )
    return confusion, disagreements
