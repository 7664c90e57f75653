"""A small cron parser: five fields (minute hour day-of-month month day-of-week) in UTC, and the
last moment at or before a time when an expression fires.

Each field is ``*``, a number, a range ``a-b``, a list ``a,b``, with an optional step ``*/n`` or
``a-b/n``; months and weekdays also by name (``jan``, ``mon``), Sunday is 0 or 7. As in Vixie cron,
when both day fields are restricted a day matches either one. Written here rather than taken
from a library: croniter, the usual choice, is no longer maintained, and Loopline needs only
``previous`` (which due moment a scheduler has to answer), in about a hundred lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import InvalidInput

_FIELDS = (  # name, lowest, highest
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_NAMES = {
    3: {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
MAX_DAYS_BACK = 366 * 8  # far enough for 29 February on a Monday


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is '*'
    any_weekday: bool  # day of week is '*'

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = str(text).split()
        if len(parts) != 5:
            raise InvalidInput(
                f"Cron expression {text!r} has {len(parts)} fields; expected 5 "
                "(minute hour day-of-month month day-of-week).",
                hint="e.g. '0 2 * * *' for 02:00 UTC every day",
            )
        sets = [_field(part, i, text) for i, part in enumerate(parts)]
        weekdays = frozenset(7 % 7 if d == 7 else d for d in sets[4])
        return cls(
            " ".join(parts), sets[0], sets[1], sets[2], sets[3], weekdays,
            parts[2] == "*", parts[4] == "*",
        )  # fmt: skip

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def previous(self, at: datetime) -> datetime:
        """The last moment at or before ``at`` (naive UTC) when the expression fires."""
        at = at.replace(second=0, microsecond=0)
        day = at.replace(hour=0, minute=0)
        for back in range(MAX_DAYS_BACK):
            candidate = day - timedelta(days=back)
            if not self.day_matches(candidate):
                continue
            last = at if back == 0 else candidate.replace(hour=23, minute=59)
            found = self._last_time(candidate, last)
            if found is not None:
                return found
        raise InvalidInput(f"Cron expression {self.text!r} never fires.")

    def _last_time(self, day: datetime, last: datetime) -> datetime | None:
        for hour in sorted((h for h in self.hours if h <= last.hour), reverse=True):
            limit = last.minute if hour == last.hour else 59
            minutes = [m for m in self.minutes if m <= limit]
            if minutes:
                return day.replace(hour=hour, minute=max(minutes))
        return None


def _field(part: str, index: int, text: str) -> frozenset[int]:
    name, low, high = _FIELDS[index]
    values: set[int] = set()
    for item in part.lower().split(","):
        values |= _item(item, index, low, high, name, text)
    return frozenset(values)


def _item(item: str, index: int, low: int, high: int, name: str, text: str) -> set[int]:
    span, _, step_text = item.partition("/")
    step = _number(step_text, index, name, text) if step_text else 1
    if span == "*":
        first, last = low, high
    elif "-" in span:
        a, b = span.split("-", 1)
        first, last = _number(a, index, name, text), _number(b, index, name, text)
    else:
        first = _number(span, index, name, text)
        last = high if step_text else first
    if not (low <= first <= last <= high) or step < 1:
        raise InvalidInput(
            f"Cron expression {text!r}: {name} {item!r} is outside {low}-{high}.",
            hint="e.g. '*/15' (every 15), '1-5' (a range), '0,30' (a list)",
        )
    return set(range(first, last + 1, step))


def _number(token: str, index: int, name: str, text: str) -> int:
    named = _NAMES.get(index, {}).get(token)
    if named is not None:
        return named
    if not token.isdigit():
        raise InvalidInput(
            f"Cron expression {text!r}: {name} {token!r} is not a number.",
            hint="use numbers, or names for months (jan) and weekdays (mon)",
        )
    return int(token)
