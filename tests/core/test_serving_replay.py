"""The replay's schedule without a service: batches per simulated hour and the feedback that
follows the predictions (``core.serving.replay``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.serving.replay import MAX_BATCH, FeedbackSchedule, batches

START = datetime(2026, 3, 2, 9, 0)


def rows_at(times: list[datetime]) -> pd.DataFrame:
    return pd.DataFrame({"__ts": pd.to_datetime(times)})


def test_one_request_per_simulated_hour() -> None:
    times = [START + timedelta(hours=h, minutes=m) for h in range(3) for m in range(10)]
    times += [START + timedelta(days=1, minutes=m) for m in range(5)]
    assert list(batches(rows_at(times))) == [(0, 10), (10, 20), (20, 30), (30, 35)]


def test_a_busy_hour_sends_several_requests_of_at_most_the_maximum() -> None:
    first = [START + timedelta(seconds=10 * i) for i in range(3)]
    second = [START + timedelta(hours=1, seconds=i) for i in range(MAX_BATCH + 5)]
    assert list(batches(rows_at(first + second))) == [
        (0, 3),
        (3, 3 + MAX_BATCH),
        (3 + MAX_BATCH, 3 + MAX_BATCH + 5),
    ]


def test_labels_fall_due_half_to_one_and_a_half_delays_later_in_order() -> None:
    labels = {f"i{n}": "yes" if n % 2 else "no" for n in range(200)}
    schedule = FeedbackSchedule(labels, rate=1.0, delay_days=2.0, rng=np.random.default_rng(0))
    for n in range(200):
        schedule.predicted(f"i{n}", f"r{n}", START + timedelta(hours=n))
    assert schedule.pending == 200
    assert schedule.due(START + timedelta(days=1)) == []  # nothing before half a delay
    due = schedule.due(START + timedelta(days=30))
    assert schedule.pending == 0 and len(due) == 200
    assert [moment for moment, _, _ in due] == sorted(moment for moment, _, _ in due)
    for moment, request_id, label in due:
        n = int(request_id[1:])
        delay = moment - (START + timedelta(hours=n))
        assert timedelta(days=1) <= delay <= timedelta(days=3)
        assert label == labels[f"i{n}"]


def test_only_known_labels_at_the_rate_are_scheduled_and_the_rest_stay_pending() -> None:
    labels = {f"i{n}": "yes" for n in range(0, 1000, 2)}  # half the items have a true label
    schedule = FeedbackSchedule(labels, rate=0.5, delay_days=3.0, rng=np.random.default_rng(1))
    for n in range(1000):
        schedule.predicted(f"i{n}", f"r{n}", START)
    assert 200 <= schedule.pending <= 300  # about half of the 500 known labels
    early = schedule.due(START + timedelta(days=3))
    assert 0 < len(early) < 300 and schedule.pending > 0  # the later ones are still to come
    assert all(int(request_id[1:]) % 2 == 0 for _, request_id, _ in early)
    never = FeedbackSchedule(labels, rate=0.0, delay_days=3.0, rng=np.random.default_rng(1))
    never.predicted("i0", "r0", START)
    assert never.pending == 0
