"""The store's clock (core/store/clock.py) and the demo's calendar (core/demo/calendar.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.accounts.audit import record
from core.actor import Actor
from core.demo.calendar import Step, moment, timeline
from core.errors import InvalidInput
from core.store import Workspace, clock, utcnow

MAY = datetime(2026, 5, 4, 9, 0)


def test_the_wall_clock_is_naive_utc_when_nothing_is_simulated() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    now = utcnow()
    assert now.tzinfo is None and not clock.is_simulated()
    assert before <= now <= datetime.now(UTC).replace(tzinfo=None)


def test_a_simulated_clock_runs_on_from_its_start_and_then_gives_the_wall_clock_back() -> None:
    with clock.simulated(MAY) as simulated:
        first = utcnow()
        assert MAY <= first < MAY + timedelta(seconds=5) and clock.is_simulated()
        assert utcnow() >= first  # it keeps running, so events keep their order
        assert simulated.advance_to(datetime(2026, 7, 1)) == datetime(2026, 7, 1)
        assert datetime(2026, 7, 1) <= utcnow() < datetime(2026, 7, 1, 0, 0, 5)
        simulated.advance_to(MAY)  # never backwards
        assert utcnow() >= datetime(2026, 7, 1)
        assert simulated.advance_by(timedelta(days=2)) >= datetime(2026, 7, 3)
    assert not clock.is_simulated()
    assert abs(utcnow() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_the_simulated_clock_is_restored_after_an_error_and_aware_starts_are_converted() -> None:
    start = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError, match="boom"), clock.simulated(start):
        assert utcnow().hour == 11
        raise RuntimeError("boom")
    assert not clock.is_simulated()


def test_other_threads_see_the_simulated_clock() -> None:
    seen: list[datetime] = []
    with clock.simulated(MAY):
        worker = threading.Thread(target=lambda: seen.append(utcnow()))
        worker.start()
        worker.join()
    assert seen and seen[0].date() == MAY.date()


def test_what_the_store_writes_carries_the_simulated_date(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with clock.simulated(MAY), ws.store.transaction() as tx:
        record(tx, Actor("maria", "test"), "requirements.import", target="SYS-1")
    with ws.store.transaction() as tx:
        record(tx, Actor("maria", "test"), "requirements.import", target="SYS-2")
    with ws.store.read() as tx:
        rows = tx.rows(
            'SELECT target, "at" FROM audit_log WHERE action = ? ORDER BY audit_id',
            ["requirements.import"],
        )
    assert rows[0][0] == "SYS-1" and rows[0][1].date() == MAY.date()
    assert rows[1][0] == "SYS-2" and rows[1][1].date() == utcnow().date()


def test_demo_dates_are_read_as_naive_utc() -> None:
    assert moment("2026-05-04", "x") == datetime(2026, 5, 4)
    assert moment(datetime(2026, 5, 4, 9).date(), "x") == datetime(2026, 5, 4)
    assert moment("2026-05-04T11:00:00+02:00", "x") == MAY
    assert moment(None, "x") is None
    with pytest.raises(InvalidInput) as refused:
        moment("May the 4th", "ooo-replies/demo.yaml: start")
    assert str(refused.value).startswith(
        "ooo-replies/demo.yaml: start: 'May the 4th' is not a date."
    )
    assert refused.value.hint == "write a UTC date or time, e.g. 2026-05-04 or 2026-05-04T09:00"


def _steps(*dated: tuple[str, datetime | None]) -> list[Step]:
    return [Step(name, lambda: None, at) for name, at in dated]


def test_the_timeline_merges_labeling_and_story_by_date_each_in_its_order() -> None:
    labeling = _steps(("task 1", datetime(2026, 5, 11)), ("freeze", datetime(2026, 7, 20)))
    story = _steps(
        ("requirements", datetime(2026, 5, 6)),
        ("build 1", datetime(2026, 7, 20)),  # same date as the freeze: labeling goes first
        ("ingest", None),  # undated: right after the build
        ("serve", datetime(2026, 8, 1)),
    )
    merged = timeline([("labeling", labeling), ("story", story)])
    assert [s.name for s in merged] == [
        "requirements",
        "task 1",
        "freeze",
        "build 1",
        "ingest",
        "serve",
    ]


def test_undated_steps_keep_the_order_they_are_written_in() -> None:
    merged = timeline(
        [("labeling", _steps(("a", None), ("b", None))), ("story", _steps(("c", None)))]
    )
    assert [s.name for s in merged] == ["a", "b", "c"]
    later = timeline(
        [("labeling", _steps(("a", datetime(2026, 6, 1)))), ("story", _steps(("c", None)))]
    )
    assert [s.name for s in later] == ["a", "c"]  # an undated story follows the labeling


def test_a_section_dated_backwards_is_refused() -> None:
    story = _steps(("build", datetime(2026, 7, 27)), ("serve", datetime(2026, 7, 1)))
    with pytest.raises(InvalidInput) as refused:
        timeline([("ooo-replies/demo.yaml: story", story)])
    assert str(refused.value).startswith(
        "ooo-replies/demo.yaml: story: step 2 (serve) is dated 2026-07-01 00:00, "
        "before the step above it (2026-07-27 00:00)."
    )
