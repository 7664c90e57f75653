"""The project file's ``retraining`` section: when a build runs without anyone asking.

```yaml
retraining:
  promote: false                     # a successful scheduled build also promotes its model
  schedules:
    - {name: nightly, cron: "0 2 * * *"}   # five cron fields, UTC
    - {name: weekly, every: 7d}            # or an interval: 90s, 15m, 6h, 7d
  triggers:
    - {name: labels, new_labels: 200}      # at least 200 more frozen labels than the last build
    - {name: asked, retrain_request: true} # an open retraining request
    - {name: drift, alert: drift}          # an open alert whose rule or metric is 'drift'
```

An interval is counted from the Unix epoch (``every: 1d`` is due at 00:00 UTC), so every
scheduler process agrees on the due moments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.errors import InvalidInput, expected_one_of
from core.projects.cron import Cron

SECTION_KEYS = ("promote", "schedules", "triggers")
SCHEDULE_KEYS = ("name", "cron", "every")
TRIGGER_KINDS = ("new_labels", "retrain_request", "alert")
TRIGGER_KEYS = ("name", *TRIGGER_KINDS)
_INTERVAL = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EPOCH = datetime(1970, 1, 1)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str | None = None
    every_s: int | None = None  # an interval in seconds

    @property
    def text(self) -> str:
        return f"cron '{self.cron}'" if self.cron else f"every {_interval_text(self.every_s or 0)}"

    def previous_due(self, at: datetime) -> datetime:
        """The last due moment at or before ``at`` (naive UTC)."""
        if self.cron is not None:
            return Cron.parse(self.cron).previous(at)
        step = int(self.every_s or 1)
        elapsed = int((at - EPOCH).total_seconds())
        return EPOCH + timedelta(seconds=elapsed - elapsed % step)


@dataclass(frozen=True)
class Trigger:
    name: str
    kind: str  # one of TRIGGER_KINDS
    new_labels: int = 0
    alert: str = ""  # an alert's rule or metric

    @property
    def text(self) -> str:
        if self.kind == "new_labels":
            return f"≥ {self.new_labels} new frozen labels"
        if self.kind == "alert":
            return f"an open '{self.alert}' alert"
        return "an open retraining request"


@dataclass(frozen=True)
class RetrainingSpec:
    schedules: tuple[Schedule, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    promote: bool = False


def parse_retraining(value: Any, fail: Any) -> RetrainingSpec | None:
    """The ``retraining`` section; ``fail(where, message)`` makes the error naming the field."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail("retraining", f"expected a mapping, got {type(value).__name__}.")
    extra = sorted(set(value) - set(SECTION_KEYS))
    if extra:
        raise fail(f"retraining.{extra[0]}", expected_one_of("key", extra[0], SECTION_KEYS))
    promote = value.get("promote", False)
    if not isinstance(promote, bool):
        raise fail("retraining.promote", f"expected true or false, got {promote!r}.")
    schedules = tuple(
        _schedule(entry, f"retraining.schedules[{i}]", fail)
        for i, entry in enumerate(_entries(value.get("schedules"), "retraining.schedules", fail))
    )
    triggers = tuple(
        _trigger(entry, f"retraining.triggers[{i}]", fail)
        for i, entry in enumerate(_entries(value.get("triggers"), "retraining.triggers", fail))
    )
    names = [s.name for s in schedules] + [t.name for t in triggers]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise fail("retraining", f"the name {doubled[0]!r} is used twice; names must be distinct.")
    return RetrainingSpec(schedules, triggers, promote)


def _entries(value: Any, where: str, fail: Any) -> Sequence[Mapping[str, Any]]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise fail(where, "expected a list.")
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise fail(f"{where}[{i}]", f"expected a mapping, got {type(entry).__name__}.")
    return value


def _name(entry: Mapping[str, Any], where: str, fail: Any) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise fail(
            f"{where}.name",
            f"expected a short name of lowercase letters, digits, '-' or '_', got {name!r}.",
        )
    return name


def _schedule(entry: Mapping[str, Any], where: str, fail: Any) -> Schedule:
    extra = sorted(set(entry) - set(SCHEDULE_KEYS))
    if extra:
        raise fail(f"{where}.{extra[0]}", expected_one_of("schedule key", extra[0], SCHEDULE_KEYS))
    name = _name(entry, where, fail)
    if ("cron" in entry) == ("every" in entry):
        raise fail(where, "give either cron (e.g. '0 2 * * *') or every (e.g. 6h), not both.")
    if "cron" in entry:
        try:
            cron = Cron.parse(str(entry["cron"]))
        except InvalidInput as error:
            raise fail(f"{where}.cron", error.message, error.hint) from None
        return Schedule(name, cron=cron.text)
    found = _INTERVAL.match(str(entry["every"]).strip())
    seconds = int(found.group(1)) * _UNITS[found.group(2)] if found else 0
    if seconds <= 0:
        raise fail(
            f"{where}.every",
            f"expected an interval such as 90s, 15m, 6h or 7d, got {entry['every']!r}.",
        )
    return Schedule(name, every_s=seconds)


def _trigger(entry: Mapping[str, Any], where: str, fail: Any) -> Trigger:
    extra = sorted(set(entry) - set(TRIGGER_KEYS))
    if extra:
        raise fail(f"{where}.{extra[0]}", expected_one_of("trigger key", extra[0], TRIGGER_KEYS))
    name = _name(entry, where, fail)
    kinds = [k for k in TRIGGER_KINDS if k in entry]
    if len(kinds) != 1:
        raise fail(where, f"give exactly one of {', '.join(TRIGGER_KINDS)}.")
    kind = kinds[0]
    value = entry[kind]
    if kind == "new_labels":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(f"{where}.new_labels", f"expected a whole number ≥ 1, got {value!r}.")
        return Trigger(name, kind, new_labels=value)
    if kind == "alert":
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{where}.alert", f"expected an alert rule or metric, got {value!r}.")
        return Trigger(name, kind, alert=value.strip())
    if value is not True:
        raise fail(f"{where}.retrain_request", f"expected true, got {value!r}.")
    return Trigger(name, kind)


def _interval_text(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
