"""Builds whose process died: closed as aborted by the next command that looks at builds.

A running build holds its lock (core/builds/owner.py) until it closes its row. A row that says
``running`` while nobody holds the lock belongs to a process that ended without closing it
(SIGKILL, power loss, an out-of-memory kill): ``reap_dead_builds`` closes it as aborted, in one
transaction with its audit row. ``list_builds``/``get_build`` (the CLI, the Builds page) and
``verify`` call it.

A remote build (trained on a CI runner) holds a lease instead of a lock: once the runner stops
renewing it, the build is closed the same way, with the reason ``LAPSED``.
"""

from __future__ import annotations

import contextlib

from core.accounts.audit import record
from core.actor import SYSTEM, Actor, session_actor
from core.builds.owner import forget, owner_is_alive, read_lease
from core.errors import CoreError
from core.store import Tx, Workspace, utcnow

DEAD_OWNER = "the build process ended without closing the build (killed?)"
LAPSED = "the runner stopped renewing the build's lease (killed, or cut off from the server?)"
ACTION = "build.reaped"


def reap_dead_builds(ws: Workspace, actor: Actor | None = None) -> list[int]:
    """Close as aborted every running build whose process is gone; the ids closed, oldest first.

    The audit row names Loopline itself (action ``build.reaped``, a right of the system role
    alone), with ``noticed_by``: the user whose command looked."""
    with ws.store.read() as tx:
        running = [
            int(row[0])
            for row in tx.rows(
                "SELECT build_id FROM builds WHERE status = 'running' ORDER BY build_id"
            )
        ]
    dead = {
        build_id: LAPSED if read_lease(ws.root, build_id) is not None else DEAD_OWNER
        for build_id in running
        if not owner_is_alive(ws.root, build_id)
    }
    if not dead:
        return []
    actor = actor or session_actor()
    closed: list[int] = ws.store.write(lambda tx: _close_dead(tx, dead, actor))
    for build_id in closed:
        forget(ws.root, build_id)
    return closed


def reap_quietly(ws: Workspace, actor: Actor | None = None) -> None:
    """``reap_dead_builds`` for readers: a store that cannot take the write (busy, read-only)
    or an actor who may not record it leaves the rows for the next reader."""
    with contextlib.suppress(CoreError):
        reap_dead_builds(ws, actor)


def _close_dead(tx: Tx, dead: dict[int, str], actor: Actor | None) -> list[int]:
    """Close the ``dead`` builds (id -> reason) still running."""
    rows = tx.rows(
        "SELECT build_id, project, number FROM builds "
        "WHERE build_id IN (SELECT unnest(?::BIGINT[])) AND status = 'running' ORDER BY build_id",
        [list(dead)],
    )
    for build_id, project, number in rows:
        reason = dead[int(build_id)]
        tx.execute(
            "UPDATE builds SET status = 'aborted', reason = ?, ended_at = ?, "
            "log = log || CASE WHEN log = '' THEN '' ELSE chr(10) END || ? "
            "WHERE build_id = ? AND status = 'running'",
            [reason, utcnow(), f"aborted: {reason}", build_id],
        )
        record(
            tx,
            SYSTEM,
            ACTION,
            project=project,
            target=f"build {number}" if number is not None else f"build #{build_id}",
            details={
                "reason": reason,
                "noticed_by": actor.name if actor else None,
                "build_id": build_id,
                "number": number,
            },
        )
    return [int(row[0]) for row in rows]
