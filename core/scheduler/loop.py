"""The long-lived scheduler: a pass of scheduled builds and webhook deliveries, then a pause.

``loopline scheduler`` runs ``run_loop`` in its main thread (SIGTERM sets ``stop``; a build under
way is left to the caller to interrupt); ``loopline server`` runs it in a thread beside the API.
An error in one pass is reported and the loop goes on: a scheduler that dies on a bad project
file would stop every other project's schedule too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.actor import Actor
from core.errors import CoreError
from core.notify.deliver import BASE_S
from core.notify.models import Pumped
from core.notify.webhooks import pump
from core.scheduler.leases import LEASE_S, new_holder
from core.scheduler.service import Fired, tick
from core.store import Workspace

Log = Callable[[str], None]


@dataclass(frozen=True)
class Pass:
    """What one pass did: the builds it ran and the webhook deliveries it made."""

    holder: str
    fired: tuple[Fired, ...]
    pumped: Pumped


def one_pass(
    ws: Workspace,
    actor: Actor,
    holder: str | None = None,
    *,
    retry_base_s: float = BASE_S,
    lease_s: float = LEASE_S,
    log: Log | None = None,
) -> Pass:
    """Run what is due, then deliver what is queued (the events of those builds included)."""
    name = holder or new_holder()
    fired = tick(ws, actor, name, lease_s=lease_s, log=log)
    return Pass(name, tuple(fired), pump(ws, base_s=retry_base_s))


def run_loop(
    ws: Workspace,
    actor: Actor,
    stop: threading.Event,
    *,
    poll_s: float = 30.0,
    retry_base_s: float = BASE_S,
    lease_s: float = LEASE_S,
    log: Log | None = None,
) -> int:
    """Pass after pass until ``stop`` is set; how many passes ran."""
    say = log or (lambda line: None)
    holder = new_holder()
    passes = 0
    while not stop.is_set():
        try:
            done = one_pass(ws, actor, holder, retry_base_s=retry_base_s, lease_s=lease_s, log=say)
            if done.pumped.delivered or done.pumped.retried or done.pumped.failed:
                p = done.pumped
                say(f"webhooks: {p.delivered} delivered, {p.retried} to retry, {p.failed} failed")
        except CoreError as error:
            say(f"scheduler pass failed: {error}")
        passes += 1
        stop.wait(poll_s)
    return passes
