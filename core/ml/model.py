"""A trained model: preprocessing, classifier and span extractor, saved as plain files.

Built-in trainers (``TRAINERS``) by project kind: text — TF-IDF with logistic regression
(``tfidf_lr``) or with XGBoost (``tfidf_xgb``); tabular — XGBoost (``xgb``) and a logistic
regression baseline (``lr``). All are deterministic for a given seed. The lean path the
prediction service uses (``Model.row_predictor``) is in :mod:`core.ml.row`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput, expected_one_of
from core.ml.form import ROLE as FORM_ROLE
from core.ml.form import form_bytes, serving_form
from core.ml.row import RowPredictor
from core.ml.serialize import dump_booster, dump_sklearn, load_booster, load_sklearn
from core.ml.spans import extract_spans, fit_span_models
from core.projects.spec import ProjectSpec
from core.spans.detect import Span

TRAINERS: dict[str, dict[str, Any]] = {
    "tfidf_lr": {
        "kind": "text_classification",
        "defaults": {"C": 8.0, "ngram_max": 2, "min_df": 1},
    },
    "tfidf_xgb": {
        "kind": "text_classification",
        "defaults": {"n_estimators": 200, "max_depth": 6, "learning_rate": 0.15, "min_df": 2},
    },
    "xgb": {
        "kind": "tabular_classification",
        "defaults": {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1, "subsample": 0.9},
    },
    "lr": {"kind": "tabular_classification", "defaults": {"C": 1.0}},
}
DEFAULT_TRAINER = {"text_classification": "tfidf_lr", "tabular_classification": "xgb"}


def texts(frame: pd.DataFrame, spec: ProjectSpec) -> list[str]:
    parts = [frame[f].astype("string").fillna("") for f in spec.text_fields]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\n" + part
    return joined.tolist()


def _tabular_preprocess(spec: ProjectSpec, scale: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    types = {c.name: c.type for c in spec.columns}
    numeric = [f for f in spec.features if types[f] in ("integer", "number", "boolean")]
    categorical = [f for f in spec.features if f not in numeric]
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
    ]
    if scale:
        steps.append(("scale", StandardScaler()))
    return ColumnTransformer(
        [
            ("numeric", Pipeline(steps) if scale else "passthrough", numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
        ]
    )


def _tabular_frame(frame: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    types = {c.name: c.type for c in spec.columns}
    out = pd.DataFrame(index=frame.index)
    for name in spec.features:
        if types[name] in ("integer", "number", "boolean"):
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            out[name] = frame[name].astype("string").fillna("(missing)").astype(object)
    return out


@dataclass
class Model:
    manifest: dict[str, Any]
    preprocess: Any = None
    classifier: Any = None
    span_models: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    def _matrix(self, frame: pd.DataFrame, spec: ProjectSpec) -> Any:
        if self.manifest["kind"] == "text_classification":
            return self.preprocess.transform(texts(frame, spec))
        return self.preprocess.transform(_tabular_frame(frame, spec))

    def predict_proba(self, frame: pd.DataFrame, spec: ProjectSpec) -> np.ndarray:
        """One column per project class, in the project's order."""
        raw = np.asarray(self.classifier.predict_proba(self._matrix(frame, spec)), dtype=float)
        known = [int(c) for c in getattr(self.classifier, "classes_", range(raw.shape[1]))]
        if len(known) == len(self.classes):
            return raw
        full = np.zeros((raw.shape[0], len(self.classes)))
        full[:, known] = raw  # classes the training data lacked get probability 0
        return full

    def predict(self, frame: pd.DataFrame, spec: ProjectSpec) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(frame, spec).argmax(axis=1)]

    def row_predictor(self, spec: ProjectSpec) -> RowPredictor:
        """The lean path for serving: probabilities from plain values, without DataFrames."""
        return RowPredictor(self, spec)

    def extract(self, frame: pd.DataFrame, spec: ProjectSpec) -> list[list[Span]]:
        if not self.span_models or spec.labels.spans is None:
            return [[] for _ in range(len(frame))]
        field_texts = frame[spec.labels.spans.field].astype("string").fillna("").tolist()
        return extract_spans(self.span_models, field_texts, spec.labels.spans.detect)

    def files(self) -> dict[str, bytes]:
        if hasattr(
            self.preprocess, "_stop_words_id"
        ):  # an object id scikit-learn caches: not model state
            del self.preprocess._stop_words_id
        out = {
            "model.json": json.dumps(self.manifest, sort_keys=True, indent=1).encode(),
            "preprocess.skops": dump_sklearn(self.preprocess),
        }
        if self.manifest["trainer"] in ("tfidf_xgb", "xgb"):
            out["booster.ubj"] = dump_booster(self.classifier)
        else:
            out["classifier.skops"] = dump_sklearn(self.classifier)
        if self.span_models:
            out["spans.skops"] = dump_sklearn(self.span_models)
        form = serving_form(self)  # what a fresh serving host predicts with (NumPy only)
        if form is not None:
            out[FORM_ROLE] = form_bytes(form)
        return out

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> Model:
        manifest = json.loads(files["model.json"])
        preprocess = load_sklearn(files["preprocess.skops"])
        if "booster.ubj" in files:
            classifier = load_booster(
                files["booster.ubj"], _xgb_params(manifest["params"], manifest["seed"])
            )
        else:
            classifier = load_sklearn(files["classifier.skops"])
        spans = load_sklearn(files["spans.skops"]) if "spans.skops" in files else {}
        return cls(manifest, preprocess, classifier, spans)


