"""The append-only audit log: every change is recorded in the transaction that makes it.

``record`` is also where access is enforced: it checks that the actor may perform the action in
the project (``core.accounts.access.check_action``) before writing the row, inside the same
transaction, so a refusal rolls the whole change back. No function here (or anywhere in core)
updates or deletes audit rows; a test greps the source to keep it so. Each row is chained by hash
(``core.store.chain``) in the same transaction, so an edit or a deletion shows in `loopline verify`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.accounts.access import check_action
from core.actor import Actor
from core.store import Tx, chain, utcnow

MAX_TEXT = 2000  # audit rows stay small: long texts (a hostile user name) are cut
AUDIT_COLUMNS = ", ".join(f'"{c}"' for c in chain.COLUMNS["audit_log"])  # AuditEntry's fields


def record(
    tx: Tx,
    actor: Actor,
    action: str,
    *,
    project: str | None = None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Check that ``actor`` may do ``action`` in ``project`` (Forbidden if not), then append the
    row: when, who (the user the actor resolved to), via which surface, what, on what."""
    resolved = check_action(tx, actor, action, project=project, target=target)
    merged = {**dict(details or {}), **resolved.details, **_address(actor)}
    stored = tx.one(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) "
        "VALUES (nextval('audit_ids'), ?, ?, ?, ?, ?, ?, ?) "
        f"RETURNING {AUDIT_COLUMNS}",
        [
            utcnow(),
            _cut(resolved.name or actor.name),
            _cut(actor.via),
            _cut(action),
            _cut(project),
            _cut(target),
            json.dumps(merged, sort_keys=True, default=str),
        ],
    )
    assert stored is not None
    audit_id = int(stored[0])
    chain.append(tx, "audit_log", [audit_id], {audit_id: chain.from_row("audit_log", stored)})


def record_many(
    tx: Tx, actor: Actor, action: str, rows: Sequence[tuple[str | None, str | None]]
) -> None:
    """``record`` for many rows of one action, each a (project, target) pair: the check is made
    once per project (with no target), the rows are appended and chained in one statement."""
    if not rows:
        return
    projects = dict.fromkeys(project for project, _ in rows)
    resolved = {p: check_action(tx, actor, action, project=p, target=None) for p in projects}
    at = utcnow()
    # the fields every row of a project shares, as stored: hashed once per project
    shared = {
        p: {
            "at": at,
            "actor": _cut(resolved[p].name or actor.name),
            "via": _cut(actor.via),
            "action": _cut(action),
            "project": _cut(p),
            "details": json.dumps(
                {**resolved[p].details, **_address(actor)}, sort_keys=True, default=str
            ),
        }
        for p in projects
    }
    stored = tx.rows(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) "
        "SELECT nextval('audit_ids'), ?::TIMESTAMP, who, ?, ?, p, t, d "
        "FROM (SELECT unnest(?::VARCHAR[]) AS who, unnest(?::VARCHAR[]) AS p, "
        "unnest(?::VARCHAR[]) AS t, unnest(?::JSON[]) AS d) "
        f"RETURNING {AUDIT_COLUMNS}",
        [
            at,
            _cut(actor.via),
            _cut(action),
            [shared[p]["actor"] for p, _ in rows],
            [_cut(p) for p, _ in rows],
            [_cut(t) for _, t in rows],
            [shared[p]["details"] for p, _ in rows],
        ],
    )
    chain.append(tx, "audit_log", [int(row[0]) for row in stored], _chained(stored, shared))


def _chained(
    stored: Sequence[Sequence[Any]], shared: Mapping[str | None, Mapping[str, Any]]
) -> dict[int, chain.Texts]:
    """Each stored row's texts for the hash chain; the fields a project's rows share are hashed
    once (a row whose shared fields were not stored as sent is hashed whole)."""
    partials: dict[str | None, chain.Partial] = {}
    found: dict[int, chain.Texts] = {}
    for row in stored:
        audit_id, at, who, via, action, project, target, details = row
        sent = shared.get(project)
        if sent is not None and (at, who, via, action, details) == (
            sent["at"],
            sent["actor"],
            sent["via"],
            sent["action"],
            sent["details"],
        ):
            if project not in partials:
                partials[project] = chain.partial({**sent, "details": json.loads(sent["details"])})
            text = partials[project].complete({"audit_id": audit_id, "target": target})
        else:
            text = chain.texts(chain.from_row("audit_log", row))
        found[int(audit_id)] = text
    return found


def _address(actor: Actor) -> dict[str, str]:
    """Where the change came from, when a server says it (the client's address)."""
    return {"address": _cut(actor.address) or ""} if actor.address else {}


def _cut(value: str | None) -> str | None:
    if value is None:
        return None
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: datetime
    actor: str
    via: str
    action: str
    project: str | None
    target: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    """Filters for the audit log; every field is optional. ``text`` searches target and details;
    ``action`` matches an action or an action prefix ending in '.' (``users.``)."""

    actor: str | None = None
    action: str | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    projects: tuple[str, ...] | None = None  # limit to these projects (None: no limit)
    limit: int = 1000


def select_entries(tx: Tx, query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """Entries matching ``query``, newest first (at most ``limit``), and how many match in all.

    Every filter value is a bound parameter; the SQL text never changes with the input."""
    action = query.action or None
    prefix = action is not None and action.endswith(".")
    params: list[Any] = [
        query.actor or None,
        query.actor or None,
        action,
        action if not prefix else None,
        _escape(action or "") + "%" if prefix else None,
        query.project or None,
        query.project or None,
        query.since,
        query.since,
        query.until,
        query.until,
        _like(query.text),
        _like(query.text),
        _like(query.text),
        query.projects is not None,
        list(query.projects or ()),
    ]
    where = """
        WHERE (? IS NULL OR actor = ?)
          AND (? IS NULL OR action = ? OR action LIKE ? ESCAPE '\\')
          AND (? IS NULL OR project = ?)
          AND (?::TIMESTAMP IS NULL OR "at" >= ?::TIMESTAMP)
          AND (?::TIMESTAMP IS NULL OR "at" < ?::TIMESTAMP)
          AND (?::VARCHAR IS NULL OR coalesce(target, '') ILIKE ? ESCAPE '\\'
               OR CAST(details AS VARCHAR) ILIKE ? ESCAPE '\\')
          AND (NOT ? OR project IN (SELECT unnest(?::VARCHAR[])))
    """
    total = int(tx.scalar("SELECT count(*) FROM audit_log " + where, params))
    rows = tx.rows(
        f"SELECT {AUDIT_COLUMNS} FROM audit_log {where} ORDER BY audit_id DESC LIMIT ?",
        [*params, max(0, int(query.limit))],
    )
    entries = [AuditEntry(**chain.from_row("audit_log", row)) for row in rows]
    return entries, total


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(text: str | None) -> str | None:
    return f"%{_escape(text)}%" if text else None
