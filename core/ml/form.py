"""The serving form of a tabular model: plain JSON arrays a fresh serving host predicts with
using NumPy alone, without importing scikit-learn, skops or XGBoost (seconds of a host's
start-up).

``serving_form(model)`` is written at registration as the model file ``serving.json`` (beside the
skops and UBJSON files, which stay the model of record): the fitted tabular preprocessing as
:class:`core.ml.row.RowPredictor` plans it (imputation values, scaling, one-hot positions) and
the classifier as data: XGBoost's trees of a multi-class model (split feature, threshold, children,
default direction, leaf values) or the logistic regression's coefficients. :class:`FormPredictor` evaluates it the
way XGBoost's CPU predictor does (float32 features and thresholds, leaf values added to the base
margin tree by tree in float32, its float32 softmax with the C library's ``expf``), so its
probabilities are the row predictor's, bit for bit (tested on the sample projects' data). Text
models, span models, two-class boosters and structures the plan does not know have no serving
form; a host loads
those the usual way. The form is data only: nothing in it is executed.
"""

from __future__ import annotations

import ctypes
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ROLE = "serving.json"
FORMAT = "loopline-serving/1"
OBJECTIVES = ("multi:softprob",)  # a binary booster's base score is a probability: not planned
BLOCK = 64  # rows evaluated at once (rows × trees nodes in flight)


# -- building (at registration, where the fitted objects are at hand) --------------------------


def serving_form(model: Any) -> dict[str, Any] | None:
    """The model's serving form, or None when it has none (text, spans, unknown structure)."""
    from core.ml.row import RowPredictor

    if model.manifest.get("kind") != "tabular_classification" or model.span_models:
        return None
    predictor = RowPredictor(model, None)  # type: ignore[arg-type]  # tabular plans skip the spec
    plan = predictor._plan
    if not predictor.lean or plan is None:
        return None
    if predictor._booster is not None:
        classifier = _trees(predictor._booster)
        if classifier is None:
            return None
    else:
        assert predictor._coef is not None and predictor._intercept is not None
        classifier = {
            "kind": "linear",
            "dtype": str(predictor._coef.dtype),
            "coef": predictor._coef.tolist(),
            "intercept": predictor._intercept.tolist(),
        }
    return {
        "format": FORMAT,
        "classes": list(model.classes),
        "known": list(predictor._known),
        "plan": {
            "width": plan.width,
            "numeric": list(plan.numeric),
            "numeric_at": plan.numeric_at,
            "fill": None if plan.fill is None else plan.fill.tolist(),
            "mean": None if plan.mean is None else plan.mean.tolist(),
            "scale": None if plan.scale is None else plan.scale.tolist(),
            "categorical": list(plan.categorical),
            "positions": [{k: v.tolist() for k, v in p.items()} for p in plan.positions],
            "sparse": plan.sparse,
        },
        "classifier": classifier,
    }


def _trees(booster: Any) -> dict[str, Any] | None:
    learner = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"]
    objective = learner["objective"]["name"]
    trees = learner["gradient_booster"]["model"]
    if objective not in OBJECTIVES or learner["gradient_booster"]["name"] != "gbtree":
        return None
    if any(t["categories_nodes"] or any(t["split_type"]) for t in trees["trees"]):
        return None  # categorical splits: not planned
    base = learner["learner_model_param"]["base_score"].strip("[]")
    return {
        "kind": "trees",
        "objective": objective,
        "base_score": [float(np.float32(v)) for v in base.split(",")],
        "tree_info": [int(g) for g in trees["tree_info"]],
        "trees": [
            {
                "left": t["left_children"],
                "right": t["right_children"],
                "feature": t["split_indices"],
                "value": t["split_conditions"],  # the threshold, or the leaf's value
                "default_left": t["default_left"],
            }
            for t in trees["trees"]
        ],
    }


def forest_of(booster: Any) -> Forest | None:
    """The booster's trees as a :class:`Forest` (None when it has no serving form's trees: a
    two-class objective, categorical splits)."""
    found = _trees(booster)
    return Forest(found) if found is not None else None


def form_bytes(form: dict[str, Any]) -> bytes:
    return json.dumps(form, sort_keys=True, separators=(",", ":")).encode()


# -- predicting (on the serving host) -----------------------------------------------------------