def _xgb_params(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    keep = (
        "n_estimators",
        "max_depth",
        "learning_rate",
        "subsample",
        "colsample_bytree",
        "min_child_weight",
    )
    return {
        **{k: params[k] for k in keep if k in params},
        "tree_method": "hist",
        "n_jobs": 2,
        "random_state": seed,
        "eval_metric": "mlogloss",
    }


def resolve_params(trainer: str, spec: ProjectSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    if trainer not in TRAINERS:
        raise InvalidInput(expected_one_of("trainer", trainer, TRAINERS))
    if TRAINERS[trainer]["kind"] != spec.kind:
        options = [t for t, v in TRAINERS.items() if v["kind"] == spec.kind]
        raise InvalidInput(
            f"Trainer {trainer!r} is for {TRAINERS[trainer]['kind']} projects; "
            f"{spec.name!r} is {spec.kind}. Expected one of: {', '.join(options)}."
        )
    params = dict(TRAINERS[trainer]["defaults"])
    for key, value in given.items():
        if key not in params and key not in ("colsample_bytree", "min_child_weight"):
            raise InvalidInput(
                f"Unknown parameter {key!r} for {trainer}. Expected one of: {', '.join(sorted(params))}."
            )
        params[key] = value
    return params


def train_model(
    spec: ProjectSpec,
    frame: pd.DataFrame,
    labels: pd.Series,
    spans: list[list[Span]],
    *,
    trainer: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Model:
    trainer = trainer or DEFAULT_TRAINER[spec.kind]
    chosen = resolve_params(trainer, spec, params or {})
    classes = list(spec.labels.classes)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InvalidInput(f"The labels hold classes the project does not know: {unknown}.")
    y = np.asarray([classes.index(label) for label in labels])
    if len(set(y)) < 2:
        raise InvalidInput("Training needs at least two classes among the labels.")
    from sklearn.linear_model import LogisticRegression

    if spec.kind == "text_classification":
        from sklearn.feature_extraction.text import TfidfVectorizer

        preprocess = TfidfVectorizer(
            ngram_range=(1, int(chosen.get("ngram_max", 2))),
            min_df=int(chosen["min_df"]),
            sublinear_tf=True,
            max_features=50_000,
            dtype=np.float32,
        )
        matrix = preprocess.fit_transform(texts(frame, spec))
        preprocess.stop_words_ = (
            None  # a set: its order changes per process; only for introspection
        )
    else:
        preprocess = _tabular_preprocess(spec, scale=trainer == "lr")
        matrix = preprocess.fit_transform(_tabular_frame(frame, spec))
    if trainer in ("tfidf_xgb", "xgb"):
        import xgboost as xgb

        classifier = xgb.XGBClassifier(**_xgb_params(chosen, seed))
        present = sorted(set(y))
        if present != list(range(len(classes))):  # xgboost wants every class index present
            raise InvalidInput(
                f"Every class needs examples for {trainer}; missing: "
                f"{[classes[i] for i in range(len(classes)) if i not in present]}."
            )
        classifier.fit(matrix, y)
    else:
        classifier = LogisticRegression(C=float(chosen["C"]), max_iter=3000, random_state=seed)
        classifier.fit(matrix, y)
    span_models: dict[str, Any] = {}
    if spec.labels.spans is not None and spec.labels.spans.detect:
        field_texts = frame[spec.labels.spans.field].astype("string").fillna("").tolist()
        span_models = fit_span_models(field_texts, spans, spec.labels.spans.detect, seed)
    manifest = {
        "kind": spec.kind,
        "trainer": trainer,
        "classes": classes,
        "params": chosen,
        "seed": seed,
        "inputs": list(spec.inputs),
        "span_types": sorted(span_models),
        "project": spec.name,
    }
    return Model(manifest, preprocess, classifier, span_models)
