"""The paired bootstrap of a comparison measures every metric on each block of resamples at once;
its intervals and deltas are exactly those of the per-resample, per-metric bootstrap it replaced
(kept here as the reference): the same draws, the same counts, the same divisions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from core.registry import compare
from core.registry.compare import confusion_metrics, paired_differences
from core.stats import Interval, bootstrap


def reference(
    truth: np.ndarray, a: np.ndarray, b: np.ndarray, classes: Sequence[str]
) -> list[tuple[str, Interval, float]]:
    """The former implementation: one bootstrap per metric, two confusion tables per resample."""
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


def rare_class_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """40 items of 4 classes: "rare" is true of one item only (absent from about a third of the
    resamples) and never predicted by b (its precision's denominator is 0), "never" is neither
    true nor predicted (every denominator 0); a and b agree on most items (ties, deltas of 0)."""
    truth = np.array([0] * 20 + [1] * 19 + [2])
    a = truth.copy()
    a[[0, 1, 2, 20, 21]] = [1, 1, 2, 0, 2]
    b = a.copy()
    b[[3, 22, 39]] = [1, 0, 0]
    return truth, a, b, ["common", "other", "rare", "never"]


def random_case(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    a = np.where(rng.random(n) < 0.8, truth, rng.integers(0, k, n))
    b = np.where(rng.random(n) < 0.75, truth, rng.integers(0, k, n))
    return truth, a, b, [f"c{i}" for i in range(k)]


CASES = {
    "a rare class, an absent one, ties": rare_class_case(),
    "two classes, 15 items": random_case(15, 2, 1),
    "nine classes (macro F1 over more than 8)": random_case(120, 9, 2),
    "three classes, 2,500 items": random_case(2_500, 3, 3),
}


@functools.cache
def expected_of(case: str) -> list[tuple[str, Interval, float]]:
    return reference(*CASES[case])


@pytest.mark.parametrize("one_hot", [True, False], ids=["one-hot product", "bincount per row"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_intervals_are_exactly_those_of_the_per_resample_bootstrap(
    case: str, one_hot: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not one_hot:  # the path taken when the one-hot matrix would be too big (many classes)
        monkeypatch.setattr(compare, "ONE_HOT_LIMIT", 0)
    truth, a, b, classes = CASES[case]
    found = paired_differences(truth, a, b, classes)
    expected = expected_of(case)
    assert [m for m, _, _ in found] == [m for m, _, _ in expected]
    for (metric, interval, delta), (_, want, want_delta) in zip(found, expected, strict=True):
        assert (interval, delta) == (want, want_delta), metric  # equal to the last bit
        assert isinstance(delta, float)


def test_the_rare_case_has_the_edges_it_claims() -> None:
    truth, a, b, classes = rare_class_case()
    found = {m: (i, d) for m, i, d in paired_differences(truth, a, b, classes)}
    assert found["precision.never"][0] == Interval(40, 0.0, 0.0, "bootstrap")  # 0 where undefined
    assert found["recall.rare"][1] == 1.0  # a finds the rare item, b does not
    interval = found["recall.rare"][0]
    assert interval.lower == 0.0 and interval.upper == 1.0  # resamples without it: 0 - 0


def test_no_items_give_no_interval_and_no_difference() -> None:
    empty = np.zeros(0, dtype=int)
    for _, interval, delta in paired_differences(empty, empty, empty, ["no", "yes"]):
        assert (interval.lower, interval.upper, delta) == (None, None, 0.0)
