"""One build of a project at a time, across scheduler processes: a lease in the store.

A scheduler claims ``scheduler_leases[project]`` before it starts a build and renews it while the
build runs (from a thread, every third of the lease); a claim succeeds when there is no lease,
the lease lapsed, or the claimant holds it already. Claims are transactions, and the workspace
lets one process write at a time, so two processes never both win. A scheduler that dies stops
renewing: its lease lapses and another may build (its half-done build is closed as aborted by the
reaper, core/builds/reaper.py). Lease times are the wall clock, never a simulated story date.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from core.store import Tx, Workspace
from core.store.clock import wall

LEASE_S = 60.0


def new_holder() -> str:
    """This scheduler's name in leases and marks: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def claim(ws: Workspace, project: str, holder: str, purpose: str, seconds: float) -> bool:
    """Take (or renew) the project's lease for ``seconds``; False when another holds it."""
    now = wall()

    def take(tx: Tx) -> bool:
        row = tx.one("SELECT holder, expires_at FROM scheduler_leases WHERE project = ?", [project])
        if row is not None and row[0] != holder and row[1] > now:
            return False
        tx.execute(
            "INSERT OR REPLACE INTO scheduler_leases (project, holder, purpose, expires_at, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            [project, holder, purpose, now + timedelta(seconds=seconds), now],
        )
        return True

    return bool(ws.store.write(take))


def release(ws: Workspace, project: str, holder: str) -> None:
    with ws.store.transaction() as tx:
        tx.execute(
            "DELETE FROM scheduler_leases WHERE project = ? AND holder = ?", [project, holder]
        )


def holder_of(ws: Workspace, project: str) -> str | None:
    """Who holds a lease on the project that has not lapsed."""
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT holder FROM scheduler_leases WHERE project = ? AND expires_at > ?",
            [project, wall()],
        )
    return None if row is None else str(row[0])


@contextmanager
def held(ws: Workspace, project: str, holder: str, purpose: str, seconds: float) -> Iterator[None]:
    """Renew the lease every third of ``seconds`` until the block ends, then release it."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            claim(ws, project, holder, purpose, seconds)

    thread = threading.Thread(target=renew, name=f"lease-{project}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(ws, project, holder)