class FormModel:
    """Stands for :class:`core.ml.model.Model` in a served model loaded from its serving form."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.span_models: dict[str, Any] = {}

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])


class FormPredictor:
    """A :class:`core.ml.row.RowPredictor` of a tabular model, from its serving form."""

    text = False
    lean = True

    def __init__(self, form: Mapping[str, Any]) -> None:
        if form.get("format") != FORMAT:
            raise ValueError(f"not a serving form of format {FORMAT}")
        self.classes = list(form["classes"])
        self._known = [int(k) for k in form["known"]]
        self._plan = TabularPlan.from_json(form["plan"])
        found = form["classifier"]
        self._trees = Forest(found) if found["kind"] == "trees" else None
        self._linear = _Linear(found) if found["kind"] == "linear" else None

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        matrix = self._plan.matrix(rows, missing_is_zero=self._trees is not None)
        if self._trees is not None:
            raw = np.asarray(self._trees.predict(matrix), dtype=np.float64)
        else:
            assert self._linear is not None
            raw = self._linear.predict(matrix)
        if len(self._known) == len(self.classes):
            return raw
        full = np.zeros((raw.shape[0], len(self.classes)))
        full[:, self._known] = raw
        return full

    def extract(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        return [[] for _ in rows]


def missing(value: Any) -> bool:
    """None, NaN or pandas' NA (recognised by its type's name: this module imports no pandas)."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ == "NAType"
    )


