"""A stored reference reads back as it was written (core/monitoring/reference.py).

Knots and counts go into the store as Arrow arrays and come back as NumPy arrays; this checks the
round trip on a real workspace: a sketch, an exact distribution, an empty one, categories with
their counts, a vocabulary with details, and a calibration curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.actor import Actor
from core.monitoring.models import Feature, FeatureReference, Reference
from core.monitoring.reference import find_reference, store_reference
from core.monitoring.stats import Distribution
from core.store import Workspace


def _reference() -> Reference:
    rng = np.random.default_rng(7)
    sketch = Distribution.from_values(rng.normal(size=20_000), limit=256)
    exact = Distribution.from_values(rng.poisson(3, 500).astype(float))
    empty = Distribution.from_values(np.array([np.nan]))
    features = {
        "x": FeatureReference(Feature("x", "x", "numeric"), sketch.n, 3, sketch),
        "k": FeatureReference(Feature("k", "k", "numeric", integer=True), exact.n, 0, exact),
        "gone": FeatureReference(Feature("gone", "gone", "numeric"), 0, 9, empty),
        "lang": FeatureReference(
            Feature("lang", "lang", "category"),
            60,
            1,
            categories={"de": 40.0, "en": 15.0, "fr": 5.0},
            details={"kept": 3},
        ),
        "body": FeatureReference(
            Feature("body", "body", "vocabulary"),
            7,
            0,
            categories={"screen": 4.0, "écran": 3.0},
            details={"tokens": 7, "types": 2, "held_out_novelty": 0.25},
        ),
    }
    return Reference(
        model_id=3,
        project="p",
        dataset_id=1,
        label_set_id=2,
        rows=20_000,
        labeled_rows=100,
        evaluation={"": {"accuracy": 0.9}},
        features=features,
        calibration={"yes": np.linspace(0.0, 1.0, 11)},
    )


def test_a_reference_reads_back_as_written(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    written = _reference()
    with ws.store.transaction() as tx:
        store_reference(tx, written, Actor("ana", "test"))
    with ws.store.read() as tx:
        found = find_reference(tx, 3)
    assert found is not None
    assert list(found.features) == list(written.features)
    for name in ("x", "k", "gone"):
        want, got = written.features[name], found.features[name]
        assert (got.n, got.missing, got.feature) == (want.n, want.missing, want.feature)
        assert want.distribution is not None and got.distribution is not None
        for part in ("knots", "below", "upto"):
            np.testing.assert_array_equal(
                getattr(got.distribution, part), getattr(want.distribution, part)
            )
        assert got.distribution.exact == want.distribution.exact
    assert not found.features["x"].distribution.exact  # type: ignore[union-attr]
    assert found.features["lang"].categories == {"de": 40.0, "en": 15.0, "fr": 5.0}
    assert found.features["lang"].details == {"kept": 3}
    assert found.features["body"].categories == {"screen": 4.0, "écran": 3.0}
    assert found.features["body"].details["held_out_novelty"] == 0.25
    np.testing.assert_array_equal(found.calibration["yes"], np.linspace(0.0, 1.0, 11))
    assert found.rows == 20_000 and found.evaluation == {"": {"accuracy": 0.9}}


def test_storing_again_replaces_the_earlier_reference(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    first = _reference()
    second = Reference(
        model_id=3,
        project="p",
        dataset_id=1,
        label_set_id=2,
        rows=5,
        labeled_rows=0,
        evaluation={},
        features={"lang": first.features["lang"]},
    )
    with ws.store.transaction() as tx:
        store_reference(tx, first, Actor("ana", "test"))
        store_reference(tx, second, Actor("ana", "test"))
    with ws.store.read() as tx:
        found = find_reference(tx, 3)
        assert find_reference(tx, 4) is None
    assert found is not None and list(found.features) == ["lang"] and found.rows == 5
    assert found.calibration == {}
