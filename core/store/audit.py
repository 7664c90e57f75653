"""The append-only audit log: every change is recorded in the transaction that makes it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.actor import Actor
from core.store.connection import Tx, utcnow


def record(
    tx: Tx,
    actor: Actor,
    action: str,
    *,
    project: str | None = None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    tx.execute(
        "INSERT INTO audit_log VALUES (nextval('audit_ids'), ?, ?, ?, ?, ?, ?, ?)",
        [
            utcnow(),
            actor.name,
            actor.via,
            action,
            project,
            target,
            json.dumps(dict(details or {}), sort_keys=True, default=str),
        ],
    )
