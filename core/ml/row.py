"""The lean single-row prediction path for serving: a fitted :class:`~core.ml.model.Model`
turned into NumPy arrays and direct classifier calls (``Model.row_predictor(spec)`` makes one).

Items arrive as plain mappings (field → value), the way the prediction service receives them; no
DataFrame and no scikit-learn transformer is involved per call. A model structure the plan does
not know falls back to the model's own DataFrame path, so the answer is always the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.ml.form import Forest, TabularPlan, forest_of, missing
from core.ml.spans import extract_spans
from core.projects.spec import ProjectSpec
from core.spans.detect import Span

# XGBoost's inplace_predict spends 4-5 ms per call setting up the sample model's 900 trees, then
# ~0.06 ms a row; the Forest ~0.6 ms for one row, then ~0.15 ms a row: it wins below ~35 rows
FOREST_ROWS = 24

if TYPE_CHECKING:  # the model makes its row predictor; only its type is needed here
    from core.ml.model import Model


class RowPredictor:
    """Class probabilities for items given as plain mappings (field → value), for serving.

    Made once per loaded model: the tabular preprocessing becomes NumPy arrays (imputation
    values, scaling, the one-hot positions of every known category value, the column order) and
    the classifier is called directly (the XGBoost booster's ``inplace_predict``, or the logistic
    regression's coefficients), so one prediction costs a fraction of a millisecond instead of a
    one-row DataFrame through scikit-learn. It gives the probabilities of
    :meth:`Model.predict_proba` (tested to 1e-6); a structure it does not know falls back to it.
    """

    def __init__(self, model: Model, spec: ProjectSpec) -> None:
        self.model = model
        self.spec = spec
        self.classes = model.classes
        self.text = model.manifest["kind"] == "text_classification"
        classifier = model.classifier
        self._known = [int(c) for c in getattr(classifier, "classes_", range(len(self.classes)))]
        self._booster: Any = None
        self._coef: np.ndarray | None = None
        self._intercept: np.ndarray | None = None
        if hasattr(classifier, "get_booster") and getattr(classifier, "objective", "") in (
            "multi:softprob",
            "binary:logistic",
        ):
            self._booster = classifier.get_booster().copy()
            self._booster.set_param({"nthread": 1})  # one row: threads cost more than they give
        elif type(classifier).__name__ == "LogisticRegression":
            self._coef = np.asarray(classifier.coef_).T  # its own dtype, as scikit-learn computes
            self._intercept = np.asarray(classifier.intercept_)
        self._forest: Forest | None = None  # small batches without XGBoost's set-up per call
        self._plan = None if self.text else _tabular_plan(model.preprocess, spec)
        self.lean = (self._booster is not None or self._coef is not None) and (
            self.text or self._plan is not None
        )

    def for_serving(self) -> RowPredictor:
        """Ready for the prediction service's small batches: a booster's trees are also kept as
        a :class:`~core.ml.form.Forest`, which predicts up to ``FOREST_ROWS`` rows several times
        faster than ``inplace_predict`` (the same probabilities, bit for bit)."""
        if self._booster is not None and self._plan is not None and self._forest is None:
            self._forest = forest_of(self._booster)
        return self

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One row of probabilities per item, one column per project class."""
        if not self.lean:
            return self.model.predict_proba(pd.DataFrame(list(rows)), self.spec)
        if self.text:
            matrix: Any = self.model.preprocess.transform(self.texts(rows))
        else:
            assert self._plan is not None
            matrix = self._plan.matrix(rows, missing_is_zero=self._booster is not None)
        if self._forest is not None and len(rows) <= FOREST_ROWS:
            raw = np.asarray(self._forest.predict(matrix), dtype=np.float64)
        elif self._booster is not None:
            raw = np.asarray(self._booster.inplace_predict(matrix), dtype=np.float64)
            if raw.ndim == 1:
                raw = np.column_stack([1 - raw, raw])
        else:
            from scipy.special import expit, softmax

            assert self._coef is not None and self._intercept is not None
            decision = np.asarray(matrix @ self._coef) + self._intercept
            if decision.shape[1] == 1:
                positive = expit(decision[:, 0])
                raw = np.column_stack([1 - positive, positive])
            else:
                raw = softmax(decision, axis=1)
        if len(self._known) == len(self.classes):
            return raw
        full = np.zeros((raw.shape[0], len(self.classes)))
        full[:, self._known] = raw
        return full

    def texts(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [
            "\n".join(_text_value(row.get(name)) for name in self.spec.text_fields) for row in rows
        ]

    def extract(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Span]]:
        spans = self.spec.labels.spans
        if not self.model.span_models or spans is None:
            return [[] for _ in rows]
        field_texts = [_text_value(row.get(spans.field)) for row in rows]
        return extract_spans(self.model.span_models, field_texts, spans.detect)


def _text_value(value: Any) -> str:
    return "" if missing(value) else str(value)


def _tabular_plan(preprocess: Any, spec: ProjectSpec) -> TabularPlan | None:
    """The fitted ColumnTransformer of a tabular model as arrays, or None for a structure the
    plan does not know."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric: tuple[str, ...] = ()
    numeric_at = 0
    fill = mean = scale = None
    categorical: tuple[str, ...] = ()
    positions: tuple[dict[str, np.ndarray], ...] = ()
    for name, transformer, columns in getattr(preprocess, "transformers_", ()):
        where = preprocess.output_indices_[name]
        if len(columns) == 0 or (name == "remainder" and transformer == "drop"):
            continue
        if name == "numeric" and _identity(transformer):
            numeric, numeric_at = tuple(columns), where.start
        elif name == "numeric" and isinstance(transformer, Pipeline):
            steps = [step for _, step in transformer.steps]
            if not (
                len(steps) == 2
                and isinstance(steps[0], SimpleImputer)
                and steps[0].strategy in ("median", "mean")
                and isinstance(steps[1], StandardScaler)
            ):
                return None
            numeric, numeric_at = tuple(columns), where.start
            fill = np.asarray(steps[0].statistics_, dtype=np.float64)
            mean = np.asarray(steps[1].mean_, dtype=np.float64) if steps[1].with_mean else None
            scale = np.asarray(steps[1].scale_, dtype=np.float64) if steps[1].with_std else None
        elif (
            name == "categorical"
            and isinstance(transformer, OneHotEncoder)
            and transformer.handle_unknown == "ignore"
        ):
            categorical = tuple(columns)
            positions = _one_hot_positions(transformer, categorical, where.start)
        else:
            return None
    width = int(sum(s.stop - s.start for s in preprocess.output_indices_.values()))
    return TabularPlan(
        width,
        numeric,
        numeric_at,
        fill,
        mean,
        scale,
        categorical,
        positions,
        bool(getattr(preprocess, "sparse_output_", False)),
    )


def _identity(transformer: Any) -> bool:
    """``"passthrough"``, which fitted transformers hold as a FunctionTransformer without func."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return (
        type(transformer).__name__ == "FunctionTransformer"
        and transformer.func is None
        and transformer.inverse_func is None
    )


def _one_hot_positions(
    encoder: Any, columns: tuple[str, ...], start: int
) -> tuple[dict[str, np.ndarray], ...]:
    """Where each known value of each column lands in the encoder's output (infrequent values
    share a column): found by encoding every value once, the other columns set to an unseen one."""
    unseen = "\x00unseen"
    rows: list[list[Any]] = []
    owners: list[tuple[int, Any]] = []
    for column, values in enumerate(encoder.categories_):
        for value in values:
            row = [unseen] * len(columns)
            row[column] = value
            rows.append(row)
            owners.append((column, value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories": the unseen value, on purpose
        encoded = encoder.transform(pd.DataFrame(rows, columns=list(columns), dtype=object))
    dense = encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)
    out: list[dict[str, np.ndarray]] = [{} for _ in columns]
    for (column, value), row in zip(owners, dense, strict=True):
        out[column][str(value)] = np.flatnonzero(row) + start
    return tuple(out)
