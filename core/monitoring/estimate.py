"""Performance from confusion matrices: realized (feedback) and estimated (before feedback).

The estimate is confidence-based performance estimation as NannyML's CBPE does it: calibrate the
model's probabilities on labeled reference data (isotonic regression, one-vs-rest per class; for
two classes only the positive class, the other is its complement; several classes are normalized
to sum to one), then the **expected confusion matrix** of a window is, for every predicted class j,
the sum over its predictions of the calibrated probability of each true class i. Accuracy,
precision, recall and F1 follow from it exactly as from a realized confusion matrix.

In the log the calibration runs in SQL (a curve sampled at 101 points, linear in between), so a
window's estimate needs one aggregate query, not the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.monitoring.log import PROBABILITY_PREFIX, quote

GRID = 100  # calibration curves are sampled at GRID + 1 points over [0, 1]
MIN_CALIBRATION = 100  # fewer labeled reference rows: the probabilities are used as they are


def calibration_targets(classes: Sequence[str], positive: str | None) -> list[str]:
    if len(classes) == 2:
        return [positive if positive is not None and positive in classes else classes[1]]
    return list(classes)


def fit_calibration(
    probabilities: np.ndarray, truth: Sequence[str], classes: Sequence[str], positive: str | None
) -> dict[str, np.ndarray]:
    """Isotonic calibration curve per class, sampled on the grid; {} with too few rows."""
    from sklearn.isotonic import IsotonicRegression

    if len(truth) < MIN_CALIBRATION:
        return {}
    grid = np.linspace(0.0, 1.0, GRID + 1)
    labels = np.asarray(truth, dtype=object)
    curves: dict[str, np.ndarray] = {}
    for name in calibration_targets(classes, positive):
        index = list(classes).index(name)
        target = (labels == name).astype(float)
        if target.min() == target.max():
            continue  # one outcome only: nothing to calibrate against
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(probabilities[:, index], target)
        curves[name] = np.asarray(model.predict(grid), dtype=float)
    return curves


def apply_calibration(
    probabilities: np.ndarray,
    classes: Sequence[str],
    calibration: Mapping[str, np.ndarray],
    positive: str | None,
) -> np.ndarray:
    """The NumPy twin of :func:`calibrated_sql` (tests hold the two to each other)."""
    p = np.clip(np.nan_to_num(np.asarray(probabilities, dtype=float)), 0.0, 1.0)
    grid = np.linspace(0.0, 1.0, GRID + 1)
    out = p.copy()
    for name, curve in calibration.items():
        index = list(classes).index(name)
        out[:, index] = np.interp(p[:, index], grid, curve)
    if len(classes) == 2:
        target = list(classes).index(calibration_targets(classes, positive)[0])
        out[:, 1 - target] = 1.0 - out[:, target]
        return np.asarray(out)
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / len(classes))
    return np.asarray(np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform))


def calibrated_sql(
    classes: Sequence[str], calibration: Mapping[str, np.ndarray], positive: str | None, tag: str
) -> tuple[list[str], dict[str, list[float]]]:
    """SQL expressions of each class's calibrated probability, and their named parameters."""
    params: dict[str, list[float]] = {}
    raw: list[str] = []
    for index, name in enumerate(classes):
        p = f"least(greatest(coalesce(CAST({quote(PROBABILITY_PREFIX + name)} AS DOUBLE), 0), 0), 1)"
        if name in calibration:
            key = f"{tag}_{index}"
            params[key] = [float(v) for v in calibration[name]]
            i = f"least(floor({p} * {GRID})::INTEGER, {GRID - 1})"
            raw.append(
                f"(${key}[{i} + 1] + (${key}[{i} + 2] - ${key}[{i} + 1]) * ({p} * {GRID} - {i}))"
            )
        else:
            raw.append(p)
    if len(classes) == 2:
        target = list(classes).index(calibration_targets(classes, positive)[0])
        out = list(raw)
        out[1 - target] = f"(1 - {raw[target]})"
        return out, params
    total = " + ".join(raw)
    k = len(classes)
    return [
        f"CASE WHEN ({total}) > 0 THEN {expr} / ({total}) ELSE {1.0 / k} END" for expr in raw
    ], params


def denominators_from_confusion(
    matrix: np.ndarray, classes: Sequence[str], prefix: str = ""
) -> dict[str, float]:
    """What each per-class rate is a share of, as figures of their own: ``support.<class>`` (items
    truly of the class: recall's denominator) and ``predicted.<class>`` (precision's). The
    status query reads them as those rates' n, for their confidence intervals."""
    out: dict[str, float] = {}
    for index, name in enumerate(classes):
        true_count, predicted = float(matrix[index].sum()), float(matrix[:, index].sum())
        if true_count > 0 or predicted > 0:
            out[f"{prefix}support.{name}"] = true_count
            out[f"{prefix}predicted.{name}"] = predicted
    return out


def metrics_from_confusion(
    matrix: np.ndarray, classes: Sequence[str], prefix: str = ""
) -> dict[str, float]:
    """Accuracy, macro F1 and per-class precision / recall / F1 from a (true × predicted) matrix
    of counts or expected counts; classes never seen nor predicted are left out."""
    total = float(matrix.sum())
    if total <= 0:
        return {}
    out = {f"{prefix}accuracy": float(np.trace(matrix) / total)}
    f1s = []
    for index, name in enumerate(classes):
        true_count, predicted = float(matrix[index].sum()), float(matrix[:, index].sum())
        hit = float(matrix[index, index])
        precision = hit / predicted if predicted > 0 else 0.0
        recall = hit / true_count if true_count > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        f1s.append(f1)
        if true_count > 0 or predicted > 0:
            out[f"{prefix}precision.{name}"] = precision
            out[f"{prefix}recall.{name}"] = recall
            out[f"{prefix}f1.{name}"] = f1
    out[f"{prefix}f1_macro"] = float(np.mean(f1s))
    return out
