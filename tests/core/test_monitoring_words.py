"""How monitoring names what it measures (core/monitoring/words.py): one naming for the page, the
CLI, the webhooks and the notes monitoring writes into an alert's timeline."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.monitoring.models import Alert, Window
from core.monitoring.words import (
    alert_sentence,
    bound_text,
    figures_text,
    metric_name,
    named,
    value_text,
    window_phrase,
    window_text,
)


@pytest.mark.parametrize(
    ("metric", "name"),
    [
        ("volume", "predictions"),
        ("error_rate", "error rate"),
        ("latency_p95_ms", "latency p95"),
        ("labeled", "labeled predictions"),
        ("accuracy", "realized accuracy"),
        ("estimated.accuracy", "estimated accuracy"),
        ("f1_macro", "macro F1"),
        ("estimated.f1_macro", "estimated macro F1"),
        ("precision.out_of_office", "precision of out_of_office"),
        ("estimated.precision.out_of_office", "estimated precision of out_of_office"),
        ("recall.hardware_fault", "recall of hardware_fault"),
        ("f1.ooo", "F1 of ooo"),
        ("class_share.ooo", "share of ooo predictions"),
        ("drift.score", "drift score"),
        ("drift.share", "share of inputs drifted"),
        ("drift.psi.firmware_version", "PSI of firmware_version"),
        ("drift.chi2_p.language", "χ² p of language"),
        ("drift.novelty.body", "unseen tokens in body"),
        ("drift.js.temp.mean", "JS distance of temp.mean"),  # a feature name with a dot
        ("something_new", "something_new"),  # a key it does not know: as written
        ("drift.unknown.x", "drift.unknown.x"),
    ],
)
def test_every_metric_family_has_a_name_for_people(metric: str, name: str) -> None:
    assert metric_name(metric) == name


def test_values_and_bounds_in_their_units() -> None:
    assert named("accuracy", "language = de") == "realized accuracy [language = de]"
    assert [value_text("error_rate", 0.0123), value_text("error_rate", 0.01, exact=True)] == [
        "1.2%",
        "1%",
    ]
    assert value_text("latency_p95_ms", 1204.04) == "1,204.0 ms"
    assert value_text("latency_p95_ms", 1000.0, exact=True) == "1,000 ms"
    assert [value_text("volume", 84.0), value_text("accuracy", 0.84615), value_text("x", None)] == [
        "84",
        "0.846",
        "—",
    ]
    assert value_text("accuracy", float("nan")) == "—"
    assert bound_text("latency_p95_ms", ">", 1000.0) == "above 1,000 ms"
    assert bound_text("accuracy", "drop", 0.05, 0.92) == (
        "more than 0.05 below the model's evaluated 0.92"
    )
    assert figures_text(
        {
            "volume": 84.0,
            "error_rate": 0.0,
            "latency_p95_ms": 3.04,
            "labeled": 73.0,
            "accuracy": 0.871,
            "estimated.accuracy": 0.85,
            "drift.score": 1.7021,
            "drift.share": 0.4,
        }
    ) == (
        "84 predictions · error rate 0.0% · latency p95 3.0 ms · 73 labeled predictions · "
        "realized accuracy 0.871 · estimated accuracy 0.850 · drift score 1.702 · "
        "40% of inputs drifted"
    )


def test_windows_read_the_same_in_a_label_and_a_sentence() -> None:
    day, hour = datetime(2026, 9, 9), datetime(2026, 9, 9, 13)
    assert [window_text("week", day), window_text("day", day), window_text("hour", hour)] == [
        "week of 2026-09-09",
        "2026-09-09",
        "2026-09-09 13:00",
    ]
    assert [window_phrase("day", day), window_phrase("hour", hour)] == [
        "the day of 2026-09-09",
        "the hour of 2026-09-09 13:00",
    ]
    window = Window("p", "week", day, datetime(2026, 9, 16), None, None, {})
    assert window.when == "the week of 2026-09-09"


def test_an_alert_reads_the_same_wherever_it_is_shown() -> None:
    alert = Alert(
        alert_id=3,
        project="hw-triage",
        rule="errors",
        metric="error_rate",
        slice="",
        grain="day",
        comparator=">",
        threshold=0.01,
        reference=None,
        severity="warning",
        status="open",
        active=True,
        first_window=datetime(2026, 9, 9),
        last_window=datetime(2026, 9, 9),
        windows=1,
        value=0.0234,
        n=512,
        model_id=7,
        artifact_id=None,
        evidence={"figures": {"volume": 512.0, "error_rate": 0.0234, "latency_p95_ms": 12.0}},
        created_at=datetime(2026, 9, 10),
        updated_at=datetime(2026, 9, 10),
    )
    assert alert.sentence() == "error rate was 2.3% in the day of 2026-09-09, above 1%"
    assert alert.sentence() == alert_sentence(
        "error_rate", "", 0.0234, ">", 0.01, None, "day", datetime(2026, 9, 9), 1
    )  # what a webhook says
    assert alert.label == "#3 warning: error rate"
    assert alert.describe() == "error rate = 2.3%, above 1% (the day of 2026-09-09)"
    assert alert.opening_figures() == "512 predictions · latency p95 12.0 ms"  # its own: above
