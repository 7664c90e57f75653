"""`simulate`: later data replayed through the service in event-time order, with delayed feedback."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.data.service import latest_dataset, load_rows
from core.errors import InvalidInput
from core.serving.log import FEEDBACK, read_log
from core.serving.simulate import simulate
from core.store import Workspace
from tests.conftest import ROOT
from tests.core.test_serving_http import (
    Service,
    copy_of,
    ensure_production,
    roll_back_to_v1,
    token_for,
)

SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def demo(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_of(demo_workspace, tmp_path_factory.mktemp("simulate") / "ws")
    ensure_production(path, "hw-triage")
    roll_back_to_v1(path, "hw-triage")
    return path


def test_the_new_market_is_replayed_with_delayed_feedback(demo: Path) -> None:
    ws = Workspace.open(demo)
    result = simulate(
        ws,
        "ooo-replies",
        days=4,
        start="2026-08-01",
        truth=SAMPLE / "ooo-replies" / "data" / "truth.csv",
        feedback_delay_days=1,
        seed=3,
    )
    rows = load_rows(ws, latest_dataset(ws, "ooo-replies"))  # type: ignore[arg-type]
    times = rows["received_at"]
    expected = int(((times >= "2026-08-01") & (times < "2026-08-05")).sum())
    assert (result.start, result.end) == (datetime(2026, 8, 1), datetime(2026, 8, 5))
    assert result.items == result.predicted == result.logged == expected > 50
    assert result.errors == 0 and result.first_error is None
    assert set(result.mix["language"]) == {"de", "en", "fr"}  # the new market is in the replay
    assert sum(result.mix["language"].values()) == expected
    assert result.feedback_sent > 0 and result.feedback_pending > 0
    assert result.requests < expected  # batched, not one request per item
    logged = read_log(demo, "ooo-replies")
    assert logged["ts"].is_monotonic_increasing
    assert logged["ts"].min() >= pd.Timestamp("2026-08-01") and logged["ts"].max() < pd.Timestamp(
        "2026-08-05"
    )
    assert logged["item_id"].notna().all() and logged["spans"].notna().all()
    assert set(logged["f_language"]) == {"de", "en", "fr"}
    feedback = read_log(demo, "ooo-replies", FEEDBACK)
    assert len(feedback) == result.feedback_sent
    assert set(feedback["request_id"]) <= set(logged["request_id"])
    assert set(feedback["actor"]) == {"simulator"}
    joined = feedback.merge(logged, on="request_id", suffixes=("_fb", ""))
    delay = (joined["ts_fb"] - joined["ts"]).dt.total_seconds() / 86400
    assert delay.between(0.5, 1.5).all()  # about one day later, as asked
    truth = pd.read_csv(SAMPLE / "ooo-replies" / "data" / "truth.csv", dtype=str)
    labels = dict(zip(truth["reply_id"], truth["label"], strict=True))
    assert all(
        labels[i] == label for i, label in zip(joined["item_id"], joined["label"], strict=True)
    )


def test_by_default_the_replay_starts_after_the_training_data(demo: Path) -> None:
    later = SAMPLE / "hw-triage" / "data" / "later.csv"
    result = simulate(
        Workspace.open(demo),
        "hw-triage",
        days=1,
        source=later,
        truth=SAMPLE / "hw-triage" / "data" / "truth.csv",
        rate_per_hour=3,
        feedback_rate=0,
    )
    first = pd.read_csv(later, usecols=["returned_at"], nrows=1)["returned_at"][0]
    assert result.start == datetime.fromisoformat(first.removesuffix("Z"))  # 2026-07-01 01:47
    assert 0 < result.items <= 3 * 24 and result.errors == 0 and result.feedback_sent == 0
    assert "R24.1" in result.mix["firmware_version"]  # the rollout has begun


def test_nothing_left_to_replay_says_what_to_do(demo: Path) -> None:
    with pytest.raises(InvalidInput) as error:
        simulate(Workspace.open(demo), "ooo-replies", days=3)  # production v2 saw everything
    assert error.value.message.startswith("No rows of 'ooo-replies' after 2026-09-30 20:51:00")
    assert error.value.hint is not None and "--start DATE" in error.value.hint


def test_feedback_needs_true_labels_and_a_token(demo: Path) -> None:
    ws = Workspace.open(demo)
    with pytest.raises(InvalidInput, match="Feedback needs the true labels") as error:
        simulate(ws, "ooo-replies", days=1, start="2026-08-01")
    assert error.value.hint == (
        "pass --truth FILE (a CSV with columns reply_id, label) or --feedback-rate 0"
    )
    with pytest.raises(InvalidInput, match="Feedback needs a token for the service at --url"):
        simulate(ws, "ooo-replies", days=1, start="2026-08-01", url="http://127.0.0.1:9")
    with pytest.raises(InvalidInput, match="--feedback-rate must be between 0 and 1, got 1.5"):
        simulate(ws, "ooo-replies", days=1, feedback_rate=1.5)


def test_through_a_running_service_with_a_token(demo: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    shutil.copytree(demo, path, ignore=shutil.ignore_patterns("logs"))
    token = token_for(path, "repair-shop", "service")
    service = Service(path, "hw-triage")
    try:
        result = simulate(
            Workspace.open(path),
            "hw-triage",
            days=2,
            url=service.url,
            source=SAMPLE / "hw-triage" / "data" / "later.csv",
            truth=SAMPLE / "hw-triage" / "data" / "truth.csv",
            feedback_rate=1.0,
            feedback_delay_days=0,
            token=token,
        )
    finally:
        service.stop()
    assert result.url == service.url and result.logged is None
    assert result.errors == 0 and result.feedback_sent == result.predicted == result.items
    feedback = read_log(path, "hw-triage", FEEDBACK)
    assert len(feedback) == result.items and set(feedback["actor"]) == {"repair-shop"}
