"""How much a tabular model leans on each of the project's features: XGBoost's gain importance, or
a linear model's absolute coefficients (on standardised inputs), summed over the columns a feature
became (one per one-hot category) and given as shares that add up to 1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.ml.model import Model


def feature_weights(model: Model) -> dict[str, float]:
    """Feature -> its share of the model's importance, largest first; ``{}`` for a text model or
    a model that does not say (the caller then falls back to the project's feature order)."""
    if model.manifest.get("kind") != "tabular_classification":
        return {}
    raw = _raw_weights(model.classifier)
    owners = _column_owners(model.preprocess)
    if raw is None or owners is None or len(owners) != len(raw):
        return {}
    totals: dict[str, float] = {}
    for owner, weight in zip(owners, raw, strict=True):
        if owner and np.isfinite(weight):
            totals[owner] = totals.get(owner, 0.0) + float(weight)
    whole = sum(totals.values())
    if whole <= 0:
        return {}
    return {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


def _raw_weights(classifier: Any) -> np.ndarray | None:
    try:
        importances = getattr(classifier, "feature_importances_", None)
    except (AttributeError, ValueError):  # an unfitted or linear booster
        importances = None
    if importances is not None:
        found = np.asarray(importances, dtype=float)
        return found.ravel() if found.ndim == 1 else np.abs(found).sum(axis=1)
    coef = getattr(classifier, "coef_", None)
    if coef is None:
        return None
    return np.asarray(np.abs(np.asarray(coef, dtype=float)).sum(axis=0), dtype=float)


def _column_owners(preprocess: Any) -> list[str] | None:
    """The project feature behind each column the preprocessing writes (a ColumnTransformer:
    numeric columns one for one, a one-hot encoder's ``feature_category`` columns by prefix)."""
    indices = getattr(preprocess, "output_indices_", None)
    transformers = getattr(preprocess, "transformers_", None)
    if not indices or transformers is None:
        return None
    width = max((part.stop for part in indices.values()), default=0)
    owners = [""] * width
    for name, transformer, columns in transformers:
        part = indices.get(name)
        if part is None or part.stop <= part.start:
            continue
        features = [str(c) for c in columns]
        if part.stop - part.start == len(features):
            owners[part] = features
            continue
        if not hasattr(transformer, "get_feature_names_out"):
            return None
        written = [str(n) for n in transformer.get_feature_names_out(features)]
        if len(written) != part.stop - part.start:
            return None
        owners[part] = [_prefix_owner(n, features) for n in written]
    return owners


def _prefix_owner(name: str, features: Sequence[str]) -> str:
    """The longest feature whose ``feature_`` prefixes ``name`` (``temp_max_c_high`` is
    ``temp_max_c``'s even when ``temp`` is a feature too)."""
    matches = [f for f in features if name == f or name.startswith(f + "_")]
    return max(matches, key=len) if matches else ""
