"""What a webhook receives: the body in its format, and the headers that sign it.

The signature is HMAC-SHA256 over ``"{timestamp}.{body}"`` with the webhook's secret, sent as
``X-Loopline-Signature: sha256=<hex>`` beside ``X-Loopline-Timestamp`` (Unix seconds), so a
receiver can refuse a body that was changed and a replay older than it accepts.
``X-Loopline-Delivery`` names the delivery: a receiver that sees one twice (the sender died after
the receiver answered but before it wrote that down) can drop the second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from core.notify.models import Event

SIGNATURE = "X-Loopline-Signature"
TIMESTAMP = "X-Loopline-Timestamp"
DELIVERY = "X-Loopline-Delivery"
EVENT = "X-Loopline-Event"


def payload_of(event: Event, format: str) -> dict[str, Any]:
    """The JSON body for a webhook of ``format`` (generic ``json`` or ``slack``)."""
    if format == "slack":
        return {"text": event.summary}
    return {
        "event": event.event,
        "key": event.key,
        "project": event.project,
        "at": event.at.isoformat() + "Z",
        "summary": event.summary,
        "data": dict(event.data),
    }


def body_of(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def headers_for(secret: str, body: bytes, event: str, delivery_id: int) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Loopline-Webhook/1",
        EVENT: event,
        DELIVERY: str(delivery_id),
        TIMESTAMP: str(timestamp),
        SIGNATURE: sign(secret, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        timestamp = int(headers[TIMESTAMP])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), headers.get(SIGNATURE, ""))
