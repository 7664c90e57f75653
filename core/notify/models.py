"""Webhooks, the events they are told about, and their deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENTS = {
    "alert.opened": "a monitoring alert opened",
    "alert.resolved": "a monitoring alert resolved",
    "build.failed": "a build failed or was aborted",
    "model.promoted": "a model version was promoted",
    "model.rolled_back": "production went back to an earlier model version",
    "requirement.status_changed": "a requirement's status changed",
}
FORMATS = {"json": "generic JSON", "slack": 'Slack-compatible ({"text": …})'}
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")


@dataclass(frozen=True)
class Webhook:
    webhook_id: int
    project: str
    url: str
    format: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    created_by: str
    secret: str = ""  # shown once, when the webhook is added; empty in listings


@dataclass(frozen=True)
class Event:
    """Something the store recorded that a webhook may be told: ``key`` names it once."""

    key: str  # e.g. "alert.opened:12": one delivery per (webhook, key), ever
    event: str
    project: str
    at: datetime
    summary: str  # one line for people (the Slack text)
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    webhook_id: int
    event_key: str
    event: str
    project: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Pumped:
    """One pass of the notifier: events found, deliveries queued, sent, retried, given up."""

    queued: int
    delivered: int
    retried: int
    failed: int
