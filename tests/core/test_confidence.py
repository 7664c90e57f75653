"""core.stats against SciPy and NumPy references: Wilson intervals, the percentile bootstrap, and
the multinomial bootstrap of confusion-matrix figures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from core import stats


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (1, 2), (2, 2), (0, 10), (7, 10), (10, 10), (33, 120), (9001, 11478)]
)
def test_wilson_is_scipys_wilson_interval(k: int, n: int) -> None:
    expected = scipy_stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    got = stats.wilson(k, n)
    assert got.n == n and got.method == "wilson"
    assert got.lower == pytest.approx(expected.low, abs=1e-12)
    assert got.upper == pytest.approx(expected.high, abs=1e-12)


def test_wilson_at_other_confidence_levels_is_scipys() -> None:
    for level in (0.8, 0.9, 0.99):
        expected = scipy_stats.binomtest(12, 40).proportion_ci(level, method="wilson")
        got = stats.wilson(12, 40, level)
        assert (got.lower, got.upper) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_of_nothing_has_no_interval() -> None:
    assert stats.wilson(0, 0) == stats.Interval(0, None, None, "wilson")
    assert stats.wilson(0, 0).text() == "n = 0, no interval"


def test_a_rate_of_two_is_wide_and_says_so() -> None:
    two = stats.wilson_rate(1.0, 2)
    assert two.lower == pytest.approx(0.3424, abs=1e-4) and two.upper == 1.0
    assert two.text() == "n = 2, 95% CI 0.342–1.000"


def _numpy_percentile_bootstrap(data: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = [data[rng.integers(0, len(data), len(data))].mean() for _ in range(resamples)]
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def test_the_bootstrap_is_the_numpy_percentile_bootstrap_draw_for_draw() -> None:
    data = np.random.default_rng(1).gamma(2.0, 3.0, 400)
    got = stats.bootstrap_mean(data, seed=7, resamples=500)
    assert (got.lower, got.upper) == _numpy_percentile_bootstrap(data, 500, 7)
    assert got.n == 400 and got.method == "bootstrap"


def test_the_bootstrap_agrees_with_scipys_percentile_bootstrap() -> None:
    data = np.random.default_rng(2).normal(10.0, 2.0, 600)
    reference = scipy_stats.bootstrap(
        (data,), np.mean, n_resamples=4000, method="percentile", random_state=3
    ).confidence_interval
    got = stats.bootstrap_mean(data, resamples=1000)
    assert got.lower == pytest.approx(reference.low, abs=0.04)
    assert got.upper == pytest.approx(reference.high, abs=0.04)


def test_the_bootstrap_is_seeded_and_bounded() -> None:
    data = np.arange(50_000, dtype=float)
    assert stats.bootstrap_mean(data[:100]) == stats.bootstrap_mean(data[:100])
    assert stats.resamples_for(100) == 1000
    assert stats.resamples_for(50_000) == 200
    assert stats.resamples_for(5_000) == 400


def test_a_latency_percentile_interval_covers_the_percentile() -> None:
    timings = np.random.default_rng(4).lognormal(1.0, 0.5, 2000)
    got = stats.bootstrap_quantile(timings, 95)
    assert got.lower is not None and got.upper is not None
    assert got.lower < float(np.percentile(timings, 95)) < got.upper


def test_confusion_figures_use_their_own_denominators() -> None:
    confusion = np.array([[50, 10], [5, 35]])  # rows true, columns predicted
    got = stats.confusion_intervals(confusion, ["a", "b"])
    assert got["accuracy"] == stats.wilson(85, 100)
    assert got["precision.b"] == stats.wilson(35, 45)  # predicted b
    assert got["recall.b"] == stats.wilson(35, 40)  # truly b
    f1 = got["f1.b"]
    assert f1.n == 100 and f1.lower is not None and f1.upper is not None
    assert f1.lower < 2 * 35 / (2 * 35 + 15) < f1.upper


def test_the_table_bootstrap_matches_an_item_bootstrap_of_f1() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 3000)
    predicted = np.where(rng.random(3000) < 0.8, truth, rng.integers(0, 3, 3000))
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (truth, predicted), 1)
    table = stats.bootstrap_counts(confusion, stats.f1_macro_of, resamples=1000)

    def item_f1(picks: np.ndarray) -> float:
        matrix = np.zeros((3, 3))
        np.add.at(matrix, (truth[picks], predicted[picks]), 1)
        return stats.f1_macro_of(matrix)

    items = stats.bootstrap(item_f1, 3000, resamples=1000, seed=9)
    assert table.lower == pytest.approx(items.lower, abs=0.006)
    assert table.upper == pytest.approx(items.upper, abs=0.006)


def test_alpha_over_resampled_units_covers_the_alpha_of_the_units() -> None:
    from core.labeling.agreement import krippendorff_alpha

    rng = np.random.default_rng(6)
    truth = rng.integers(0, 3, 300)
    units = [
        [int(t) if rng.random() < 0.85 else int(rng.integers(0, 3)) for _ in range(2)]
        for t in truth
    ]
    alpha = krippendorff_alpha(dict(enumerate(units)))
    got = stats.bootstrap_units(units, krippendorff_alpha, resamples=200)
    assert alpha is not None and got.lower is not None and got.upper is not None
    assert got.n == 300 and got.lower < alpha < got.upper and got.upper - got.lower < 0.2


def _sklearn_statistic(name: str, y: np.ndarray, probs: np.ndarray, picks: np.ndarray) -> float:
    """The per-resample figure as scikit-learn measures it (what the weighted forms replace)."""
    from sklearn.metrics import log_loss, roc_auc_score

    from core.ml.evaluate import expected_calibration_error

    truth, p = y[picks], probs[picks]
    if name == "calibration_error":
        return float(expected_calibration_error(truth, p))
    if name == "log_loss":
        clipped = np.clip(p, 1e-7, 1)
        normed = clipped / clipped.sum(axis=1, keepdims=True)
        return float(log_loss(truth, normed, labels=range(p.shape[1])))
    present = sorted(set(truth.tolist()))
    if p.shape[1] == 2:
        return float(roc_auc_score(truth == 1, p[:, 1])) if len(present) == 2 else float("nan")
    if len(present) < 3:
        return float("nan")
    scores = p[:, present] / np.clip(p[:, present].sum(axis=1, keepdims=True), 1e-9, None)
    return float(roc_auc_score(truth, scores, multi_class="ovr", labels=present))


@pytest.mark.parametrize("name", ["roc_auc", "log_loss", "calibration_error"])
@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_weighted_bootstrap_figures_are_scikit_learns_resample_for_resample(
    name: str, n_classes: int
) -> None:
    from core.requirements.confidence import _WEIGHTED

    rng = np.random.default_rng(n_classes)
    n = 60  # small, so some resamples lack a class (the multiclass AUC then changes its classes)
    y = rng.integers(0, n_classes, n)
    y[:2] = n_classes - 1  # the last class is rare
    y[np.flatnonzero(y == n_classes - 1)[2:]] = 0
    raw = rng.random((n, n_classes)) + np.eye(n_classes)[y] * rng.random(n)[:, None]
    probs = np.round(raw / raw.sum(axis=1, keepdims=True), 2)  # rounded: ties in the scores
    measure = _WEIGHTED[name](y, probs, n_classes)
    draws = np.random.default_rng(7)
    picks = [draws.integers(0, n, n) for _ in range(40)]
    weights = np.stack([np.bincount(p, minlength=n) for p in picks]).astype(float)
    got = measure(weights)
    expected = [_sklearn_statistic(name, y, probs, p) for p in picks]
    assert any(not (y[p] == n_classes - 1).any() for p in picks)  # a class missing: NaN or
    # (four classes) an AUC over the three left
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_bootstrap_weights_are_the_bootstraps_draws() -> None:
    data = np.random.default_rng(3).normal(size=37)
    reference = stats.bootstrap_mean(data, resamples=120)
    blocks = list(stats.bootstrap_weights(len(data), resamples=120, chunk=50))
    assert [len(b) for b in blocks] == [50, 50, 20]
    means = np.concatenate([b @ data / len(data) for b in blocks])
    assert stats.interval_of(means, len(data)) == reference


@pytest.mark.parametrize(
    "table",
    [
        [[50, 3, 2], [4, 30, 6], [1, 2, 9]],
        [[5, 0, 0], [0, 0, 0], [1, 0, 2]],  # a class neither true nor predicted
        [[1, 0], [0, 0]],  # tiny: many draws lack the second class
    ],
)
def test_confusion_f1_intervals_are_the_table_bootstrap_of_f1(table: list[list[int]]) -> None:
    confusion = np.asarray(table, dtype=float)
    names = [f"c{i}" for i in range(len(table))]
    got = stats.confusion_intervals(confusion, names)
    for index, name in enumerate(names):
        if f"f1.{name}" in got:
            expected = stats.bootstrap_counts(
                confusion, lambda t, i=index: stats.f1_of(t, i), resamples=400
            )
            assert _same(got[f"f1.{name}"], expected)
    assert _same(
        got["f1_macro"], stats.bootstrap_counts(confusion, stats.f1_macro_of, resamples=400)
    )


def _same(a: stats.Interval, b: stats.Interval) -> bool:
    ends = [(a.lower, b.lower), (a.upper, b.upper)]
    close = all(x == y or (x is not None and y is not None and abs(x - y) < 1e-12) for x, y in ends)
    return close and (a.n, a.method) == (b.n, b.method)