def number(value: Any) -> float:
    """``value`` as a float, NaN when missing or not a number (what ``pd.to_numeric(errors=
    "coerce")`` makes of it)."""
    if missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _array(values: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class TabularPlan:
    """The fitted tabular preprocessing (a ColumnTransformer) as arrays: what the row predictor
    plans from the fitted objects (``core.ml.row``) and the serving form stores as JSON."""

    width: int
    numeric: tuple[str, ...]
    numeric_at: int
    fill: np.ndarray | None  # the imputer's medians, or None (missing stays NaN)
    mean: np.ndarray | None
    scale: np.ndarray | None
    categorical: tuple[str, ...]
    positions: tuple[dict[str, np.ndarray], ...]  # per categorical column: value → output columns
    sparse: bool  # the transformer's output was sparse: XGBoost saw absent zeros as missing

    @classmethod
    def from_json(cls, plan: Mapping[str, Any]) -> TabularPlan:
        fill, mean, scale = (_array(plan[k]) for k in ("fill", "mean", "scale"))
        return cls(
            width=int(plan["width"]),
            numeric=tuple(plan["numeric"]),
            numeric_at=int(plan["numeric_at"]),
            fill=fill,
            mean=mean,
            scale=scale,
            categorical=tuple(plan["categorical"]),
            positions=tuple(
                {k: np.asarray(v, dtype=np.int64) for k, v in p.items()} for p in plan["positions"]
            ),
            sparse=bool(plan["sparse"]),
        )

    def matrix(self, rows: Sequence[Mapping[str, Any]], *, missing_is_zero: bool) -> np.ndarray:
        """The model input of ``rows``: the numeric block imputed and scaled, the one-hot
        columns set."""
        out = np.zeros((len(rows), self.width))
        if self.numeric:
            block = np.array(
                [[number(row.get(name)) for name in self.numeric] for row in rows],
                dtype=np.float64,
            ).reshape(len(rows), len(self.numeric))
            if self.fill is not None:
                block = np.where(np.isnan(block), self.fill, block)
            if self.mean is not None:
                block = block - self.mean
            if self.scale is not None:
                block = block / self.scale
            out[:, self.numeric_at : self.numeric_at + len(self.numeric)] = block
        for name, known in zip(self.categorical, self.positions, strict=True):
            for index, row in enumerate(rows):
                value = row.get(name)
                found = known.get("(missing)" if missing(value) else str(value))
                if found is not None:
                    out[index, found] = 1.0
        if self.sparse and missing_is_zero:
            out[out == 0] = np.nan  # entries a sparse matrix does not store are missing to XGBoost
        return out


class Forest:
    """XGBoost's gbtree, evaluated as its CPU predictor does, every tree at once per level.

    All trees' nodes sit in flat arrays (children by their index there; a leaf is its own child,
    so a walk that reached it stays), and each level of the walk is a handful of whole-array
    operations over rows × trees. It costs about 0.6 ms for one row of the sample model's 900
    trees, where XGBoost's ``inplace_predict`` spends 4-5 ms setting up per call (a view of every
    tree, built anew each time), so the row predictor uses it for small batches."""

    def __init__(self, found: Mapping[str, Any]) -> None:
        trees = found["trees"]
        sizes = np.asarray([len(t["left"]) for t in trees], dtype=np.intp)
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        offset = np.repeat(self.roots, sizes)

        def flat(key: str, dtype: Any) -> np.ndarray:
            return np.concatenate([np.asarray(t[key], dtype=dtype) for t in trees])

        left, right = flat("left", np.intp), flat("right", np.intp)
        leaf = left < 0
        itself = np.arange(len(left), dtype=np.intp)
        self.left = np.where(leaf, itself, left + offset)
        self.right = np.where(leaf, itself, right + offset)
        self.feature = np.where(leaf, 0, flat("feature", np.intp))
        self.value = flat("value", np.float32)  # a split's threshold, a leaf's value
        self.default_left = flat("default_left", np.bool_)
        self.depth = _depth(self.roots, self.left, self.right, leaf)
        self.groups = np.asarray(found["tree_info"], dtype=np.int64)
        self.base = np.asarray(found["base_score"], dtype=np.float32)
        self.classes = len(self.base)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        parts = [self._block(matrix[i : i + BLOCK]) for i in range(0, len(matrix), BLOCK)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)

    def _block(self, matrix: np.ndarray) -> np.ndarray:
        features = np.ascontiguousarray(matrix, dtype=np.float32)
        rows, width = features.shape
        trees = len(self.roots)
        cells = features.ravel()
        row_start = np.repeat(np.arange(rows, dtype=np.intp) * width, trees)
        node = np.tile(self.roots, rows)
        for _ in range(self.depth):
            x = cells.take(row_start + self.feature.take(node))
            goes_left = x < self.value.take(node)  # False for a missing value: then its default
            absent = np.isnan(x)
            if absent.any():
                goes_left |= absent & self.default_left.take(node)
            node = np.where(goes_left, self.left.take(node), self.right.take(node))
        leaves = self.value.take(node).reshape(rows, trees)
        margins = np.empty((rows, self.classes), dtype=np.float32)
        for group in range(self.classes):
            chosen = leaves[:, self.groups == group]
            start = np.full((rows, 1), self.base[group], dtype=np.float32)
            margins[:, group] = np.add.accumulate(np.hstack([start, chosen]), axis=1)[:, -1]
        return _softmax(margins)


def _depth(roots: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    """The deepest leaf's depth over all trees (the levels a walk from the roots takes)."""
    depth = 0
    level = roots
    while True:
        inner = level[~leaf[level]]
        if len(inner) == 0:
            return depth
        level = np.concatenate([left[inner], right[inner]])
        depth += 1


_LIBM = ctypes.CDLL("libm.so.6")
_LIBM.expf.restype = ctypes.c_float
_LIBM.expf.argtypes = [ctypes.c_float]


def _softmax(margins: np.ndarray) -> np.ndarray:
    """XGBoost's ``common::Softmax``: float32 max, expf, a double sum (in class order), float32
    division."""
    shifted = margins - margins.max(axis=1, keepdims=True)
    expf = _LIBM.expf
    exps = np.array([expf(v) for v in shifted.ravel().tolist()], dtype=np.float32)
    exps = exps.reshape(margins.shape)
    total = np.zeros(len(margins))
    for column in range(margins.shape[1]):
        total += exps[:, column]
    return exps / total.astype(np.float32)[:, None]


class _Linear:
    """The logistic regression's coefficients, as the row predictor applies them."""

    def __init__(self, found: Mapping[str, Any]) -> None:
        self.coef = np.asarray(found["coef"], dtype=found["dtype"])
        self.intercept = np.asarray(found["intercept"], dtype=found["dtype"])

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        from scipy.special import expit, softmax

        decision = np.asarray(matrix @ self.coef) + self.intercept
        if decision.shape[1] == 1:
            positive = expit(decision[:, 0])
            return np.column_stack([1 - positive, positive])
        return np.asarray(softmax(decision, axis=1))
