"""The tracking API against a Loopline server: a notebook logs runs to the team's workspace.

    from core.remote.tracking import Tracker

    with Tracker("https://loopline.example:8765", token) as tracker:  # or $LOOPLINE_URL/_TOKEN
        with tracker.start_run("hw-triage", tags={"owner": "mia"}) as run:
            run.log_params({"model": "xgb"})
            run.log_metric("loss", 0.4, step=1)

The same ``Tracker`` as on a workspace (``core.api.tracking``), with a ``RemoteSink``: its
batches go to ``runs.log_batch`` over HTTP, files stream up through ``runs.put_file``. A batch
that fails (the server unreachable, a lost response) stays in the sink's outbox, unchanged, and
is sent again before the next one; the server writes each piece of a run once (its uuid and
segment), so nothing is lost and nothing is written twice. Nothing here opens a workspace or
imports DuckDB."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.api import tracking
from core.api.tracking import Buffered, Origin, to_wire
from core.remote import RemoteClient, from_env, server_url

BATCH_BYTES = 4 << 20  # a log_batch call's runs, as JSON (the server takes up to 16 MiB a body)


class RemoteSink:
    """A tracker's runs sent to the server of ``client``, as the client's token's user."""

    keeps_failed = True
    min_block = 50  # a round trip per reserve: fewer, larger blocks

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self._outbox: list[dict[str, Any]] = []  # pieces of runs not yet acknowledged, in order
        self._lock = threading.Lock()

    @property
    def actor_name(self) -> str:
        return self.client.actor.name

    def check(self, project: str | None, inputs: Sequence[int]) -> None:
        self.client.runs.check_logging(project, list(inputs))

    def reserve(self, count: int) -> list[int]:
        return list(self.client.runs.reserve_ids(count))

    def write(
        self, fresh: list[Buffered], done: list[Buffered], origin: Origin, reserve: int
    ) -> list[int]:
        """Send the outbox (what failed before, then this batch) in calls of at most
        ``BATCH_BYTES``; each acknowledged call leaves the outbox."""
        with self._lock:
            self._outbox.extend(to_wire(state) for state in fresh + done)
            counts = _chunks(self._outbox)
            if not counts:
                return self.reserve(reserve) if reserve else []
            reserved: list[int] = []
            for index, count in enumerate(counts):
                last = index == len(counts) - 1
                answer = self.client.runs.log_batch(
                    self._outbox[:count],
                    environment=origin.environment,
                    code_commit=origin.commit,
                    code_dirty=origin.dirty,
                    reserve=reserve if last else 0,
                )
                del self._outbox[:count]
                if last:
                    reserved = [int(i) for i in answer["reserved"]]
            return reserved

    def put(self, project: str, content: bytes | Path) -> tuple[str, int]:
        """Stream the file up (its hash checked by the server); its SHA-256 and size."""
        size = content.stat().st_size if isinstance(content, Path) else len(content)
        digest = self.client.runs.put_file(project, content)
        if isinstance(content, bytes) and digest != hashlib.sha256(content).hexdigest():
            raise RuntimeError("the server stored other bytes than were sent")  # pragma: no cover
        return str(digest), size

    def pending(self) -> bool:
        with self._lock:
            return bool(self._outbox)

    def tidy(self) -> None:
        """The server keeps its tables in order as it writes (``log_segments``)."""


def _chunks(outbox: list[dict[str, Any]]) -> list[int]:
    """How many pieces of the outbox each call takes: whole pieces, up to ``BATCH_BYTES``."""
    counts: list[int] = []
    size = count = 0
    for piece in outbox:
        weight = len(json.dumps(piece, separators=(",", ":")))
        if count and size + weight > BATCH_BYTES:
            counts.append(count)
            size = count = 0
        size, count = size + weight, count + 1
    if count:
        counts.append(count)
    return counts


class Tracker(tracking.Tracker):
    """``core.experiments.tracking.Tracker`` logging to the Loopline server at ``url`` (default
    ``$LOOPLINE_URL``) with the API token ``token`` (default ``$LOOPLINE_TOKEN``); the runs are
    the token's user's."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        flush_interval: float = 0.5,
        timeout: float = 60.0,
        retries: int = 4,
    ) -> None:
        chosen = server_url(url)
        if chosen is None or token is None:
            client = from_env(url)  # refused, saying what to set, when the URL or token is missing
        else:
            client = RemoteClient(chosen, token, timeout=timeout, retries=retries)
        self.client = client
        super().__init__(RemoteSink(client), flush_interval=flush_interval)
