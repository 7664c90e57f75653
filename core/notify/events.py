"""Events derived from what the store already records, queued once per webhook.

Nothing else in Loopline calls the notifier: it reads the tables the other packages write —
``alerts`` (opened; resolved), ``audit_log`` (builds that failed or were aborted),
``alias_history`` (promotions; a move to an older version is a rollback) and
``requirement_status_history`` (status changes) — from a durable cursor per append-only source
(``notify_cursors``: the last id read). ``queue_events`` reads what is new, queues one delivery per
interested webhook (``webhook_deliveries``, keyed by the event's key, never twice) and moves the
cursors, all in one transaction: a crash before the commit queues nothing and reads again; after
it, the outbox holds every event. A webhook is told only of events recorded after it was added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

from core.monitoring.alerts import SYSTEM as MONITORING
from core.monitoring.words import alert_sentence, metric_name, named
from core.notify.models import Event, Webhook
from core.notify.payload import payload_of
from core.store import Tx, Workspace, utcnow

Source = Callable[[Tx, int], tuple[list[Event], int]]


def queue_events(ws: Workspace, webhooks: list[Webhook]) -> int:
    """Queue every new event for the webhooks that want it; how many deliveries were queued."""
    active = [w for w in webhooks if w.active]
    with ws.store.transaction() as tx:
        events: list[Event] = []
        for name, source in SOURCES.items():
            found, last = source(tx, _cursor(tx, name))
            events += found
            _move_cursor(tx, name, last)
        events += _resolved_alerts(tx, active)
        return sum(_queue(tx, event, active) for event in events)


def _queue(tx: Tx, event: Event, webhooks: Iterable[Webhook]) -> int:
    queued = 0
    for hook in webhooks:
        if hook.project != event.project or event.event not in hook.events:
            continue
        if event.at < hook.created_at:
            continue
        if tx.one(
            "SELECT 1 FROM webhook_deliveries WHERE webhook_id = ? AND event_key = ?",
            [hook.webhook_id, event.key],
        ):
            continue
        tx.execute(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_key, event, project, "
            "payload, status, attempts, next_attempt_at, created_at) VALUES "
            "(nextval('webhook_delivery_ids'), ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            [
                hook.webhook_id,
                event.key,
                event.event,
                event.project,
                json.dumps(payload_of(event, hook.format), default=str),
                utcnow(),
                utcnow(),
            ],
        )
        queued += 1
    return queued


def _cursor(tx: Tx, source: str) -> int:
    row = tx.one("SELECT last_key FROM notify_cursors WHERE source = ?", [source])
    return 0 if row is None else int(row[0])


def _move_cursor(tx: Tx, source: str, last: int) -> None:
    tx.execute(
        "INSERT OR REPLACE INTO notify_cursors (source, last_key, updated_at) VALUES (?, ?, ?)",
        [source, last, utcnow()],
    )


def _opened_alerts(tx: Tx, after: int) -> tuple[list[Event], int]:
    rows = tx.rows(
        "SELECT alert_id, project, rule, metric, slice, severity, value, threshold, comparator, "
        "created_at, reference, grain, first_window FROM alerts WHERE alert_id > ? "
        "ORDER BY alert_id",
        [after],
    )
    events = [
        Event(
            f"alert.opened:{r[0]}",
            "alert.opened",
            r[1],
            r[9],
            f"[{r[1]}] alert #{r[0]} opened ({r[5]}): "
            + alert_sentence(r[3], r[4], r[6], r[8], r[7], r[10], r[11], r[12], 1),
            {
                "alert_id": r[0],
                "rule": r[2],
                "metric": r[3],
                "name": metric_name(r[3]),
                "slice": r[4],
                "severity": r[5],
                "value": r[6],
                "threshold": r[7],
                "comparator": r[8],
            },
        )
        for r in rows
    ]
    return events, max([after, *(int(r[0]) for r in rows)])


def _resolved_alerts(tx: Tx, webhooks: list[Webhook]) -> list[Event]:
    """Resolved alerts have no append-only row: read those resolved since the oldest webhook of
    their project was added (the delivery key keeps each one to one delivery)."""
    since: dict[str, datetime] = {}
    for hook in webhooks:
        if "alert.resolved" in hook.events:
            since[hook.project] = min(since.get(hook.project, hook.created_at), hook.created_at)
    events = []
    for project, moment in since.items():
        for r in tx.rows(
            "SELECT a.alert_id, a.rule, a.metric, a.updated_at, a.slice, (SELECT k.note FROM "
            'alert_acks k WHERE k.alert_id = a.alert_id AND k.actor = ? ORDER BY k."at" DESC '
            "LIMIT 1) FROM alerts a WHERE a.project = ? AND a.status = 'resolved' "
            "AND a.updated_at >= ? ORDER BY a.alert_id",
            [MONITORING, project, moment],
        ):
            why = f" — {r[5]}" if r[5] else ""
            events.append(
                Event(
                    f"alert.resolved:{r[0]}",
                    "alert.resolved",
                    project,
                    r[3],
                    f"[{project}] alert #{r[0]} resolved: {named(r[2], r[4])}{why}",
                    {
                        "alert_id": r[0],
                        "rule": r[1],
                        "metric": r[2],
                        "name": metric_name(r[2]),
                        "resolution": r[5],
                    },
                )
            )
    return events


_BUILD_ENDS = ("build.failed", "build.aborted", "build.reaped")
# The build an audit row is about, by its id (one equality: a hash join): a row names the build
# by its number (target ``build 3``) and carries its id in ``details.build_id``; rows written
# before that (target ``build #<build_id>``, no id in the details) by the id in their target.
_AUDITED_BUILD = (
    "b.build_id = coalesce(TRY_CAST(a.details->>'build_id' AS BIGINT), "
    "CASE WHEN a.target LIKE 'build #%' THEN TRY_CAST(a.target[8:] AS BIGINT) END)"
)


def _failed_builds(tx: Tx, after: int) -> tuple[list[Event], int]:
    last = tx.one("SELECT max(audit_id) FROM audit_log")
    newest = int(last[0]) if last and last[0] is not None else after
    rows = tx.rows(
        'SELECT a.audit_id, a.project, a.target, a.action, a."at", b.build_id, b.status, '
        f"b.reason, b.trigger, b.number FROM audit_log a LEFT JOIN builds b ON {_AUDITED_BUILD} "
        "WHERE a.audit_id > ? AND a.audit_id <= ? AND a.action IN (?, ?, ?) ORDER BY a.audit_id",
        [after, newest, *_BUILD_ENDS],
    )
    events = [
        Event(
            f"build.failed:{r[5] if r[5] is not None else r[2]}",
            "build.failed",
            r[1],
            r[4],
            f"[{r[1]}] {f'build #{r[9]}' if r[9] is not None else r[2]} "
            f"{r[6] or r[3].split('.')[-1]}: {r[7] or 'no reason given'}",
            {"build_id": r[5], "number": r[9], "status": r[6], "reason": r[7], "trigger": r[8]},
        )
        for r in rows
        if r[1] is not None
    ]
    return events, max(after, newest)


def _alias_moves(tx: Tx, after: int) -> tuple[list[Event], int]:
    rows = tx.rows(
        'SELECT h.entry_id, h.project, h.alias, h."at", h.actor, h.reason, h.build_id, '
        "n.name, n.version, p.version, b.number FROM alias_history h "
        "JOIN artifacts n ON n.artifact_id = h.artifact_id "
        "LEFT JOIN artifacts p ON p.artifact_id = h.previous_artifact_id "
        "LEFT JOIN builds b ON b.build_id = h.build_id "
        "WHERE h.entry_id > ? ORDER BY h.entry_id",
        [after],
    )
    events = []
    for r in rows:
        back = r[9] is not None and r[8] < r[9]
        event = "model.rolled_back" if back else "model.promoted"
        verb = "rolled back to" if back else "promoted"
        events.append(
            Event(
                f"{event}:{r[0]}",
                event,
                r[1],
                r[3],
                f"[{r[1]}] {r[7]} v{r[8]} {verb} {r[2]}"
                + (f" (was v{r[9]})" if r[9] is not None else "")
                + f" by {r[4]}: {r[5]}",
                {
                    "alias": r[2],
                    "model": r[7],
                    "version": r[8],
                    "previous_version": r[9],
                    "actor": r[4],
                    "reason": r[5],
                    "build_id": r[6],
                    "build_number": r[10],
                },
            )
        )
    return events, max([after, *(int(r[0]) for r in rows)])


def _status_changes(tx: Tx, after: int) -> tuple[list[Event], int]:
    rows = tx.rows(
        "SELECT entry_id, project, requirement_id, level, status, previous_status, value, "
        'threshold, cause, "at" FROM requirement_status_history WHERE entry_id > ? '
        "ORDER BY entry_id",
        [after],
    )
    events = [
        Event(
            f"requirement.status_changed:{r[0]}",
            "requirement.status_changed",
            r[1],
            r[9],
            f"[{r[1]}] {r[2]} {r[5] or 'new'} → {r[4]} ({r[8]})",
            {
                "requirement_id": r[2],
                "level": r[3],
                "status": r[4],
                "previous_status": r[5],
                "value": r[6],
                "threshold": r[7],
                "cause": r[8],
            },
        )
        for r in rows
        if r[4] != r[5]
    ]
    return events, max([after, *(int(r[0]) for r in rows)])


SOURCES: dict[str, Source] = {
    "alerts": _opened_alerts,
    "audit_log": _failed_builds,
    "alias_history": _alias_moves,
    "requirement_status_history": _status_changes,
}
