"""Agreement statistics against values computed by hand and published examples."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from core.labeling.agreement import (
    agreement,
    alpha_interval,
    cohen_kappa,
    krippendorff_alpha,
    span_matches,
)
from core.labeling.models import Annotation
from core.spans.detect import Span
from core.stats import SEED, resamples_for


def test_cohen_kappa_by_hand() -> None:
    # po = 5/6; pe = (4*3 + 2*3) / 36 = 0.5; kappa = (5/6 - 1/2) / (1/2) = 2/3
    assert cohen_kappa(list("aabbaa"), list("abbbaa")) == pytest.approx(2 / 3)
    assert cohen_kappa(list("aaaa"), list("aaaa")) == 1.0
    assert cohen_kappa(list("ab"), list("ba")) == pytest.approx(-1.0)


def test_krippendorff_alpha_matches_krippendorffs_published_example() -> None:
    """Krippendorff (2011), 'Computing Krippendorff's Alpha-Reliability', nominal example: 0.743."""
    units = {
        1: [1, 1, 1],
        2: [2, 2, 3, 2],
        3: [3, 3, 3, 3],
        4: [3, 3, 3, 3],
        5: [2, 2, 2, 2],
        6: [1, 2, 3, 4],
        7: [4, 4, 4, 4],
        8: [1, 1, 2, 1],
        9: [2, 2, 2, 2],
        10: [5, 5, 5],
        11: [1, 1],
        12: [3],
    }
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha({1: ["a"]}) is None
    assert krippendorff_alpha({1: ["a", "a"], 2: ["a", "a"]}) == 1.0


def test_span_matching() -> None:
    first = [Span(0, 5, "DATE", ""), Span(10, 20, "CONTACT", "")]
    second = [Span(0, 5, "DATE", ""), Span(12, 18, "CONTACT", ""), Span(30, 35, "DATE", "")]
    assert span_matches(first, second, "exact") == 1
    assert span_matches(first, second, "overlap") == 2


def answer(item: str, who: str, label: str, spans: tuple[Span, ...] = ()) -> Annotation:
    return Annotation(
        0, 1, item, who, "labeled", label, spans, False, "", None, "test", datetime(2026, 1, 1)
    )


def test_report_over_annotations() -> None:
    date = Span(0, 4, "DATE", "")
    answers = [
        answer("1", "a", "x", (date,)),
        answer("1", "b", "x", (date,)),
        answer("2", "a", "x"),
        answer("2", "b", "y"),
        answer("3", "a", "y", (date,)),
        answer("3", "b", "y", (Span(1, 4, "DATE", ""),)),
        answer("4", "a", "y"),  # one annotator only: not compared
    ]
    report = agreement(answers, ["x", "y"], groups={"1": "en", "2": "en", "3": "de"})
    assert report.items_compared == 3 and report.disagreements == 1
    (pair,) = report.pairs
    assert (pair.first, pair.second, pair.items) == ("a", "b", 3)
    assert pair.kappa == pytest.approx(cohen_kappa(["x", "x", "y"], ["x", "y", "y"]))
    assert report.alpha_by_class["x"] == pytest.approx(
        report.alpha_by_class["y"]
    )  # binary: same thing
    assert report.span_exact_f1 == pytest.approx(
        2 * 1 / 4
    )  # 4 spans on items 1 and 3, 1 exact match
    assert report.span_overlap_f1 == pytest.approx(2 * 2 / 4)  # item 3's spans overlap
    assert set(report.alpha_by_group) == {"en", "de"}


def test_alpha_interval_is_the_bootstrap_of_alpha_itself() -> None:
    """The vectorised bootstrap equals recomputing alpha on every resample of the items."""
    rng = np.random.default_rng(3)
    units = {
        i: list(rng.choice(["a", "b", "c"], size=int(rng.integers(1, 4)), p=[0.7, 0.2, 0.1]))
        for i in range(120)
    }
    found = alpha_interval(units)
    pairable = [v for v in units.values() if len(v) >= 2]
    n = len(pairable)
    draws = np.random.default_rng(SEED).integers(0, n, (resamples_for(n), n))
    alphas = [krippendorff_alpha({j: pairable[k] for j, k in enumerate(row)}) for row in draws]
    lower, upper = np.quantile(np.asarray(alphas, dtype=float), [0.025, 0.975])
    assert (found.n, found.method) == (n, "bootstrap")
    assert found.lower == pytest.approx(lower, abs=1e-12)
    assert found.upper == pytest.approx(upper, abs=1e-12)
    assert found.lower < krippendorff_alpha(units) < found.upper  # type: ignore[operator]
    assert alpha_interval(units) == found  # seeded: the same evidence, the same interval


def test_alpha_interval_without_pairable_items_is_empty() -> None:
    empty = alpha_interval({1: ["a"], 2: ["b"]})
    assert (empty.n, empty.lower, empty.upper) == (0, None, None)
