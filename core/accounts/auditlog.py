"""Reading the audit log (managers and admins): filters, and a CSV export safe for spreadsheets.

The log itself is written only by ``core.accounts.audit.record``; nothing in core updates or deletes
its rows. Exporting it is recorded too (``audit.export``).
"""

from __future__ import annotations

import json
from datetime import datetime

from core.accounts.access import authorize
from core.accounts.audit import AuditEntry, AuditQuery, record, select_entries
from core.actor import Actor, session_actor
from core.errors import InvalidInput
from core.safe_csv import to_csv
from core.store import Workspace

MAX_LIMIT = 100_000
MAX_FILTER = 500
CSV_HEADER = ("audit_id", "at_utc", "actor", "via", "action", "project", "target", "details")


def parse_time(text: str | None) -> datetime | None:
    """A filter's bound as people type it: a UTC date or date and time (YYYY-MM-DD[THH:MM])."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date or time.", hint="use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"
        ) from None


def _check(query: AuditQuery) -> None:
    for name in ("actor", "action", "project", "text"):
        value = getattr(query, name)
        if value is not None and len(value) > MAX_FILTER:
            raise InvalidInput(f"The {name} filter is longer than {MAX_FILTER} characters.")
    if not 0 < query.limit <= MAX_LIMIT:
        raise InvalidInput(f"The limit must be 1 to {MAX_LIMIT:,}, got {query.limit}.")
    if query.since and query.until and query.since >= query.until:
        raise InvalidInput(
            f"The time range is empty: from {query.since:%Y-%m-%d %H:%M} to {query.until:%Y-%m-%d %H:%M}.",
            hint="the start must come before the end",
        )


def search_audit(
    ws: Workspace, actor: Actor | None, query: AuditQuery
) -> tuple[list[AuditEntry], int]:
    """Matching entries, newest first, and how many match in all (``audit.read`` is needed)."""
    _check(query)
    with ws.store.read() as tx:
        authorize(tx, actor, "audit.read")
        return select_entries(tx, query)


def export_audit_csv(ws: Workspace, actor: Actor | None, query: AuditQuery) -> bytes:
    """The matching entries as CSV; cells a spreadsheet would run as formulas are neutralised.
    The export itself is recorded, with its filters."""
    _check(query)
    with ws.store.transaction() as tx:
        authorize(tx, actor, "audit.read")
        entries, _ = select_entries(tx, query)
        who = actor or session_actor()
        if who is not None:
            record(
                tx,
                who,
                "audit.export",
                target=f"{len(entries)} entries",
                details={
                    k: v.isoformat() if isinstance(v, datetime) else v
                    for k, v in query.__dict__.items()
                    if v not in (None, ()) and k != "limit"
                },
            )
    return to_csv(
        CSV_HEADER,
        (
            (
                e.audit_id,
                e.at.isoformat(sep=" ", timespec="seconds"),
                e.actor,
                e.via,
                e.action,
                e.project,
                e.target,
                json.dumps(e.details, ensure_ascii=False, sort_keys=True),
            )
            for e in entries
        ),
    )


def audit_actions(ws: Workspace) -> list[str]:
    """The actions that occur in the log (for a filter's choices)."""
    with ws.store.read() as tx:
        return [str(r[0]) for r in tx.rows("SELECT DISTINCT action FROM audit_log ORDER BY 1")]


def audit_actors(ws: Workspace) -> list[str]:
    with ws.store.read() as tx:
        return [str(r[0]) for r in tx.rows("SELECT DISTINCT actor FROM audit_log ORDER BY 1")]
