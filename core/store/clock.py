"""The store's clock: the wall clock, or a simulated one while the demo plays its story.

Every timestamp the store writes comes from ``core.store.utcnow()``, which reads this clock. Real
use never sets it, so it is the wall clock (naive UTC). ``loopline demo`` plays each sample
project's story on its own calendar (May–September): inside ``simulated(start)`` the clock reads
``start`` plus the wall time elapsed since, so events keep their order and their real spacing,
and the demo moves it on between steps with ``advance_to``. It never runs backwards inside one
``simulated`` block.

The override is process-wide, not a context variable: the demo's service answers requests from
its own thread, and those requests must carry the story's dates too. Nothing but the demo (run
from the CLI or tests, never from the app, which serves many people in one process) sets it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_LOCK = threading.Lock()
_offset: timedelta | None = None  # simulated time minus wall time; None: the wall clock


def wall() -> datetime:
    """The wall clock, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def now() -> datetime:
    """Naive UTC: the simulated time while one is set, else the wall clock."""
    offset = _offset
    moment = wall()
    return moment if offset is None else moment + offset


def is_simulated() -> bool:
    return _offset is not None


class SimulatedClock:
    """The handle ``simulated`` yields: reads the simulated time and moves it on."""

    def now(self) -> datetime:
        return now()

    def advance_to(self, moment: datetime) -> datetime:
        """Move the clock on to ``moment`` (naive UTC); a moment already past leaves it where it
        is, so the clock never runs backwards. Returns the time now."""
        global _offset
        with _LOCK:
            if _offset is None:
                raise RuntimeError("advance_to outside `simulated(...)`")
            current = wall() + _offset
            if moment > current:
                _offset += moment - current
            return max(moment, current)

    def advance_by(self, step: timedelta) -> datetime:
        return self.advance_to(now() + step)


@contextmanager
def simulated(start: datetime) -> Iterator[SimulatedClock]:
    """Run the block on a simulated clock starting at ``start`` (naive UTC, or aware: converted);
    the clock in force before (wall or simulated) is back afterwards, also on errors."""
    global _offset
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    with _LOCK:
        before = _offset
        _offset = start - wall()
    try:
        yield SimulatedClock()
    finally:
        with _LOCK:
            _offset = before
