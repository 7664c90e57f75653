"""Monitoring reads like a report: drift ranked by the rule that ticks it, each figure with its
window, n and interval (too few labels said so), alerts and their labeling tasks as sentences."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from scipy.stats import binomtest

from core.monitoring.dashboard import Dashboard
from core.monitoring.incidents import group_alerts
from core.monitoring.loop import task_name
from core.monitoring.models import Alert, count
from core.monitoring.ranking import COLUMN_HELP, RULE, drifted, ranked, score, table_rows

ROWS = [
    # a large PSI on a handful of rows: its KS test does not reject, so it is no drift
    {"feature": "temp_mean_c", "n": 9, "psi": 2.9, "ks": 0.4, "ks_p": 0.31},
    {"feature": "reboot_count", "n": 400, "psi": 0.62, "ks": 0.2, "ks_p": 1e-9},
    {"feature": "firmware_version", "n": 400, "psi": 1.7, "chi2_p": 1e-30},
    {"feature": "uptime_hours", "n": 400, "psi": 0.04, "ks": 0.03, "ks_p": 0.6},
    {"feature": "region", "n": 400, "psi": 0.12, "chi2_p": 0.02},
    {"feature": "body", "n": 5000, "novelty": 0.31, "novelty_reference": 0.05},
]


def test_every_ticked_feature_ranks_above_every_unticked_one() -> None:
    order = ranked(ROWS)
    assert [r["feature"] for r in order] == [
        "firmware_version",
        "reboot_count",
        "body",
        "region",
        "temp_mean_c",
        "uptime_hours",
    ]
    ticks = [r["drifted"] for r in order]
    assert ticks == sorted(ticks, reverse=True)  # no unticked feature above a ticked one
    # the highest PSI (2.9, not significant) is neither ticked nor ranked above a real shift
    noisy = next(r for r in order if r["feature"] == "temp_mean_c")
    assert noisy["score"] == 0.0 and not noisy["drifted"] and noisy["p"] == 0.31
    assert score(ROWS[5]) == pytest.approx(0.26) and drifted(ROWS[5])


def test_equal_scores_rank_by_significance_then_psi() -> None:
    rows = [
        {"feature": "a", "n": 50, "psi": 0.3, "ks_p": 0.9},
        {"feature": "b", "n": 50, "psi": 0.5, "ks_p": 0.2},
        {"feature": "c", "n": 50, "psi": 0.1, "ks_p": 0.01},
    ]
    assert [r["feature"] for r in ranked(rows)] == ["c", "b", "a"]


def test_the_drift_table_names_its_test_and_explains_every_column() -> None:
    table = table_rows(ROWS)
    assert list(table[0]) == [
        "feature",
        "score",
        "drifted",
        "n",
        "psi",
        "p",
        "test",
        "js",
        "ks",
        "novelty",
    ]
    tests = {r["feature"]: r["test"] for r in table}
    assert tests == {
        "firmware_version": "χ²",
        "reboot_count": "KS",
        "body": None,
        "region": "χ²",
        "temp_mean_c": "KS",
        "uptime_hours": "KS",
    }
    assert set(COLUMN_HELP) == set(table[0]) and all(COLUMN_HELP.values())
    assert "p < 0.05" in RULE and "KS" in RULE and "χ²" in RULE


def _dashboard(accuracy: list[float], labels: list[int], grain: str = "week") -> Dashboard:
    index = pd.to_datetime(["2026-09-07", "2026-09-14", "2026-09-21"][: len(accuracy)])
    overall = pd.DataFrame({"accuracy": accuracy, "volume": [500.0] * len(accuracy)}, index=index)
    counts = pd.DataFrame(
        {"accuracy": labels, "volume": [500] * len(accuracy)}, index=index, dtype=float
    )
    return Dashboard(
        "p", grain, (grain,), (1,), overall, pd.DataFrame(), pd.DataFrame(), (), (), (), counts
    )


def test_the_headline_names_its_window_n_and_wilson_interval() -> None:
    figure = _dashboard([0.95, 193 / 212], [120, 212]).figure("accuracy")
    assert figure.window == datetime(2026, 9, 14) and figure.when == "week of 2026-09-14"
    assert figure.n == 212 and figure.minimum == 30 and figure.enough
    reference = binomtest(193, 212).proportion_ci(method="wilson")
    assert figure.interval is not None
    assert figure.interval.lower == pytest.approx(reference.low, abs=1e-9)
    assert figure.interval.upper == pytest.approx(reference.high, abs=1e-9)
    assert figure.range_text() == f"95% CI {reference.low:.3f}–{reference.high:.3f}"


def test_too_few_labels_are_not_a_headline() -> None:
    figure = _dashboard([0.95, 1.0], [120, 2]).figure("accuracy")
    assert figure.value == 1.0 and figure.n == 2 and not figure.enough  # never "1.000" alone
    assert _dashboard([1.0], [2], grain="day").figure("accuracy").when == "2026-09-07"
    assert _dashboard([0.9], [40]).figure("accuracy", minimum=50).enough is False


def _alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": 12,
        "project": "ooo-replies",
        "rule": "ML-3: accuracy on language = de",
        "metric": "accuracy",
        "slice": "language = de",
        "grain": "week",
        "comparator": "<",
        "threshold": 0.8716,
        "reference": None,
        "severity": "critical",
        "status": "open",
        "active": True,
        "first_window": datetime(2026, 8, 10),
        "last_window": datetime(2026, 8, 17),
        "windows": 2,
        "value": 0.8462,
        "n": 39,
        "model_id": 7,
        "artifact_id": 40,
        "evidence": {},
        "created_at": datetime(2026, 8, 31),
        "updated_at": datetime(2026, 8, 31),
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def test_alerts_and_their_tasks_read_as_sentences() -> None:
    alert = _alert()
    assert alert.sentence() == (
        "realized accuracy on language = de was 0.846 in 2 week windows from 2026-08-10, below "
        "0.8716"
    )
    single = _alert(windows=1, comparator="drop", threshold=0.05, reference=0.92, slice="")
    assert single.sentence() == (
        "realized accuracy was 0.846 in the week of 2026-08-10, more than 0.05 below the model's "
        "evaluated 0.92"
    )
    assert task_name(alert, 1) == (
        "Label 1 live item the model was least sure of: realized accuracy on language = de was "
        "0.846 in 2 week windows from 2026-08-10, below 0.8716 (alert #12)"
    )
    assert task_name(alert, 300).startswith("Label 300 live items the model")


def test_counts_are_words() -> None:
    assert [count(1, "alert"), count(2, "alert"), count(1_200, "status", "statuses")] == [
        "1 alert",
        "2 alerts",
        "1,200 statuses",
    ]
    (incident,) = group_alerts([_alert()])
    assert "(critical, 1 alert)" in incident.label
    assert _alert().describe() == (
        "realized accuracy [language = de] = 0.846, below 0.8716 "
        "(2 week windows, 2026-08-10 … 2026-08-17)"
    )


def test_the_ranking_ticks_what_the_window_figures_tick() -> None:
    """One rule: a PSI counts only when its test is significant, and a test that could not be
    computed (p is NaN) is not significant — for the stored drift figures and the table alike."""
    from core.monitoring.drift import significant
    from core.monitoring.ranking import drifted, score

    nan = float("nan")
    cases = [
        ({"psi": 0.4, "ks_p": 0.01}, True),
        ({"psi": 0.4, "ks_p": 0.3}, False),
        ({"psi": 0.4, "chi2_p": nan}, False),
        ({"psi": 0.05, "ks_p": 0.001}, False),
    ]
    for statistics, ticked in cases:
        assert drifted(statistics) is ticked, statistics
        assert (score(statistics) > 0) is significant(statistics), statistics
