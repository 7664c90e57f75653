"""The demo's calendar: each sample project's story happens on its own dates (May–September).

A demo.yaml dates its project with ``start:`` and any step with ``at:`` (``2026-05-04`` or
``2026-05-04T09:00``, UTC). The labeling steps and the story's steps are each written in their
order; the demo plays them as one timeline merged by date, on a simulated clock
(core/store/clock.py) moved on to each step's date, so everything the step writes (audit entries,
status history, artifacts, builds, alerts) carries it. A step without a date follows the step
before it. Without ``start:`` a project plays on the wall clock, as before.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from core.errors import InvalidInput
from core.store import clock

EARLIEST = datetime.min


@dataclass(frozen=True)
class Step:
    """One step of a project's story: what it is called (for progress), its date, what it does."""

    name: str
    run: Callable[[], None]
    at: datetime | None = None


def moment(value: Any, where: str) -> datetime | None:
    """A demo.yaml date (a YAML date or time, or ISO text) as naive UTC; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime.combine(value, time.min)
    else:
        try:
            found = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidInput(
                f"{where}: {value!r} is not a date.",
                hint="write a UTC date or time, e.g. 2026-05-04 or 2026-05-04T09:00",
            ) from None
    if found.tzinfo is not None:
        found = found.astimezone(UTC).replace(tzinfo=None)
    return found


def _dated(
    steps: Sequence[Step], section: str, floor: datetime
) -> list[tuple[datetime, int, Step]]:
    """Each step with its date: an undated one takes the date of the step before it (the first
    ones: of the first dated step, else ``floor``). A section whose dates go backwards is refused,
    as its order is the story's."""
    last = next((step.at for step in steps if step.at is not None), floor)
    dated: list[tuple[datetime, int, Step]] = []
    for index, step in enumerate(steps):
        if step.at is not None:
            if step.at < last:
                raise InvalidInput(
                    f"{section}: step {index + 1} ({step.name}) is dated "
                    f"{step.at:%Y-%m-%d %H:%M}, before the step above it ({last:%Y-%m-%d %H:%M}).",
                    hint="date the steps of a section in the order they are written",
                )
            last = step.at
        dated.append((last, index, step))
    return dated


def timeline(sections: Sequence[tuple[str, Sequence[Step]]]) -> list[Step]:
    """The sections' steps merged by date; each keeps its own order, and on the same date the
    section named first goes first. A section's undated first steps follow the sections above."""
    streams: list[list[tuple[datetime, int, int, Step]]] = []
    floor = EARLIEST
    for number, (name, steps) in enumerate(sections):
        dated = _dated(steps, name, floor)
        streams.append([(when, number, index, step) for when, index, step in dated])
        floor = max([floor, *(when for when, _, _ in dated)])
    return [entry[3] for entry in heapq.merge(*streams, key=lambda e: (e[0], e[1], e[2]))]


class Calendar:
    """The clock a project's story plays on: simulated from its start, or the wall clock."""

    def __init__(self, simulated: clock.SimulatedClock | None) -> None:
        self._clock = simulated

    @property
    def simulated(self) -> bool:
        return self._clock is not None

    def advance_to(self, when: datetime | None) -> None:
        """Move the story's clock on to ``when`` (a past moment or None leaves it)."""
        if self._clock is not None and when is not None:
            self._clock.advance_to(when)


@contextmanager
def calendar(start: datetime | None) -> Iterator[Calendar]:
    """The story's calendar from ``start`` (None: the wall clock); the wall clock after it."""
    if start is None:
        yield Calendar(None)
        return
    with clock.simulated(start) as simulated:
        yield Calendar(simulated)
