"""Scheduled and triggered retraining: which build is due, and running it once.

``tick`` is one pass of a scheduler over every project whose file has a ``retraining`` section
(core/projects/retraining.py):

1. **find what is due** — a schedule whose last due moment is later than its mark (the due
   moment it last answered), or a trigger whose condition holds and is newer than its mark;
2. **claim the project's lease** (core/scheduler/leases.py) — another scheduler building it wins;
3. **check again under the lease**: no build of the project is running (whoever started it),
   and the same thing is still due (another scheduler may have answered it a moment ago);
4. **mark it answered, then build** with the trigger recorded on the build (``builds.trigger``)
   while the lease is renewed.

A schedule met for the first time is only armed (marked with its last due moment): it fires at
its next due moment. A schedule whose due moments passed while no scheduler ran fires once for
the latest of them, and its trigger says how many were missed. The mark is written before the
build, so a due moment is answered once even when its build fails or the process dies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.actor import Actor
from core.artifacts.service import find_artifact, get_artifact
from core.builds.reaper import reap_quietly
from core.builds.service import Build, run_build
from core.errors import CoreError
from core.monitoring.retrain import pending_retrain_request
from core.projects.retraining import RetrainingSpec, Schedule, Trigger
from core.projects.service import list_projects
from core.scheduler.leases import LEASE_S, claim, held
from core.store import Tx, Workspace, utcnow

Log = Callable[[str], None]
MAX_MISSED_COUNTED = 1000


@dataclass(frozen=True)
class Due:
    """A build a schedule or trigger asks for now."""

    project: str
    name: str  # the schedule's or trigger's name
    due_at: datetime  # the moment it answers (a schedule's due moment, a trigger's evidence)
    trigger: str  # what the build records as its trigger


@dataclass(frozen=True)
class Fired:
    """A build a scheduler started (``status`` as it ended)."""

    project: str
    name: str
    trigger: str
    build_id: int
    status: str
    number: int = 0  # the build's number in its project: what people see (``#3``)


@dataclass(frozen=True)
class Mark:
    project: str
    name: str
    due_at: datetime
    build_id: int | None
    holder: str
    created_at: datetime


@dataclass(frozen=True)
class ScheduleState:
    """A schedule or trigger of a project, for people: what it is, when it last fired."""

    project: str
    name: str
    kind: str  # "schedule" or "trigger"
    text: str  # "every 6h", "cron '0 2 * * *'", "≥ 200 new frozen labels"
    last_due_at: datetime | None
    last_build_id: int | None
    next_due_at: datetime | None  # schedules only
    last_build_number: int | None = None  # that build as people see it (``#3``)


def tick(
    ws: Workspace,
    actor: Actor,
    holder: str,
    *,
    now: datetime | None = None,
    lease_s: float = LEASE_S,
    log: Log | None = None,
) -> list[Fired]:
    """One pass over every project with a ``retraining`` section; the builds it ran."""
    say = log or (lambda line: None)
    fired: list[Fired] = []
    for project in list_projects(ws):
        retraining = project.spec.retraining
        if retraining is None:
            continue
        at = now or utcnow()
        if what_is_due(ws, project.name, retraining, at, holder) is None:
            continue
        if not claim(ws, project.name, holder, "scheduled build", lease_s):
            say(f"{project.name}: another scheduler holds the project; skipped")
            continue
        with held(ws, project.name, holder, "scheduled build", lease_s):
            done = _build_if_still_due(ws, actor, project.name, retraining, at, holder, say)
        if done is not None:
            fired.append(done)
    return fired


def _build_if_still_due(
    ws: Workspace,
    actor: Actor,
    project: str,
    retraining: RetrainingSpec,
    at: datetime,
    holder: str,
    say: Log,
) -> Fired | None:
    reap_quietly(ws, actor)
    running = _running_build(ws, project)
    if running is not None:
        say(f"{project}: build #{running} is running; the schedule waits")
        return None
    due = what_is_due(ws, project, retraining, at, holder)
    if due is None:
        return None
    _write_mark(ws, project, due.name, due.due_at, None, holder)
    say(f"{project}: {due.trigger}: building")
    try:
        build = run_build(ws, project, actor, promote_model=retraining.promote, trigger=due.trigger)
    except CoreError as error:  # refused before it started (a permission, a missing label set)
        say(f"{project}: the build was refused: {error}")
        return None
    _write_mark(ws, project, due.name, due.due_at, build.build_id, holder)
    say(f"{project}: build #{build.number} {build.status}")
    return _fired(due, build)


def _fired(due: Due, build: Build) -> Fired:
    return Fired(due.project, due.name, due.trigger, build.build_id, build.status, build.number)


def what_is_due(
    ws: Workspace, project: str, retraining: RetrainingSpec, at: datetime, holder: str
) -> Due | None:
    """The first schedule or trigger of the project that asks for a build at ``at``."""
    marks = {mark.name: mark for mark in list_marks(ws, project)}
    for schedule in retraining.schedules:
        due = _schedule_due(ws, project, schedule, marks.get(schedule.name), at, holder)
        if due is not None:
            return due
    for trigger in retraining.triggers:
        due = _trigger_due(ws, project, trigger, marks.get(trigger.name))
        if due is not None:
            return due
    return None


def _schedule_due(
    ws: Workspace, project: str, schedule: Schedule, mark: Mark | None, at: datetime, holder: str
) -> Due | None:
    latest = schedule.previous_due(at)
    if mark is None:  # first seen: armed, it fires at its next due moment
        _write_mark(ws, project, schedule.name, latest, None, holder)
        return None
    if latest <= mark.due_at:
        return None
    missed = _missed(schedule, mark.due_at, latest)
    text = f"schedule {schedule.name} ({schedule.text}), due {latest:%Y-%m-%d %H:%M:%S} UTC"
    if missed:
        text += f"; {missed} earlier due run{'s' if missed != 1 else ''} missed, run once"
    return Due(project, schedule.name, latest, text)


def _missed(schedule: Schedule, last: datetime, latest: datetime) -> int:
    """How many due moments fell strictly between the last answered one and ``latest``."""
    if schedule.every_s:
        return max(0, int((latest - last).total_seconds()) // schedule.every_s - 1)
    count, moment = 0, latest
    while count < MAX_MISSED_COUNTED:
        moment = schedule.previous_due(moment - timedelta(minutes=1))
        if moment <= last:
            return count
        count += 1
    return count


def _trigger_due(ws: Workspace, project: str, trigger: Trigger, mark: Mark | None) -> Due | None:
    since = mark.due_at if mark is not None else None
    with ws.store.read() as tx:
        evidence = _EVIDENCE[trigger.kind](ws, tx, project, trigger)
    if evidence is None:
        return None
    moment, what = evidence
    if since is not None and moment <= since:
        return None
    return Due(project, trigger.name, moment, f"trigger {trigger.name}: {what}")


def _new_labels(
    ws: Workspace, tx: Tx, project: str, trigger: Trigger
) -> tuple[datetime, str] | None:
    latest = find_artifact(ws, f"label_set:{project}")
    if latest is None:
        return None
    rows = int(latest.metadata.get("rows", 0))
    row = tx.one(
        "SELECT label_set_id FROM builds WHERE project = ? AND label_set_id IS NOT NULL "
        "ORDER BY build_id DESC LIMIT 1",
        [project],
    )
    built = int(get_artifact(ws, int(row[0])).metadata.get("rows", 0)) if row else 0
    if rows - built < trigger.new_labels:
        return None
    return latest.created_at, (
        f"{rows - built} new frozen labels in {latest.ref} (≥ {trigger.new_labels})"
    )


def _retrain_request(
    ws: Workspace, tx: Tx, project: str, trigger: Trigger
) -> tuple[datetime, str] | None:
    request = pending_retrain_request(tx, project)
    if request is None:
        return None
    return request.requested_at, f"retraining request #{request.request_id} is open"


def _open_alert(
    ws: Workspace, tx: Tx, project: str, trigger: Trigger
) -> tuple[datetime, str] | None:
    row = tx.one(
        "SELECT a.alert_id, a.created_at, a.rule FROM alerts a WHERE a.project = ? "
        "AND a.status = 'open' AND (a.rule = ? OR a.metric = ?) AND a.created_at > COALESCE("
        "(SELECT max(b.started_at) FROM builds b WHERE b.project = a.project), "
        "TIMESTAMP '1970-01-01') ORDER BY a.alert_id DESC LIMIT 1",
        [project, trigger.alert, trigger.alert],
    )
    if row is None:
        return None
    return row[1], f"alert #{row[0]} ({row[2]}) is open"


_EVIDENCE = {
    "new_labels": _new_labels,
    "retrain_request": _retrain_request,
    "alert": _open_alert,
}


def _running_build(ws: Workspace, project: str) -> int | None:
    """The number of the project's running build (None: none is running)."""
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT coalesce(number, build_id) FROM builds "
            "WHERE project = ? AND status = 'running' ORDER BY build_id LIMIT 1",
            [project],
        )
    return None if row is None else int(row[0])


