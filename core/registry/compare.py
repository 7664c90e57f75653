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
from core.ml.importance import feature_weights
from core.ml.labeled import slice_values
from core.ml.model import Model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias
from core.spans.detect import Span
from core.stats import Interval, bootstrap_weights, f1_of, interval_of
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
    disagreements: list[str]  # the ids of ``disagreement_rows``, in their order
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
    # the test items one run (production counted) gets right and another wrong, the most telling
    # first, at most DISAGREEMENT_ROWS: "item", "text" (a cut of the item's text, or a tabular
    # item's weightiest feature values), one column per slice, "true label", then each run's
    # prediction under its label ("production" for a production run not picked) and its
    # probability ("<label> score"); without a common test set: "item" and, per run, "wrong"
    # where its recorded evaluation got the item wrong
    disagreement_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    disagreement_total: int = 0  # every such item, not only the rows kept
    disagreement_order: str = ""  # which rows were kept and in what order, in words

    def prediction_columns(self) -> list[str]:
        """The columns of ``disagreement_rows`` that hold a run's prediction, in order."""
        names = [run_label(r) for r in self.runs] + ["production"]
        return [n for n in names if n in self.disagreement_rows.columns]

    def wrong_in(self, column: str) -> pd.Series[bool]:
        """Which disagreement rows the run in ``column`` gets wrong."""
        rows = self.disagreement_rows
        if column not in rows.columns:
            raise InvalidInput(
                f"No run {column!r} in the comparison. Expected one of: "
                f"{', '.join(self.prediction_columns())}.",
                hint="name a run as its column reads, e.g. '#12 build-3' or 'production'",
            )
        if TRUE_LABEL in rows.columns:
            return rows[column].astype(str) != rows[TRUE_LABEL].astype(str)
        return rows[column] == "wrong"

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


