"""Monitoring: the dashboard and a feature's distribution, recorded windows, computing new ones,
alerts and incidents, and the actions that close the loop (acknowledge, retrain, label)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.api.area import Area, Handle, Progress
from core.labeling.models import Task
from core.monitoring.alerts import acknowledge, acknowledge_alerts, get_alert, list_alerts
from core.monitoring.dashboard import (
    Dashboard,
    FeatureDistribution,
    dashboard,
    feature_distribution,
)
from core.monitoring.incidents import Incident, group_alerts
from core.monitoring.loop import send_to_labeling, tasks_of
from core.monitoring.models import Alert, MonitorReport, RetrainRequest, Window
from core.monitoring.ranking import COLUMN_HELP, RULE, table_rows
from core.monitoring.retrain import list_retrain_requests, request_retraining
from core.monitoring.service import compute_windows
from core.monitoring.windows import (
    drift_table,
    latest_windows,
    recorded_grains,
    window_starts,
)
from core.releases.canary import check_canary
from core.serving.hosts import ReceivedSegment, receive_segment
from core.serving.log import Quarantine, quarantine_summary


class Located(Handle, Protocol):
    """A client that also knows its workspace folder (the quarantine is read from files there,
    without opening the workspace)."""

    @property
    def location(self) -> Path: ...


class Monitoring(Area):
    def __init__(self, client: Located) -> None:
        super().__init__(client)
        self._located = client

    # reading
    def dashboard(
        self,
        project: str,
        grain: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: int | None = None,
    ) -> Dashboard:
        """The recorded windows' figures (DataFrames: JSON records over a remote transport),
        drift per feature, model changes and alerts."""
        return dashboard(
            self._ws, project, grain, since=since, until=until, model_version=model_version
        )

    def feature_distribution(
        self, project: str, feature: str, grain: str, window: datetime
    ) -> FeatureDistribution:
        """One feature in one window against the serving model's training data."""
        return feature_distribution(self._ws, project, feature, grain, window)

    def latest_windows(self, project: str, grain: str = "day", count: int = 14) -> list[Window]:
        """The latest ``count`` recorded windows, oldest first, with every figure."""
        return latest_windows(self._ws, project, grain, count)

    DRIFT_RULE = RULE  # which test decides "drifted", and so the ranking
    DRIFT_COLUMN_HELP = COLUMN_HELP

    @staticmethod
    def drift_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Drift rows (an alert's evidence) ranked by the score that ticks them, as a table
        shows them: feature, score, drifted, n, PSI, p and its test, JS, KS, unseen tokens."""
        return table_rows(rows)

    @staticmethod
    def drift_table(window: Window) -> dict[str, dict[str, float]]:
        """Per feature, the drift statistics recorded for ``window``."""
        return drift_table(window)

    def grains(self, project: str) -> list[str]:
        """The window sizes recorded for the project (``hour``, ``day``, …)."""
        return recorded_grains(self._ws, project)

    def windows(self, project: str, grain: str) -> list[datetime]:
        """The start of every recorded window, oldest first."""
        return window_starts(self._ws, project, grain)

    def quarantined(self, project: str) -> Quarantine:
        """How many prediction-log records the service set aside (the schema could not hold
        them, or the disk refused them) and the folder, inside the workspace, that keeps them."""
        return quarantine_summary(self._located.location, project)

    # serving hosts
    def receive_segment(
        self, project: str, host: str, kind: str, name: str, path: Path
    ) -> ReceivedSegment:
        """Keep a prediction-log segment a serving host shipped (``kind``: ``predictions`` or
        ``feedback``; ``name``: the host's segment name) beside the local ones, where monitoring
        reads it; the same (host, kind, name) again is kept once (``duplicate``). Needs the
        ``monitor.record`` permission (role ``service``)."""
        return receive_segment(self._ws, project, self._actor, host, kind, name, path)

    # computing
    def compute_windows(
        self,
        project: str,
        *,
        grain: str = "day",
        last: int | None = None,
        progress: Progress | None = None,
    ) -> MonitorReport:
        """Read new prediction-log segments, record their windows and raise alerts; then a
        canary a rule fires on is rolled back (core.releases.canary)."""
        report = compute_windows(
            self._ws, project, grain=grain, last=last, actor=self._actor, progress=progress
        )
        check_canary(self._ws, project, self._actor)
        return report

    # alerts
    def alerts(self, project: str | None = None, *, status: str | None = None) -> list[Alert]:
        return list_alerts(self._ws, project, status=status)

    def alert(self, alert_id: int) -> Alert:
        return get_alert(self._ws, alert_id)

    @staticmethod
    def group_alerts(alerts: Sequence[Alert]) -> list[Incident]:
        """Alerts read as incidents: those of one production model whose windows overlap."""
        return group_alerts(alerts)

    def incidents(self, project: str) -> list[Incident]:
        """The project's alerts grouped into incidents."""
        return group_alerts(list_alerts(self._ws, project))

    def acknowledge(self, alert_id: int, note: str) -> Alert:
        return acknowledge(self._ws, alert_id, self._actor, note)

    def acknowledge_alerts(self, alert_ids: Sequence[int], note: str) -> list[Alert]:
        """Acknowledge several alerts (an incident's open ones) with one note: all, or none and
        the refusal raised."""
        return acknowledge_alerts(self._ws, alert_ids, self._actor, note)

    # the loop back
    def retrain_requests(self, project: str) -> list[RetrainRequest]:
        return list_retrain_requests(self._ws, project)

    def request_retraining(self, alert_id: int, reason: str = "") -> RetrainRequest:
        """Ask the next build to retrain because of an alert (it records it as its trigger)."""
        return request_retraining(self._ws, alert_id, self._actor, reason)

    def send_to_labeling(
        self, alert_id: int, *, limit: int = 200, name: str | None = None, overlap: int = 1
    ) -> Task:
        """The drifted live items the model is least sure of, as a labeling task."""
        return send_to_labeling(
            self._ws, alert_id, self._actor, limit=limit, name=name, overlap=overlap
        )

    def tasks_of(self, alert_id: int) -> list[Task]:
        """The labeling tasks made from an alert."""
        return tasks_of(self._ws, get_alert(self._ws, alert_id))