_MARK_COLUMNS = "project, name, due_at, build_id, holder, created_at"


def list_marks(ws: Workspace, project: str) -> list[Mark]:
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {_MARK_COLUMNS} FROM schedule_marks WHERE project = ? ORDER BY name",
            [project],
        )
    return [Mark(*row) for row in rows]


def _write_mark(
    ws: Workspace, project: str, name: str, due_at: datetime, build_id: int | None, holder: str
) -> None:
    with ws.store.transaction() as tx:
        tx.execute(
            f"INSERT OR REPLACE INTO schedule_marks ({_MARK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [project, name, due_at, build_id, holder, utcnow()],
        )


def schedule_states(
    ws: Workspace, project: str, spec: RetrainingSpec | None
) -> list[ScheduleState]:
    """Each schedule and trigger of the project with its last firing (and a schedule's next)."""
    if spec is None:
        return []
    marks = {mark.name: mark for mark in list_marks(ws, project)}
    with ws.store.read() as tx:
        numbers = dict(tx.rows("SELECT build_id, number FROM builds WHERE project = ?", [project]))
    now = utcnow()
    states = [
        ScheduleState(
            project,
            s.name,
            "schedule",
            s.text,
            marks[s.name].due_at if s.name in marks else None,
            marks[s.name].build_id if s.name in marks else None,
            _next_due(s, now),
            numbers.get(marks[s.name].build_id) if s.name in marks else None,
        )
        for s in spec.schedules
    ]
    states += [
        ScheduleState(
            project,
            t.name,
            "trigger",
            t.text,
            marks[t.name].due_at if t.name in marks else None,
            marks[t.name].build_id if t.name in marks else None,
            None,
            numbers.get(marks[t.name].build_id) if t.name in marks else None,
        )
        for t in spec.triggers
    ]
    return states


def _next_due(schedule: Schedule, now: datetime) -> datetime:
    if schedule.every_s:
        return schedule.previous_due(now) + timedelta(seconds=schedule.every_s)
    moment = now
    for _ in range(60 * 24 * 8):  # minute by minute, at most eight days ahead
        moment += timedelta(minutes=1)
        if schedule.previous_due(moment) > now:
            return schedule.previous_due(moment)
    return schedule.previous_due(now + timedelta(days=366))
