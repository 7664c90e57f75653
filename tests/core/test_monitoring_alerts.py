"""The alert lifecycle (open → extended → resolved when the condition clears or a newer production
model takes over) on real windows, and the folding of alerts into incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register
from core.errors import InvalidInput, NotFound
from core.monitoring.alerts import (
    AlertRule,
    RuleOutcome,
    acknowledge,
    acknowledge_alerts,
    evaluate_rules,
    get_alert,
    list_alerts,
)
from core.monitoring.incidents import group_alerts
from core.monitoring.models import Alert, Window
from core.projects.service import Project
from core.store import Workspace

WEEK = timedelta(weeks=1)
START = datetime(2026, 8, 3)


def _windows(volumes: list[tuple[int | None, int | None, float]]) -> list[Window]:
    """Week windows from (model id, model version, volume)."""
    return [
        Window(
            "tickets",
            "week",
            START + i * WEEK,
            START + (i + 1) * WEEK,
            model,
            version,
            {("volume", ""): (volume, int(volume))},
        )
        for i, (model, version, volume) in enumerate(volumes)
    ]


def _evaluate(ws: Workspace, project: Project, actor: Actor, windows: list[Window]) -> RuleOutcome:
    busy = AlertRule("busy-week", "volume", ">", 100.0, "warning", min_volume=1)
    with ws.store.transaction() as tx:
        return evaluate_rules(ws, tx, project.spec, windows, [busy], {}, {}, {}, actor)


def _model(ws: Workspace, actor: Actor, version: str) -> int:
    found = register(
        ws, NewArtifact("model", "tickets.model", project="tickets", content_hash=version), actor
    )
    return found.artifact_id


def test_a_breach_that_clears_is_resolved_and_a_new_breach_opens_a_new_alert(
    ws: Workspace, tickets: Project, actor: Actor
) -> None:
    v1 = _model(ws, actor, "a")
    windows = _windows([(v1, 1, 150), (v1, 1, 160), (v1, 1, 50), (v1, 1, 170)])
    outcome = _evaluate(ws, tickets, actor, windows)
    first, second = sorted(outcome.opened, key=lambda a: a.alert_id)
    first = get_alert(ws, first.alert_id)
    assert (first.status, first.active, first.windows) == ("resolved", False, 2)
    assert (first.first_window, first.last_window) == (windows[0].start, windows[1].start)
    assert first.resolution == "Cleared: 50 predictions in the week of 2026-08-17."
    assert first.acks[-1][0] == "loopline" and outcome.resolved == [first.alert_id]
    assert (second.status, second.first_window) == ("open", windows[3].start)
    with pytest.raises(InvalidInput, match=f"Alert #{first.alert_id} is already resolved"):
        acknowledge(ws, first.alert_id, actor, "seen")
    # evaluating the same windows again changes nothing
    again = _evaluate(ws, tickets, actor, windows)
    assert again.opened == [] and again.resolved == []
    assert [a.alert_id for a in list_alerts(ws, "tickets")] == [second.alert_id, first.alert_id]
    assert [a.alert_id for a in list_alerts(ws, "tickets", status="resolved")] == [first.alert_id]


def test_an_acknowledged_alert_resolves_when_its_condition_clears(
    ws: Workspace, tickets: Project, actor: Actor
) -> None:
    v1 = _model(ws, actor, "a")
    (alert,) = _evaluate(ws, tickets, actor, _windows([(v1, 1, 150)])).opened
    acknowledge(ws, alert.alert_id, actor, "a campaign week")
    _evaluate(ws, tickets, actor, _windows([(v1, 1, 150), (v1, 1, 20)]))
    done = get_alert(ws, alert.alert_id)
    assert done.status == "resolved"
    assert [who for who, _, _ in done.acks] == ["tester", "loopline"]


def test_an_incidents_alerts_are_acknowledged_together_or_not_at_all(
    ws: Workspace, tickets: Project, actor: Actor
) -> None:
    v1 = _model(ws, actor, "a")
    rules = [
        AlertRule("busy-week", "volume", ">", 100.0, "warning", min_volume=1),
        AlertRule("very-busy-week", "volume", ">", 120.0, "critical", min_volume=1),
    ]
    with ws.store.transaction() as tx:
        outcome = evaluate_rules(
            ws, tx, tickets.spec, _windows([(v1, 1, 150)]), rules, {}, {}, {}, actor
        )
    ids = sorted(a.alert_id for a in outcome.opened)
    assert len(ids) == 2

    def acks() -> int:
        with ws.store.read() as tx:
            return int(tx.scalar("SELECT count(*) FROM audit_log WHERE action = 'alert.ack'"))

    with pytest.raises(InvalidInput, match="^Say what you will do about the alert"):
        acknowledge_alerts(ws, ids, actor, "  ")
    with pytest.raises(NotFound, match=r"^No alert #999999\.$"):
        acknowledge_alerts(ws, [ids[0], 999999], actor, "seen")
    assert [get_alert(ws, a).status for a in ids] == ["open", "open"] and acks() == 0
    done = acknowledge_alerts(ws, [ids[1], ids[0]], actor, " a campaign week ")
    assert [a.alert_id for a in done] == [ids[1], ids[0]]
    assert all(a.status == "acknowledged" for a in done)
    assert all(a.acks[-1][:2] == ("tester", "a campaign week") for a in done)
    assert acks() == 2  # one audit row per alert, written in the same unit of work


def test_a_newer_production_model_supersedes_the_alert(
    ws: Workspace, tickets: Project, actor: Actor
) -> None:
    v1, v2 = _model(ws, actor, "a"), _model(ws, actor, "b")
    windows = _windows([(v1, 1, 150), (v1, 1, 150), (v2, 2, 150), (v2, 2, 40), (None, None, 0)])
    outcome = _evaluate(ws, tickets, actor, windows)
    old, new = sorted(outcome.opened, key=lambda a: a.alert_id)
    old, new = get_alert(ws, old.alert_id), get_alert(ws, new.alert_id)
    assert (old.model_id, old.status, old.last_window) == (v1, "resolved", windows[1].start)
    assert old.resolution == (
        "Superseded: production v2 serves the week of 2026-08-17; it is judged on its own windows."
    )
    assert (new.model_id, new.first_window, new.status) == (v2, windows[2].start, "resolved")
    assert (new.resolution or "").startswith("Cleared: 40 predictions in the week of ")
    assert [i.incident_id for i in group_alerts(list_alerts(ws, "tickets"))] == [
        new.alert_id,
        old.alert_id,
    ]


# -- incidents (pure) --------------------------------------------------------------------------


def _alert(
    alert_id: int,
    metric: str,
    first: str,
    last: str,
    *,
    model: int = 7,
    severity: str = "warning",
    status: str = "open",
    grain: str = "week",
    slice_name: str = "",
    project: str = "p",
) -> Alert:
    start, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return Alert(
        alert_id,
        project,
        metric,
        metric,
        slice_name,
        grain,
        ">",
        1.0,
        None,
        severity,
        status,
        status != "resolved",
        start,
        end,
        1,
        2.0,
        100,
        model,
        None,
        {},
        start,
        end,
    )


def test_alerts_whose_windows_overlap_or_touch_are_one_incident() -> None:
    drift = _alert(1, "drift.score", "2026-08-03", "2026-08-24")
    accuracy = _alert(2, "accuracy", "2026-08-10", "2026-08-17", severity="critical")
    touching = _alert(3, "recall.ooo", "2026-08-31", "2026-08-31")  # the week after drift's last
    later = _alert(4, "latency_p95_ms", "2026-09-21", "2026-09-21")
    (second, first) = group_alerts([later, touching, accuracy, drift])
    assert [a.alert_id for a in first.alerts] == [2, 3, 1]  # most severe, then newest
    assert first.incident_id == 1 and first.severity == "critical"
    assert first.lead.alert_id == 2
    assert first.headline == "realized accuracy, recall of ooo and 1 more"  # named for people
    assert first.label == (
        "Incident #1 (critical, 3 alerts): realized accuracy, recall of ooo and 1 more"
    )
    assert (first.first_window, first.last_window) == (drift.first_window, touching.last_window)
    assert [a.alert_id for a in second.alerts] == [4]


def test_another_model_or_project_is_another_incident() -> None:
    v1 = _alert(1, "drift.score", "2026-08-03", "2026-08-24", model=7)
    v2 = _alert(2, "drift.score", "2026-08-24", "2026-09-28", model=9)
    other = _alert(3, "drift.score", "2026-08-03", "2026-08-24", project="q")
    incidents = group_alerts([v1, v2, other])
    assert sorted(tuple(a.alert_id for a in i.alerts) for i in incidents) == [(1,), (2,), (3,)]


def test_incident_status_follows_its_alerts() -> None:
    done = _alert(1, "drift.score", "2026-08-03", "2026-08-10", status="resolved")
    seen = _alert(2, "accuracy", "2026-08-03", "2026-08-10", status="acknowledged")
    (only,) = group_alerts([done, seen])
    assert only.status == "acknowledged" and only.firing
    assert only.lead.alert_id == 2  # act on what is still open
    (closed,) = group_alerts([done])
    assert closed.status == "resolved" and not closed.firing
    (day,) = group_alerts(
        [
            _alert(1, "volume", "2026-08-03", "2026-08-03", grain="day"),
            _alert(2, "accuracy", "2026-08-04", "2026-08-04", grain="day"),
        ]
    )
    assert len(day.alerts) == 2
    assert (
        len(
            group_alerts(
                [
                    _alert(1, "volume", "2026-08-03", "2026-08-03", grain="day"),
                    _alert(2, "accuracy", "2026-08-05", "2026-08-05", grain="day"),
                ]
            )
        )
        == 2
    )  # a quiet day between them
