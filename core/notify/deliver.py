"""Sending queued deliveries: claimed, posted, and retried with exponential backoff.

A pass claims the due rows first (``sending`` until a short claim lapses), so a scheduler and a
server pumping the same workspace never post one delivery twice at once; then posts each outside
any transaction, and records the answer: ``delivered`` on a 2xx, else ``pending`` again after
``base_s × 2^(attempts-1)`` seconds (at most an hour), and ``failed`` after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

from core.notify.models import Pumped
from core.notify.payload import body_of, headers_for
from core.store import Tx, Workspace, utcnow

MAX_ATTEMPTS = 8
BASE_S = 30.0
MAX_BACKOFF_S = 3600.0
CLAIM_S = 60.0
TIMEOUT_S = 10.0
BATCH = 50


def backoff_s(attempts: int, base_s: float = BASE_S) -> float:
    """The wait after the ``attempts``-th failed try."""
    return float(min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1)))


def deliver_due(ws: Workspace, queued: int = 0, *, base_s: float = BASE_S) -> Pumped:
    """Post every due delivery once; the counts of this pass."""
    claimed = ws.store.write(_claim)
    delivered = retried = failed = 0
    for row in claimed:
        code, error = post(row["url"], row["secret"], row["payload"], row["event"], row["id"])
        outcome = _record(ws, row, code, error, base_s)
        delivered += outcome == "delivered"
        retried += outcome == "pending"
        failed += outcome == "failed"
    return Pumped(queued, delivered, retried, failed)


def _claim(tx: Tx) -> list[dict[str, Any]]:
    now = utcnow()
    rows = tx.rows(
        "SELECT d.delivery_id, d.attempts, d.event, d.payload, w.url, w.secret "
        "FROM webhook_deliveries d JOIN webhooks w USING (webhook_id) "
        "WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= ? AND w.active "
        "ORDER BY d.delivery_id LIMIT ?",
        [now, BATCH],
    )
    claimed = []
    for r in rows:
        tx.execute(
            "UPDATE webhook_deliveries SET status = 'sending', next_attempt_at = ? "
            "WHERE delivery_id = ?",
            [now + timedelta(seconds=CLAIM_S), r[0]],
        )
        claimed.append(
            {"id": int(r[0]), "attempts": int(r[1]), "event": r[2],
             "payload": json.loads(r[3]), "url": r[4], "secret": r[5]}
        )  # fmt: skip
    return claimed


def post(
    url: str, secret: str, payload: Any, event: str, delivery_id: int
) -> tuple[int | None, str | None]:
    """POST the signed payload; the HTTP status (None: no answer) and an error, if any."""
    body = body_of(payload)
    request = urllib.request.Request(
        url, data=body, headers=headers_for(secret, body, event, delivery_id), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(response.status), None
    except urllib.error.HTTPError as error:
        return int(error.code), f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, f"no answer: {reason}"


def _record(
    ws: Workspace, row: dict[str, Any], code: int | None, error: str | None, base_s: float
) -> str:
    attempts = row["attempts"] + 1
    now = utcnow()
    if code is not None and 200 <= code < 300:
        status, next_at = "delivered", None
    elif attempts >= MAX_ATTEMPTS:
        status, next_at = "failed", None
    else:
        status, next_at = "pending", now + timedelta(seconds=backoff_s(attempts, base_s))
    with ws.store.transaction() as tx:
        tx.execute(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_code = ?, last_error = ?, delivered_at = ? WHERE delivery_id = ?",
            [status, attempts, next_at, code, error, now if status == "delivered" else None,
             row["id"]],
        )  # fmt: skip
    return status
