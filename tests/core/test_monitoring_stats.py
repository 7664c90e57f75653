"""Drift statistics against SciPy and Evidently's definitions, on the same data.

Evidently's binning is reproduced here in a few lines of NumPy/pandas (its ``get_binned_data``:
Sturges bins of the combined data above 20 distinct reference values, else per value; empty
buckets get 0.0001, or a millionth of the smallest share when that is at most 0.0001)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo

from core.monitoring.drift import window_drift
from core.monitoring.log import LogReader, segment_folders
from core.monitoring.models import Feature, Reference
from core.monitoring.reference import summarize
from core.monitoring.stats import (
    STATISTICS,
    Distribution,
    chi2_p,
    fill_empty,
    ks_at_knots,
    ks_p,
    psi,
    sorted_histogram,
    sturges_edges,
)
from tests.core.test_monitoring_log import write_segment

RNG = np.random.default_rng(7)


def evidently_shares(
    reference: pd.Series, current: pd.Series, numeric: bool
) -> tuple[np.ndarray, np.ndarray]:
    if numeric and reference.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([reference, current]).to_numpy(), bins="sturges")
        r = np.histogram(reference, bins)[0] / len(reference)
        c = np.histogram(current, bins)[0] / len(current)
    else:
        keys = sorted(set(reference.unique()) | set(current.unique()))
        r = np.array([(reference == k).sum() for k in keys]) / len(reference)
        c = np.array([(current == k).sum() for k in keys]) / len(current)
    return r, c


def evidently_psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    r, c = evidently_shares(reference, current, numeric)
    for shares in (r, c):
        smallest = shares[shares != 0].min()
        np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return float(np.sum((r - c) * np.log(r / c)))


SAMPLES = {
    "normal": (lambda n: RNG.normal(0, 1, n), lambda n: RNG.normal(0.3, 1.2, n)),
    "lognormal": (lambda n: RNG.lognormal(0, 1, n), lambda n: RNG.lognormal(0.2, 1, n)),
    "counts": (
        lambda n: RNG.poisson(30, n).astype(float),
        lambda n: RNG.poisson(33, n).astype(float),
    ),
    "few values": (
        lambda n: RNG.integers(0, 6, n).astype(float),
        lambda n: RNG.integers(0, 8, n).astype(float),
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_histogram_of_an_exact_distribution_is_numpys(name: str) -> None:
    make_reference, make_current = SAMPLES[name]
    reference, current = make_reference(3000), make_current(700)
    combined = np.concatenate([reference, current])
    edges = sturges_edges(combined.min(), combined.max(), combined.size)
    assert np.array_equal(edges, np.histogram_bin_edges(combined, bins="sturges"))
    distribution = Distribution.from_values(reference)
    assert distribution.exact
    assert np.array_equal(distribution.histogram(edges), np.histogram(reference, edges)[0])


def test_sturges_edges_of_integer_data_follow_numpy() -> None:
    reference, current = RNG.integers(0, 25, 50_000), RNG.integers(0, 25, 20_000)
    combined = np.concatenate([reference, current])
    edges = sturges_edges(combined.min(), combined.max(), combined.size, integer=True)
    assert np.array_equal(edges, np.histogram_bin_edges(combined, bins="sturges"))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_psi_is_evidentlys(name: str) -> None:
    make_reference, make_current = SAMPLES[name]
    reference, current = make_reference(3000), make_current(700)
    distribution = Distribution.from_values(reference)
    if distribution.knots.size <= 20:
        keys = sorted(set(reference) | set(current))
        r = np.array([(reference == k).sum() for k in keys]) / reference.size
        c = np.array([(current == k).sum() for k in keys]) / current.size
    else:
        combined = np.concatenate([reference, current])
        edges = sturges_edges(combined.min(), combined.max(), combined.size)
        r = distribution.histogram(edges) / reference.size
        c = np.histogram(current, edges)[0] / current.size
    expected = evidently_psi(pd.Series(reference), pd.Series(current), numeric=True)
    assert psi(r, c) == pytest.approx(expected, rel=1e-12)


def test_empty_buckets_get_evidentlys_epsilon() -> None:
    assert fill_empty(np.array([0.5, 0.5, 0.0])).tolist() == [0.5, 0.5, 0.0001]
    tiny = fill_empty(np.array([0.99995, 0.00005, 0.0]))
    assert tiny[2] == pytest.approx(0.00005 / 10**6)


def test_sketch_stays_within_its_error() -> None:
    reference = RNG.normal(0, 1, 100_000)
    distribution = Distribution.from_values(reference, limit=1024)
    assert not distribution.exact
    points = np.linspace(-4, 4, 301)
    truth = np.searchsorted(np.sort(reference), points, side="left")
    assert np.max(np.abs(distribution.count_below(points) - truth)) <= distribution.max_error


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ks_at_the_knots_is_scipys_or_bounds_it(name: str) -> None:
    make_reference, make_current = SAMPLES[name]
    reference, current = make_reference(20_000), make_current(5_000)
    exact = ks_2samp(reference, current, method="asymp")
    for limit in (8192, 512):  # every distinct value, then a sketch of the continuous samples
        distribution = Distribution.from_values(reference, limit=limit)
        result = ks_at_knots(distribution, np.sort(current))
        assert result.statistic <= exact.statistic + 1e-12
        assert exact.statistic <= result.statistic + result.error_bound + 1e-12
        if distribution.exact:
            assert result.error_bound == 0
            assert result.statistic == pytest.approx(exact.statistic, rel=1e-12)
            assert result.p_value == pytest.approx(exact.pvalue, rel=1e-9)
        else:
            assert 0 < result.error_bound < 0.01


def test_sorted_histogram_is_numpys() -> None:
    values = np.sort(RNG.normal(0, 1, 10_000))
    edges = sturges_edges(values[0], values[-1], values.size)
    assert np.array_equal(sorted_histogram(values, edges), np.histogram(values, edges)[0])


@pytest.mark.parametrize("statistic", [0.0021, 0.003, 0.005, 0.01, 0.02, 0.0005, 0.05])
def test_large_sample_p_value_is_scipys(statistic: float) -> None:
    """Above 10,000 values ks_p sums Smirnov's series itself; it agrees with SciPy's."""
    n = 300_000  # effective size 150,000: SciPy's own sum takes ~0.15 s here
    expected = float(kstwo.sf(statistic, 150_000))
    assert ks_p(statistic, n, n) == pytest.approx(expected, rel=1e-10, abs=1e-300)


def test_chi_square_and_jensen_shannon_are_scipys() -> None:
    reference, current = np.array([50.0, 30, 20, 0]), np.array([10.0, 40, 25, 5])
    assert chi2_p(reference, current) == pytest.approx(
        chi2_contingency(np.vstack([reference, current]))[1]
    )
    assert (
        chi2_p(np.array([5.0, 0]), np.array([7.0, 0])) == 1.0
    )  # one category: no evidence of drift
    r, c = evidently_shares(
        pd.Series(["a"] * 5 + ["b"] * 5), pd.Series(["a"] * 2 + ["c"] * 8), False
    )
    assert jensenshannon(r, c) == pytest.approx(
        float(jensenshannon(np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.0, 0.8])))
    )


# --- the contract: every registered statistic, through the real SQL path -------------------


@pytest.fixture(scope="module")
def drift_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("drift")
    n_ref, n_cur = 4000, 1500
    languages = np.array(["en", "de", "fr"], dtype=object)
    words = np.array(
        ["away", "office", "return", "urlaub", "abwesend", "absent", "merci"], dtype=object
    )
    reference = pd.DataFrame(
        {
            "amount": RNG.lognormal(3, 1, n_ref),
            "visits": RNG.poisson(40, n_ref).astype("int64"),
            "language": languages[RNG.choice(3, n_ref, p=[0.9, 0.05, 0.05])],
            "body": [" ".join(words[RNG.choice(3, 6)]) for _ in range(n_ref)],
        }
    )
    current = pd.DataFrame(
        {
            "f_amount": RNG.lognormal(3.05, 1.0, n_cur),
            "f_visits": RNG.poisson(40.4, n_cur).astype("int64"),
            "f_language": languages[RNG.choice(3, n_cur, p=[0.88, 0.07, 0.05])],
            "f_body": [" ".join(words[RNG.choice(7, 6)]) for _ in range(n_cur)],
            "ts": pd.Timestamp("2026-08-03 09:00"),
            "prediction": "x",
        }
    )
    folder, _ = segment_folders(root, "p")
    write_segment(folder, current.iloc[:700])
    write_segment(folder, current.iloc[700:])
    features = [
        Feature("amount", "amount", "numeric"),
        Feature("visits", "visits", "numeric", integer=True),
        Feature("language", "language", "category"),
        Feature("body.length", "body", "numeric", integer=True),
        Feature("body", "body", "vocabulary"),
    ]
    with duckdb.connect() as con:
        con.register("reference_rows", reference)
        stats = summarize(con, "reference_rows", features)
    with LogReader(root, "p") as reader:
        results = window_drift(
            reader,
            "time_bucket(INTERVAL '1 day', ts)",
            [datetime(2026, 8, 3)],
            Reference(0, "p", None, None, n_ref, 0, {}, stats),
        )
    found = {r.feature: r for r in results[datetime(2026, 8, 3)]}
    return {"reference": reference, "current": current, "found": found}


EXPECTED = {
    "psi": lambda r, c, numeric: evidently_psi(r, c, numeric),
    "js": lambda r, c, numeric: float(jensenshannon(*evidently_shares(r, c, numeric))),
    "ks": lambda r, c, numeric: float(ks_2samp(r, c, method="asymp").statistic),
    "ks_p": lambda r, c, numeric: float(ks_2samp(r, c, method="asymp").pvalue),
    "chi2_p": lambda r, c, numeric: float(
        chi2_contingency(
            pd.crosstab(np.r_[np.zeros(len(r)), np.ones(len(c))], np.r_[r, c]).to_numpy()
        )[1]
    ),
}


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
def test_every_statistic_through_sql_matches_scipy(
    statistic: str, drift_case: dict[str, object]
) -> None:
    reference = drift_case["reference"]
    current = drift_case["current"]
    found = drift_case["found"]
    assert isinstance(reference, pd.DataFrame) and isinstance(current, pd.DataFrame)
    assert isinstance(found, dict)
    spec = STATISTICS[statistic]
    checked = 0
    for feature, result in found.items():
        if result.kind not in spec.applies_to and not (
            spec.applies_to == ("text",) and result.kind == "vocabulary"
        ):
            continue
        checked += 1
        if statistic == "novelty":
            known = {t for text in reference["body"] for t in text.split()}
            tokens = [t for text in current["f_body"] for t in text.split()]
            assert result.statistics["novelty"] == pytest.approx(
                np.mean([t not in known for t in tokens])
            )
            continue
        if feature.endswith(".length"):
            r = reference["body"].str.len().astype(float)
            c = current["f_body"].str.len().astype(float)
        else:
            r, c = reference[feature], current[f"f_{feature}"]
        numeric = result.kind == "numeric"
        expected = EXPECTED[statistic](r, c, numeric)
        tolerance = result.statistics.get("ks_error", 0.0) if statistic == "ks" else 0.0
        if statistic == "ks_p" and result.statistics["ks_error"] > 0:
            continue  # a binned statistic's p-value: covered by the statistic's bound
        assert expected - 1e-9 <= result.statistics[statistic] + tolerance
        assert result.statistics[statistic] == pytest.approx(
            expected, rel=1e-9, abs=tolerance + 1e-12
        )
    assert checked, f"no feature exercised {statistic}"
