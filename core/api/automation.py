"""Automation: scheduled and triggered builds, bisecting model history, and webhooks.

``scheduler_pass`` is one pass of the scheduler (due builds, then webhook deliveries);
``run_scheduler`` (not a method: it runs until a threading.Event is set) loops over it for
``loopline scheduler`` and ``loopline server``.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Sequence

from core.api.area import Area, Handle, Progress
from core.bisect.service import BisectReport, bisect
from core.notify.deliver import BASE_S
from core.notify.models import EVENTS, FORMATS, Delivery, Pumped, Webhook
from core.notify.payload import verify
from core.notify.webhooks import (
    add_webhook,
    delivery_log,
    list_webhooks,
    pump,
    remove_webhook,
    test_webhook,
)
from core.projects.service import get_project
from core.scheduler.leases import LEASE_S
from core.scheduler.loop import Pass, one_pass, run_loop
from core.scheduler.service import ScheduleState, schedule_states

__all__ = [
    "EVENTS",
    "FORMATS",
    "Automation",
    "BisectReport",
    "Delivery",
    "Pass",
    "Pumped",
    "ScheduleState",
    "Webhook",
    "run_scheduler",
    "scheduler_thread",
    "verify",
]


class Automation(Area):
    def schedules(self, project: str) -> builtins.list[ScheduleState]:
        """The project's schedules and triggers, each with its last firing (and next due)."""
        spec = get_project(self._ws, project).spec
        return schedule_states(self._ws, project, spec.retraining)

    def scheduler_pass(self, *, retry_base_s: float = BASE_S, lease_s: float = LEASE_S) -> Pass:
        """Run every due scheduled or triggered build (one per project), then deliver what the
        webhooks have queued."""
        return one_pass(self._ws, self._actor, retry_base_s=retry_base_s, lease_s=lease_s)

    def bisect(
        self, project: str, check: str, *, every: bool = False, progress: Progress | None = None
    ) -> BisectReport:
        """The first promoted model version that broke ``check`` (a requirement id, or
        ``METRIC [@ SLICE] OP NUMBER``), with the evidence per version probed."""
        return bisect(self._ws, project, check, every=every, progress=progress, actor=self._actor)

    def add_webhook(
        self,
        project: str,
        url: str,
        *,
        format: str = "json",
        events: Sequence[str] | None = None,
        secret: str | None = None,
    ) -> Webhook:
        """A webhook for the project's events (admins only); the result carries its secret."""
        return add_webhook(
            self._ws, project, url, self._actor, format=format, events=events, secret=secret
        )

    def webhooks(self, project: str) -> builtins.list[Webhook]:
        return list_webhooks(self._ws, project)

    def remove_webhook(self, webhook_id: int) -> Webhook:
        return remove_webhook(self._ws, webhook_id, self._actor)

    def test_webhook(self, webhook_id: int) -> Delivery:
        """Post a test event to the webhook now; the delivery as logged."""
        return test_webhook(self._ws, webhook_id, self._actor)

    def deliveries(
        self, project: str, *, webhook_id: int | None = None, limit: int = 100
    ) -> builtins.list[Delivery]:
        """The project's webhook deliveries, newest first."""
        return delivery_log(self._ws, project, webhook_id=webhook_id, limit=limit)

    def deliver(self, *, retry_base_s: float = BASE_S) -> Pumped:
        """Queue new events and post every due delivery, once."""
        return pump(self._ws, base_s=retry_base_s)


def run_scheduler(
    client: Handle,
    stop: threading.Event,
    *,
    poll_s: float = 30.0,
    retry_base_s: float = BASE_S,
    lease_s: float = LEASE_S,
    log: Callable[[str], None] | None = None,
) -> int:
    """Scheduler passes as ``client``'s user until ``stop`` is set; how many ran."""
    return run_loop(
        client.workspace,
        client.actor,
        stop,
        poll_s=poll_s,
        retry_base_s=retry_base_s,
        lease_s=lease_s,
        log=log,
    )


def scheduler_thread(
    client: Handle, stop: threading.Event, *, poll_s: float = 30.0
) -> threading.Thread:
    """The scheduler in a daemon thread (``loopline server`` runs one beside the API) as
    ``client``'s user; it ends when ``stop`` is set (a build still under way when the process
    ends is closed as aborted by the reaper)."""
    log = logging.getLogger("loopline.scheduler")
    thread = threading.Thread(
        target=run_scheduler,
        args=(client, stop),
        kwargs={"poll_s": poll_s, "log": log.info},
        name="loopline-scheduler",
        daemon=True,
    )
    thread.start()
    return thread
