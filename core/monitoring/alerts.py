"""Alerts: the rules evaluated over computed windows, alert records and acknowledgements.

The rules are in ``rules.py``. An alert is about one rule, metric, slice and grain **for one
production model**:

- a breach opens ONE alert; later breaching windows of the same model extend it;
- recomputing a window changes nothing;
- a later window where the condition holds again resolves it (``resolved``, with a note in its
  timeline), acknowledged or not; a new breach after that opens a new alert;
- a window served by a newer production model resolves it as superseded: the new model is judged
  on its own windows, and opens its own alert if it breaches too.

Every alert is also registered as a ``monitoring`` artifact carrying its evidence, so lineage can
start from it. ``group_alerts`` folds alerts that describe one problem into incidents.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from core.accounts.access import readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register
from core.errors import InvalidInput, NotFound, expected_one_of
from core.monitoring.models import Alert, FeatureDrift, Reference, Window
from core.monitoring.ranking import ranked
from core.monitoring.rules import AlertRule, default_rules
from core.monitoring.words import figure_text, window_phrase
from core.projects.spec import ProjectSpec
from core.store import Tx, Workspace, utcnow

EVIDENCE_METRICS = (
    "volume",
    "error_rate",
    "latency_p95_ms",
    "accuracy",
    "estimated.accuracy",
    "labeled",
    "drift.score",
    "drift.share",
)
DRIFT_ROWS = 8  # the features an alert's evidence keeps, highest drift score first


def _reference_value(reference: Reference | None, metric: str, slice_name: str) -> float | None:
    if reference is None:
        return None
    base = metric.removeprefix("estimated.")
    for where in (slice_name, ""):
        value = reference.evaluation.get(where, {}).get(base)
        if value is not None:
            return float(value)
    return None


def _evidence(
    window: Window,
    rule: AlertRule,
    metric: str,
    slice_name: str,
    value: float,
    n: int | None,
    reference: float | None,
    drift: Sequence[FeatureDrift],
) -> dict[str, Any]:
    top = ranked(
        {"feature": d.feature, "n": d.n, **d.statistics}
        for d in drift
        if "psi" in d.statistics or "novelty" in d.statistics
    )[:DRIFT_ROWS]
    return {
        "rule": asdict(rule),
        "metric": metric,
        "slice": slice_name,
        "value": value,
        "n": n,
        "threshold": rule.threshold,
        "reference": reference,
        "window": {
            "grain": window.grain,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
        },
        "model": {"id": window.model_id, "version": window.model_version},
        "figures": {m: window.value(m) for m in EVIDENCE_METRICS if window.value(m) is not None},
        "drift": top,  # ranked by the score that ticks them (core/monitoring/ranking.py)
    }


_ALERT_COLUMNS = (
    "alert_id, project, rule, metric, slice, grain, comparator, threshold, reference, severity, "
    "status, active, first_window, last_window, windows, value, n, model_id, artifact_id, "
    "evidence, created_at, updated_at"
)


SYSTEM = "loopline"  # who writes the timeline notes monitoring adds to an alert
STATUSES = ("open", "acknowledged", "resolved")


@dataclass(frozen=True)
class RuleOutcome:
    """What one evaluation did to the alerts."""

    opened: list[Alert]
    resolved: list[int]


def evaluate_rules(
    ws: Workspace,
    tx: Tx,
    spec: ProjectSpec,
    windows: Sequence[Window],
    rules: Sequence[AlertRule],
    references: Mapping[str, Reference | None],
    drift: Mapping[datetime, Sequence[FeatureDrift]],
    dominant: Mapping[datetime, str],
    actor: Actor,
) -> RuleOutcome:
    """Check every rule on every window, oldest first."""
    opened: list[int] = []
    resolved: list[int] = []
    for window in sorted(windows, key=lambda w: w.start):
        reference = references.get(dominant.get(window.start, ""))
        for rule in rules:
            for (metric, slice_name), (value, n) in sorted(window.metrics.items()):
                if value is None or not _watches(rule, metric, slice_name, n):
                    continue
                base = _reference_value(reference, metric, slice_name)
                if rule.comparator == "drop" and base is None:
                    continue
                key = [spec.name, rule.name, metric, slice_name, window.grain]
                live = _live_alert(tx, key)
                breached = rule.breached(value, base)
                if live is not None and _superseded(tx, live, window):
                    resolved.append(live[0])
                    live = None
                if live is not None:
                    if _follow(tx, live[0], live[1], window, metric, breached, value, n):
                        resolved.append(live[0])
                    continue
                if not breached or _already_alerted(tx, key, window.start):
                    continue  # fine, or this window's breach is already part of an earlier alert
                evidence = _evidence(
                    window, rule, metric, slice_name, value, n, base, drift.get(window.start, ())
                )
                args = (rule, metric, slice_name, window, value, n, base, evidence, actor)
                opened.append(_open(ws, tx, spec.name, *args))
    return RuleOutcome([get_alert(ws, a) for a in opened], resolved)


def _watches(rule: AlertRule, metric: str, slice_name: str, n: int | None) -> bool:
    """Whether the rule judges this figure (its metric and slice, on enough items)."""
    return (
        fnmatch.fnmatchcase(metric, rule.metric)
        and fnmatch.fnmatchcase(slice_name, rule.slice)
        and (n or 0) >= rule.min_volume
    )


def _live_alert(tx: Tx, key: list[Any]) -> tuple[Any, ...] | None:
    """The alert still standing for (project, rule, metric, slice, grain): id, last window, model."""
    return tx.one(
        "SELECT alert_id, last_window, model_id FROM alerts WHERE project = ? "
        "AND rule = ? AND metric = ? AND slice = ? AND grain = ? "
        "AND status <> 'resolved' ORDER BY alert_id DESC LIMIT 1",
        key,
    )


def _superseded(tx: Tx, live: tuple[Any, ...], window: Window) -> bool:
    """A later window served by another production model resolves the live alert."""
    alert_id, last, model_id = live
    if window.model_id is None or model_id == window.model_id or window.start <= last:
        return False
    _resolve(
        tx,
        alert_id,
        f"Superseded: production v{window.model_version} serves "
        f"{window_phrase(window.grain, window.start)}; it is judged on its own windows.",
    )
    return True


def _already_alerted(tx: Tx, key: list[Any], start: datetime) -> bool:
    """Whether an earlier alert (of the same key) already covers the window."""
    return (
        tx.one(
            "SELECT 1 FROM alerts WHERE project = ? AND rule = ? AND metric = ? AND slice = ? "
            "AND grain = ? AND first_window <= ? AND last_window >= ?",
            [*key, start, start],
        )
        is not None
    )


def _follow(
    tx: Tx,
    alert_id: int,
    last: datetime,
    window: Window,
    metric: str,
    breached: bool,
    value: float,
    n: int | None,
) -> bool:
    """A live alert meets a window of its model: a later breach extends it, a later window where
    the condition holds resolves it. Returns whether it resolved."""
    now = utcnow()
    start = window.start
    if start > last and breached:
        tx.execute(
            "UPDATE alerts SET last_window = ?, windows = windows + 1, value = ?, n = ?, "
            "active = true, updated_at = ? WHERE alert_id = ?",
            [start, value, n, now, alert_id],
        )
    elif start > last and not breached:
        _resolve(
            tx,
            alert_id,
            f"Cleared: {figure_text(metric, value)} in {window_phrase(window.grain, start)}.",
        )
        return True
    elif start == last:
        tx.execute(
            "UPDATE alerts SET value = ?, n = ?, active = ?, updated_at = ? WHERE alert_id = ?",
            [value, n, breached, now, alert_id],
        )
    return False


def _resolve(tx: Tx, alert_id: int, note: str) -> None:
    now = utcnow()
    tx.execute(
        "UPDATE alerts SET status = 'resolved', active = false, updated_at = ? WHERE alert_id = ?",
        [now, alert_id],
    )
    tx.execute(
        'INSERT INTO alert_acks (alert_id, actor, note, "at") VALUES (?, ?, ?, ?)',
        [alert_id, SYSTEM, note, now],
    )


def _open(
    ws: Workspace,
    tx: Tx,
    project: str,
    rule: AlertRule,
    metric: str,
    slice_name: str,
    window: Window,
    value: float,
    n: int | None,
    reference: float | None,
    evidence: dict[str, Any],
    actor: Actor,
) -> int:
    alert_id = int(tx.scalar("SELECT nextval('alert_ids')"))
    now = utcnow()
    tx.execute(
        f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', true, ?, ?, 1, ?, ?, ?, NULL, ?, ?, ?)",
        [
            alert_id,
            project,
            rule.name,
            metric,
            slice_name,
            window.grain,
            rule.comparator,
            rule.threshold,
            reference,
            rule.severity,
            window.start,
            window.start,
            value,
            n,
            window.model_id,
            json.dumps(evidence, default=str),
            now,
            now,
        ],
    )
    artifact = register(
        ws,
        NewArtifact(
            "monitoring",
            f"{project}.alert",
            project=project,
            metadata={"alert_id": alert_id, "severity": rule.severity, **evidence},
            files={"evidence.json": json.dumps(evidence, indent=1, default=str).encode()},
            inputs=[("describes", window.model_id)] if window.model_id else (),
        ),
        actor,
    )
    tx.execute(
        "UPDATE alerts SET artifact_id = ? WHERE alert_id = ?", [artifact.artifact_id, alert_id]
    )
    return alert_id


def _alerts(tx: Tx, where: str, params: list[Any]) -> list[Alert]:
    rows = tx.rows(f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY alert_id DESC", params)
    ids = [r[0] for r in rows]
    acks: dict[int, list[tuple[str, str, datetime]]] = {}
    if ids:
        for alert_id, who, note, at in tx.rows(
            'SELECT alert_id, actor, note, "at" FROM alert_acks '
            'WHERE alert_id IN (SELECT unnest(?::BIGINT[])) ORDER BY "at"',
            [ids],
        ):
            acks.setdefault(alert_id, []).append((who, note, at))
    out = []
    for row in rows:
        fields: list[Any] = [*row[:19], json.loads(row[19]), row[20], row[21]]
        fields.append(tuple(acks.get(row[0], ())))
        out.append(Alert(*fields))
    return out


def list_alerts(
    ws: Workspace, project: str | None = None, *, status: str | None = None
) -> list[Alert]:
    """Newest first; ``status`` is ``open``, ``acknowledged`` or ``resolved``."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(expected_one_of("alert status", status, STATUSES))
    clauses, params = [], []
    for clause, value in (("project = ?", project), ("status = ?", status)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    with ws.store.read() as tx:
        scope = readable(tx, None, "monitoring.read", project)
        found = _alerts(tx, ("WHERE " + " AND ".join(clauses)) if clauses else "", params)
    return found if scope is None else [a for a in found if a.project in scope]


def get_alert(ws: Workspace, alert_id: int) -> Alert:
    with ws.store.read() as tx:
        found = _alerts(tx, "WHERE alert_id = ?", [int(alert_id)])
    if not found:
        raise NotFound(f"No alert #{alert_id}.", hint="list them with `loopline alerts PROJECT`")
    return found[0]


def acknowledge(ws: Workspace, alert_id: int, actor: Actor, note: str) -> Alert:
    """Mark an alert as seen, with a note saying what is being done about it."""
    return acknowledge_alerts(ws, [alert_id], actor, note)[0]


def acknowledge_alerts(
    ws: Workspace, alert_ids: Sequence[int], actor: Actor, note: str
) -> list[Alert]:
    """Mark several alerts as seen (an incident's open ones) with one note, in one unit of work:
    all of them are acknowledged, or none is and the first refusal is raised."""
    ids = list(dict.fromkeys(int(a) for a in alert_ids))
    with ws.store.transaction() as tx:
        alerts = _acknowledgeable(tx, ids, note)
        now = utcnow()
        for alert in alerts:
            _acknowledge(tx, alert, actor, note.strip(), now)
    with ws.store.read() as tx:
        done = {a.alert_id: a for a in _alerts(tx, _BY_IDS, [ids])}
    return [done[a] for a in ids]


_BY_IDS = "WHERE alert_id IN (SELECT unnest(?::BIGINT[]))"


def _acknowledgeable(tx: Tx, ids: list[int], note: str) -> list[Alert]:
    """The alerts to acknowledge, in the order asked: each must exist and still stand, and the
    note must say something."""
    found = {a.alert_id: a for a in _alerts(tx, _BY_IDS, [ids])}
    for alert_id in ids:
        alert = found.get(alert_id)
        if alert is None:
            raise NotFound(
                f"No alert #{alert_id}.", hint="list them with `loopline alerts PROJECT`"
            )
        if alert.status == "resolved":
            raise InvalidInput(
                f"Alert #{alert.alert_id} is already resolved: {alert.resolution or 'cleared'}",
                hint="a new breach opens a new alert; `loopline alerts PROJECT --all` lists them",
            )
    if not note.strip():
        raise InvalidInput(
            "Say what you will do about the alert (the note is kept with it).",
            hint="e.g. 'German replies arrive; labeling them in task #12'",
        )
    return [found[a] for a in ids]


def _acknowledge(tx: Tx, alert: Alert, actor: Actor, note: str, now: datetime) -> None:
    """One alert acknowledged: its status, its timeline note and the audit row."""
    tx.execute(
        "UPDATE alerts SET status = 'acknowledged', updated_at = ? WHERE alert_id = ?",
        [now, alert.alert_id],
    )
    tx.execute(
        'INSERT INTO alert_acks (alert_id, actor, note, "at") VALUES (?, ?, ?, ?)',
        [alert.alert_id, actor.name, note, now],
    )
    record(
        tx,
        actor,
        "alert.ack",
        project=alert.project,
        target=f"alert #{alert.alert_id}",
        details={"note": note, "metric": alert.metric, "was": alert.status},
    )


__all__ = [
    "AlertRule",
    "RuleOutcome",
    "acknowledge",
    "acknowledge_alerts",
    "default_rules",
    "evaluate_rules",
    "get_alert",
    "list_alerts",
]
