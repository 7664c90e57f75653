"""Incidents: the alerts that describe one problem, read as one.

When a new market arrives, monitoring sees it in several places at once: the drift score, the
estimated precision before feedback, the realized accuracy per language once it comes, the
requirement rules on those slices, in day and in week windows. Each is its own alert (each has its
own rule, evidence and life), but people act on the problem. Alerts of one project and one
production model whose windows overlap or follow each other form one incident, as Alertmanager
groups alerts and a pager opens one incident for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.monitoring.models import Alert, count

GRAIN_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}


@dataclass(frozen=True)
class Incident:
    """Alerts of one project and model whose windows overlap; most severe and newest first."""

    project: str
    model_id: int | None
    alerts: tuple[Alert, ...]

    @property
    def incident_id(self) -> int:
        """The first alert's id: an incident is named after the alert that opened it."""
        return min(a.alert_id for a in self.alerts)

    @property
    def lead(self) -> Alert:
        """The alert to act on: the most severe still-open one, else the longest-standing."""
        return max(
            self.alerts,
            key=lambda a: (a.status != "resolved", _rank(a), a.windows, -a.alert_id),
        )

    @property
    def severity(self) -> str:
        return max((a.severity for a in self.alerts), key=_rank_name)

    @property
    def status(self) -> str:
        """``open`` while any alert is, else ``acknowledged`` while any is, else ``resolved``."""
        statuses = {a.status for a in self.alerts}
        return next((s for s in ("open", "acknowledged") if s in statuses), "resolved")

    @property
    def firing(self) -> bool:
        return any(a.active for a in self.alerts)

    @property
    def first_window(self) -> datetime:
        return min(a.first_window for a in self.alerts)

    @property
    def last_window(self) -> datetime:
        return max(a.last_window for a in self.alerts)

    @property
    def headline(self) -> str:
        """``drift score, realized accuracy [language = de] and 4 more``."""
        names: list[str] = []
        for alert in self.alerts:
            name = alert.name
            if name not in names:
                names.append(name)
        shown = ", ".join(names[:2])
        return shown + (f" and {len(names) - 2} more" if len(names) > 2 else "")

    @property
    def label(self) -> str:
        alerts = count(len(self.alerts), "alert")
        return f"Incident #{self.incident_id} ({self.severity}, {alerts}): {self.headline}"


def group_alerts(alerts: Sequence[Alert]) -> list[Incident]:
    """Fold alerts into incidents; newest incident first."""
    incidents: list[Incident] = []
    by_model: dict[tuple[str, int | None], list[Alert]] = {}
    for alert in alerts:
        by_model.setdefault((alert.project, alert.model_id), []).append(alert)
    for (project, model_id), members in by_model.items():
        group: list[Alert] = []
        reach = datetime.min  # where the group's latest window ends
        for alert in sorted(members, key=lambda a: (a.first_window, a.alert_id)):
            if group and alert.first_window > reach:
                incidents.append(_incident(project, model_id, group))
                group = []
            group.append(alert)
            reach = max(reach, _end(alert)) if len(group) > 1 else _end(alert)
        if group:
            incidents.append(_incident(project, model_id, group))
    return sorted(incidents, key=lambda i: (i.last_window, i.incident_id), reverse=True)


def _incident(project: str, model_id: int | None, group: list[Alert]) -> Incident:
    ordered = sorted(group, key=lambda a: (-_rank(a), a.status == "resolved", -a.alert_id))
    return Incident(project, model_id, tuple(ordered))


def _end(alert: Alert) -> datetime:
    """Where an alert's last window ends: the next window touching it belongs to the same story."""
    return alert.last_window + GRAIN_LENGTH.get(alert.grain, timedelta(0))


def _rank(alert: Alert) -> int:
    return _rank_name(alert.severity)


def _rank_name(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)
