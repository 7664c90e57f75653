"""Estimated performance (CBPE) on data whose accuracy is known, and the SQL twin of the NumPy
calibration."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_fscore_support

from core.monitoring import figures as fig
from core.monitoring.estimate import (
    apply_calibration,
    calibrated_sql,
    fit_calibration,
    metrics_from_confusion,
)
from core.monitoring.log import LogReader, segment_folders
from core.monitoring.models import Reference
from core.projects.spec import parse_spec
from tests.core.test_monitoring_log import write_segment

RNG = np.random.default_rng(11)


def spec_for(classes: list[str], positive: str | None = None):  # type: ignore[no-untyped-def]
    return parse_spec(
        {
            "name": "toy",
            "kind": "tabular_classification",
            "data": {
                "id": "id",
                "columns": [{"name": "id", "type": "string"}, {"name": "x", "type": "number"}],
                "features": ["x"],
            },
            "labels": {"classes": classes, **({"positive": positive} if positive else {})},
            "split": {"method": "hash", "key": "id"},
        }
    )


def calibrated_binary(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that are calibrated by construction, and labels drawn from them."""
    positive = RNG.beta(0.7, 0.7, n)
    truth = RNG.random(n) < positive
    return np.column_stack([positive, 1 - positive]), np.where(truth, "yes", "no")


def overconfident(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities[:, 0], 1e-6, 1 - 1e-6)
    sharp = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))
    return np.column_stack([sharp, 1 - sharp])


def estimate(
    tmp_path: Path,
    probabilities: np.ndarray,
    classes: list[str],
    calibration: dict[str, np.ndarray],
    positive: str | None,
) -> dict[str, float]:
    folder, _ = segment_folders(tmp_path, "toy")
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp("2026-08-01 12:00"),
            "request_id": [f"r{i}" for i in range(len(probabilities))],
            "model_id": "7",
            "prediction": predicted,
            **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)},
        }
    )
    write_segment(folder, frame)
    figures: fig.Figures = defaultdict(dict)
    reference = Reference(7, "toy", None, None, 0, 0, {}, {}, calibration)
    with LogReader(tmp_path, "toy") as reader:
        reader.con.execute(
            "CREATE TEMP VIEW chosen AS SELECT time_bucket(INTERVAL '1 day', ts) AS w, * FROM predictions"
        )
        fig.estimated(reader, spec_for(classes, positive), {"7": reference}, {}, figures)
    (window,) = figures
    return {metric: value for (metric, _), (value, _, _) in figures[window].items()}


def test_estimate_of_a_calibrated_model_is_its_expected_accuracy(tmp_path: Path) -> None:
    probabilities, truth = calibrated_binary(20_000)
    found = estimate(tmp_path, probabilities, ["yes", "no"], {}, "yes")
    expected = float(np.mean(probabilities.max(axis=1)))
    assert found["estimated.accuracy"] == pytest.approx(expected, rel=1e-9)
    realized = float(np.mean(np.where(probabilities[:, 0] >= 0.5, "yes", "no") == truth))
    assert found["estimated.accuracy"] == pytest.approx(realized, abs=0.015)
    predicted_yes = probabilities[:, 0] >= 0.5
    assert found["estimated.precision.yes"] == pytest.approx(
        float(np.mean(truth[predicted_yes] == "yes")), abs=0.02
    )
    assert found["estimated.recall.yes"] == pytest.approx(
        float(np.mean(predicted_yes[truth == "yes"])), abs=0.02
    )


def test_calibration_corrects_an_overconfident_model(tmp_path: Path) -> None:
    reference_p, reference_truth = calibrated_binary(5_000)
    probabilities, truth = calibrated_binary(20_000)
    curves = fit_calibration(
        overconfident(reference_p), list(reference_truth), ["yes", "no"], "yes"
    )
    assert set(curves) == {"yes"}
    realized = float(np.mean(np.where(probabilities[:, 0] >= 0.5, "yes", "no") == truth))
    raw = estimate(tmp_path / "raw", overconfident(probabilities), ["yes", "no"], {}, "yes")
    fixed = estimate(tmp_path / "fixed", overconfident(probabilities), ["yes", "no"], curves, "yes")
    assert abs(raw["estimated.accuracy"] - realized) > 0.05  # overconfidence overstates accuracy
    assert fixed["estimated.accuracy"] == pytest.approx(realized, abs=0.02)


@pytest.mark.parametrize("classes", [["yes", "no"], ["a", "b", "c"]])
def test_sql_calibration_is_the_numpy_one(classes: list[str]) -> None:
    probabilities = RNG.dirichlet(np.ones(len(classes)), 500)
    truth = np.asarray(classes, dtype=object)[RNG.integers(0, len(classes), 500)]
    curves = fit_calibration(probabilities, list(truth), classes, None)
    columns, params = calibrated_sql(classes, curves, None, "cal")
    with duckdb.connect() as con:
        con.register(
            "t", pd.DataFrame({f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)})
        )
        sql = np.array(con.execute(f"SELECT {', '.join(columns)} FROM t", params).fetchall())
    assert np.allclose(sql, apply_calibration(probabilities, classes, curves, None), atol=1e-12)


def test_realized_metrics_are_sklearns() -> None:
    classes = ["a", "b", "c"]
    truth, predicted = RNG.integers(0, 3, 400), RNG.integers(0, 3, 400)
    matrix = np.zeros((3, 3))
    np.add.at(matrix, (truth, predicted), 1)
    found = metrics_from_confusion(matrix, classes)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=[0, 1, 2], zero_division=0
    )
    assert found["accuracy"] == pytest.approx(float(np.mean(truth == predicted)))
    for i, name in enumerate(classes):
        assert found[f"precision.{name}"] == pytest.approx(precision[i])
        assert found[f"recall.{name}"] == pytest.approx(recall[i])
        assert found[f"f1.{name}"] == pytest.approx(f1[i])