DISAGREEMENT_ROWS = 200  # disagreements kept: a table a person reads and a browser draws at once
TEXT_LENGTH = 120  # characters of an item's text in the disagreement rows
KEY_FEATURES = 5  # a tabular item's feature values in its text
TRUE_LABEL = "true label"


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
    weights: dict[int, dict[str, float]] = field(default_factory=dict)  # run id -> feature shares

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
    confusion, split = (
        _common_confusion(runs, baseline, common)
        if common is not None
        else _recorded_confusion(ws, runs)
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
        [str(i) for i in split.rows["item"]] if "item" in split.rows else [],
        history,
        test_set=_test_set_text(everyone, common),
        common_items=None if common is None else len(common.frame),
        deltas=deltas,
        slice_sizes=sizes,
        disagreement_rows=split.rows,
        disagreement_total=split.total,
        disagreement_order=split.order,
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
    weights = {
        run_id: feature_weights(model) for run_id, model in models.items() if model is not None
    }
    if not spec.labels.spans:
        return _Common(spec, frame, truth, scores, weights=weights)
    gold = [list(s) for s, k in zip(data.spans, keep, strict=True) if k]
    extracted = {
        run_id: [list(s) for s in model.extract(frame, spec)]
        for run_id, model in models.items()
        if model is not None
    }
    return _Common(spec, frame, truth, scores, gold, extracted, weights)


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
    class's precision, recall and F1, from predictions of the same items (paired bootstrap).

    Every metric is measured on the same resamples (those :func:`~core.stats.bootstrap` draws):
    each block of them as item weights, both models' confusion tables for the whole block in
    one product (weights × one-hot cell of each item), then every metric from those tables at
    once (the figures ``confusion_metrics`` gives per table, to the last bit)."""
    k = len(classes)
    truth = np.asarray(truth, dtype=int)
    n = len(truth)
    # each item's cell in a's table, then in b's (of the 2k² cells of both tables)
    cells = np.stack(
        [truth * k + np.asarray(a, dtype=int), k * k + truth * k + np.asarray(b, dtype=int)]
    )
    count = _cell_counts(cells, 2 * k * k)

    def differences(weights: np.ndarray) -> dict[str, np.ndarray]:
        tables = count(weights).reshape(len(weights), 2, k, k)
        own, other = table_metrics(tables[:, 0], classes), table_metrics(tables[:, 1], classes)
        return {metric: own[metric] - other[metric] for metric in own}

    delta = differences(np.ones((1, n)))
    if n:
        blocks = [differences(w) for w in bootstrap_weights(n)]
        values = {m: np.concatenate([block[m] for block in blocks]) for m in delta}
    return [
        (
            metric,
            interval_of(values[metric], n) if n else Interval(n, None, None, "bootstrap"),
            float(delta[metric][0]),
        )
        for metric in delta
    ]


ONE_HOT_LIMIT = 4_000_000  # entries of the items' one-hot cell matrix (32 MB) at most


def _cell_counts(cells: np.ndarray, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Per row of item weights (R × n), the weighted count of each of ``size`` cells, given
    each item's cells (one row of ``cells`` per table): weights @ the items' one-hot cells, or
    (when that matrix would pass ONE_HOT_LIMIT, many classes) a weighted bincount per row.
    The counts are whole numbers summed exactly either way."""
    n = cells.shape[1]
    if n * size <= ONE_HOT_LIMIT:
        onehot = np.zeros((n, size))
        for row in cells:
            onehot[np.arange(n), row] = 1.0
        return lambda weights: weights @ onehot
    every = cells.ravel()
    return lambda weights: np.stack(
        [np.bincount(every, weights=np.tile(w, len(cells)), minlength=size) for w in weights]
    )


def table_metrics(tables: np.ndarray, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """``confusion_metrics`` of a stack of confusion tables (R × k × k, rows true, columns
    predicted) at once: metric name -> R values, the same figures to the last bit (the same
    divisions of the same counts, 0 where undefined, macro F1 the mean over every class)."""
    tp = np.diagonal(tables, axis1=1, axis2=2)  # R × k
    actual, predicted = tables.sum(axis=2), tables.sum(axis=1)
    f1 = _ratios(2 * tp, 2 * tp + (actual + predicted - 2 * tp))  # as f1_of: 2tp / (2tp + wrong)
    out = {
        "accuracy": _ratios(tp.sum(axis=1), tables.sum(axis=(1, 2))),
        "f1_macro": np.ascontiguousarray(f1).mean(axis=1),
    }
    precision, recall = _ratios(tp, predicted), _ratios(tp, actual)
    for i, name in enumerate(classes):
        out[f"precision.{name}"] = precision[:, i]
        out[f"recall.{name}"] = recall[:, i]
        out[f"f1.{name}"] = f1[:, i]
    return out


def _ratios(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` elementwise, 0 where ``bottom`` is 0 (as ``_ratio``)."""
    out = np.zeros(np.broadcast(top, bottom).shape)
    np.divide(top, bottom, out=out, where=bottom != 0)
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
    runs: Sequence[RunDetail], baseline: RunDetail | None, common: _Common
) -> tuple[dict[str, tuple[list[str], list[list[int]]]], _Split]:
    k = len(common.classes)
    confusion = {}
    for run in runs:
        predicted = common.predicted(run.run_id)
        table = np.bincount(common.truth * k + predicted, minlength=k * k).reshape(k, k)
        confusion[run_label(run)] = (common.classes, [[int(c) for c in row] for row in table])
    return confusion, _disagreements(runs, baseline, common)


# -- the items the runs disagree on ------------------------------------------------------------
@dataclass(frozen=True)
class _Split:
    rows: pd.DataFrame
    total: int
    order: str


def _disagreements(
    runs: Sequence[RunDetail], baseline: RunDetail | None, common: _Common
) -> _Split:
    """The items one run (production counted) gets right and another wrong. The reference is
    production (else the first run picked): first the items it gets wrong and another run right,
    then those it gets right and another wrong; within each, the widest spread of the runs'
    probabilities of the true label first. Of more than DISAGREEMENT_ROWS, each side keeps up to
    half of them and a side with fewer leaves the rest to the other."""
    columns = {run_label(r): r.run_id for r in runs}
    if baseline is not None and baseline.run_id not in columns.values():
        columns["production"] = baseline.run_id
    if len(columns) < 2:
        return _Split(pd.DataFrame(), 0, "")
    reference = baseline.run_id if baseline is not None else runs[0].run_id
    reference_name = next(n for n, r in columns.items() if r == reference)
    if baseline is not None and reference_name != "production":
        reference_name = f"production ({reference_name})"
    items = np.arange(len(common.truth))
    truth_p = np.vstack([common.probabilities[r][items, common.truth] for r in columns.values()])
    right = np.vstack([common.predicted(r) == common.truth for r in columns.values()])
    split = right.any(axis=0) & ~right.all(axis=0)
    reference_right = common.predicted(reference) == common.truth
    spread = truth_p.max(axis=0) - truth_p.min(axis=0)
    ids = common.frame[common.spec.id_column].astype(str).to_numpy()
    fixed, broken = (
        _ordered(np.flatnonzero(split & ~reference_right), spread, ids),
        _ordered(np.flatnonzero(split & reference_right), spread, ids),
    )
    half = DISAGREEMENT_ROWS // 2
    first = min(len(fixed), DISAGREEMENT_ROWS - min(len(broken), half))
    second = min(len(broken), DISAGREEMENT_ROWS - first)
    kept = np.concatenate([fixed[:first], broken[:second]]).astype(int)
    total = int(split.sum())
    order = (
        f"first where {reference_name} is wrong and another run right ({len(fixed):,}), then "
        f"where {reference_name} is right and another run wrong ({len(broken):,}); within each, "
        "the widest spread of the runs' probabilities of the true label first"
    )
    if total > len(kept):
        order += (
            f"; {len(kept):,} of {total:,} kept: up to {half:,} from each side, the rest from "
            "the side with more"
        )
    return _Split(_rows(common, columns, kept), total, order)


def _ordered(picked: np.ndarray, spread: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``picked`` item indices, the widest spread first, then by item id."""
    if not len(picked):
        return picked
    return picked[np.lexsort((ids[picked], -spread[picked]))]


def _rows(common: _Common, columns: dict[str, int], kept: np.ndarray) -> pd.DataFrame:
    spec = common.spec
    frame = common.frame.iloc[kept].reset_index(drop=True)
    out: dict[str, Any] = {
        "item": frame[spec.id_column].astype(str).tolist(),
        "text": _texts(frame, spec, common.weights),
    }
    for slice_spec in spec.slices:
        name = slice_spec.name if slice_spec.name not in out else f"{slice_spec.name} (slice)"
        out[name] = [str(v) for v in slice_values(frame, slice_spec)]
    out[TRUE_LABEL] = [common.classes[i] for i in common.truth[kept]]
    for name, run_id in columns.items():
        probabilities = common.probabilities[run_id][kept]
        predicted = probabilities.argmax(axis=1) if len(kept) else np.zeros(0, dtype=int)
        out[name] = [common.classes[int(i)] for i in predicted]
        out[f"{name} score"] = [
            round(float(p[i]), 3) for p, i in zip(probabilities, predicted, strict=True)
        ]
    return pd.DataFrame(out)


def _texts(
    frame: pd.DataFrame, spec: ProjectSpec, weights: dict[int, dict[str, float]]
) -> list[str]:
    """Each item as a person reads it: a text project's text fields, whitespace folded, cut to
    TEXT_LENGTH characters; a tabular item's KEY_FEATURES weightiest feature values (the compared
    models' mean importance; the slices' own columns are shown beside it)."""
    if spec.text_fields:
        parts = [frame[f].astype("string").fillna("") for f in spec.text_fields]
        return [
            _cut(" · ".join(" ".join(p.split()) for p in values if p))
            for values in zip(*parts, strict=True)
        ]
    features = _key_features(spec, weights)
    return [
        " · ".join(f"{f} {_value(v)}" for f, v in zip(features, values, strict=True))
        for values in zip(*(frame[f] for f in features), strict=True)
    ]


def _key_features(spec: ProjectSpec, weights: dict[int, dict[str, float]]) -> list[str]:
    shown = {s.column for s in spec.slices if s.derive is None and s.bins is None}
    candidates = [f for f in spec.features if f not in shown] or list(spec.features)
    mean = {f: sum(w.get(f, 0.0) for w in weights.values()) for f in candidates}
    ranked = sorted(candidates, key=lambda f: (-mean[f], candidates.index(f)))
    return ranked[:KEY_FEATURES]


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LENGTH else text[: TEXT_LENGTH - 1].rstrip() + "…"


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer():
            return f"{number:,.0f}"
        return f"{number:,.1f}" if abs(number) >= 100 else f"{number:.3g}"
    return str(value)


def _recorded_confusion(
    ws: Workspace, runs: Sequence[RunDetail]
) -> tuple[dict[str, tuple[list[str], list[list[int]]]], _Split]:
    """Runs without a common test set: their recorded confusion matrices, and the items some
    run's own evaluation got wrong and another's did not (their predictions are not known)."""
    confusion: dict[str, tuple[list[str], list[list[int]]]] = {}
    wrong: dict[str, set[str]] = {}
    for run in runs:
        evaluation = _evaluation(ws, run)
        if evaluation:
            confusion[run_label(run)] = (evaluation["classes"], evaluation["confusion"])
            wrong[run_label(run)] = {str(i) for i in evaluation.get("misclassified", [])}
    sets = list(wrong.values())
    if len(sets) < 2:
        return confusion, _Split(pd.DataFrame(), 0, "")
    items = sorted(set().union(*sets) - sets[0].intersection(*sets[1:]))
    kept = items[:DISAGREEMENT_ROWS]
    rows = pd.DataFrame(
        {"item": kept, **{n: ["wrong" if i in w else "" for i in kept] for n, w in wrong.items()}}
    )
    order = (
        "the runs have no common test set, so their predictions are not known: each item some "
        "run's own evaluation got wrong (marked 'wrong') and another's did not, by item id"
    )
    if len(items) > len(kept):
        order += f"; the first {len(kept):,} of {len(items):,} kept"
    return confusion, _Split(rows, len(items), order)
