"""Each project's webhooks: added, listed and removed by an admin, tested, and their log.

Changing webhooks is a workspace setting (the ``settings`` permission: admins only), audited as
``webhook.add``, ``webhook.remove`` or ``webhook.test`` with the change in its details. The secret signs every payload
(core/notify/payload.py); Loopline makes one when none is given and shows it once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from core.accounts.access import authorize
from core.accounts.audit import record
from core.actor import Actor
from core.errors import InvalidInput, NotFound, expected_one_of
from core.notify.deliver import BASE_S, deliver_due, post
from core.notify.events import queue_events
from core.notify.models import EVENTS, FORMATS, Delivery, Event, Pumped, Webhook
from core.notify.payload import payload_of
from core.projects.service import get_project
from core.store import Tx, Workspace, utcnow

_HOOK_COLUMNS = "webhook_id, project, url, format, events, active, created_at, created_by, secret"
_DELIVERY_COLUMNS = (
    "delivery_id, webhook_id, event_key, event, project, status, attempts, next_attempt_at, "
    "last_code, last_error, created_at, delivered_at, payload"
)
TEST_EVENT = "webhook.test"


def add_webhook(
    ws: Workspace,
    project: str,
    url: str,
    actor: Actor,
    *,
    format: str = "json",
    events: Sequence[str] | None = None,
    secret: str | None = None,
) -> Webhook:
    """A new webhook of ``project`` (every event unless ``events`` names some); it carries its
    secret this once."""
    get_project(ws, project)
    _check_url(url)
    if format not in FORMATS:
        raise InvalidInput(expected_one_of("webhook format", format, FORMATS))
    chosen = tuple(events) if events else tuple(EVENTS)
    for name in chosen:
        if name not in EVENTS:
            raise InvalidInput(expected_one_of("event", name, EVENTS))
    key = secret if secret is not None else secrets.token_hex(24)
    if len(key) < 16:
        raise InvalidInput(
            "A webhook secret needs at least 16 characters.",
            hint="leave --secret out and Loopline makes one",
        )
    with ws.store.transaction() as tx:
        webhook_id = int(tx.scalar("SELECT nextval('webhook_ids')"))
        tx.execute(
            f"INSERT INTO webhooks ({_HOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, true, ?, ?, ?)",
            [webhook_id, project, url, format, list(chosen), utcnow(), actor.name, key],
        )
        _audit(tx, actor, project, webhook_id, "webhook.add", url=url, events=list(chosen))
        return _hooks(tx, "WHERE webhook_id = ?", [webhook_id])[0]


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(
            f"Webhook URL {url!r} is not an http(s) URL.",
            hint="e.g. https://hooks.slack.com/services/… or http://localhost:9000/loopline",
        )


def remove_webhook(ws: Workspace, webhook_id: int, actor: Actor) -> Webhook:
    """Deactivate the webhook (its delivery log stays)."""
    hook = get_webhook(ws, webhook_id)
    with ws.store.transaction() as tx:
        tx.execute("UPDATE webhooks SET active = false WHERE webhook_id = ?", [webhook_id])
        _audit(tx, actor, hook.project, webhook_id, "webhook.remove", url=hook.url)
    return get_webhook(ws, webhook_id)


def _audit(
    tx: Tx, actor: Actor, project: str, webhook_id: int, change: str, **details: object
) -> None:
    record(tx, actor, change, project=project, target=f"webhook #{webhook_id}", details=details)


def get_webhook(ws: Workspace, webhook_id: int) -> Webhook:
    with ws.store.read() as tx:
        found = _hooks(tx, "WHERE webhook_id = ?", [int(webhook_id)])
    if not found:
        raise NotFound(
            f"No webhook #{webhook_id}.", hint="see them with `loopline webhooks list PROJECT`"
        )
    return _without_secret(found[0])


def list_webhooks(ws: Workspace, project: str, actor: Actor | None = None) -> list[Webhook]:
    """The project's webhooks, active first (secrets left out)."""
    authorize(ws, actor, "monitoring.read", project)
    with ws.store.read() as tx:
        hooks = _hooks(tx, "WHERE project = ? ORDER BY active DESC, webhook_id", [project])
    return [_without_secret(h) for h in hooks]


def _hooks(tx: Tx, where: str, params: list[object]) -> list[Webhook]:
    rows = tx.rows(f"SELECT {_HOOK_COLUMNS} FROM webhooks {where}", params)
    return [
        Webhook(int(r[0]), r[1], r[2], r[3], tuple(r[4]), bool(r[5]), r[6], r[7], r[8])
        for r in rows
    ]


def _without_secret(hook: Webhook) -> Webhook:
    return Webhook(
        hook.webhook_id, hook.project, hook.url, hook.format, hook.events, hook.active,
        hook.created_at, hook.created_by,
    )  # fmt: skip


def test_webhook(ws: Workspace, webhook_id: int, actor: Actor) -> Delivery:
    """Post a test event to the webhook now, once; logged like any delivery."""
    with ws.store.read() as tx:
        found = _hooks(tx, "WHERE webhook_id = ?", [int(webhook_id)])
    if not found:
        raise NotFound(f"No webhook #{webhook_id}.")
    hook = found[0]
    now = utcnow()
    event = Event(
        f"{TEST_EVENT}:{now.isoformat()}",
        TEST_EVENT,
        hook.project,
        now,
        f"[{hook.project}] a test of webhook #{hook.webhook_id} from Loopline",
        {"webhook_id": hook.webhook_id, "by": actor.name},
    )
    payload = payload_of(event, hook.format)
    with ws.store.transaction() as tx:
        _audit(tx, actor, hook.project, hook.webhook_id, TEST_EVENT)
        delivery_id = int(tx.scalar("SELECT nextval('webhook_delivery_ids')"))
    code, error = post(hook.url, hook.secret, payload, TEST_EVENT, delivery_id)
    ok = code is not None and 200 <= code < 300
    with ws.store.transaction() as tx:
        tx.execute(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_key, event, project, "
            "payload, status, attempts, last_code, last_error, created_at, delivered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            [delivery_id, hook.webhook_id, event.key, TEST_EVENT, hook.project,
             json.dumps(payload), "delivered" if ok else "failed", code, error, now,
             utcnow() if ok else None],
        )  # fmt: skip
    return delivery_log(ws, hook.project, webhook_id=hook.webhook_id, limit=1)[0]


def delivery_log(
    ws: Workspace,
    project: str,
    *,
    webhook_id: int | None = None,
    limit: int = 100,
    actor: Actor | None = None,
) -> list[Delivery]:
    """The project's deliveries, newest first."""
    authorize(ws, actor, "monitoring.read", project)
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE project = ? "
            "AND (CAST(? AS BIGINT) IS NULL OR webhook_id = ?) "
            "ORDER BY delivery_id DESC LIMIT ?",
            [project, webhook_id, webhook_id, int(limit)],
        )
    return [_delivery(r) for r in rows]


def _delivery(r: Sequence[Any]) -> Delivery:
    return Delivery(
        int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], int(r[6]), r[7], r[8], r[9], r[10], r[11],
        json.loads(r[12]),
    )  # fmt: skip


def pump(ws: Workspace, *, base_s: float = BASE_S) -> Pumped:
    """Queue what is new, then post what is due: one pass of the notifier."""
    with ws.store.read() as tx:
        hooks = _hooks(tx, "WHERE active", [])
    queued = queue_events(ws, hooks) if hooks else 0
    return deliver_due(ws, queued, base_s=base_s)
