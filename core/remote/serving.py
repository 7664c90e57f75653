"""A serving host of a Loopline server: ``loopline serve PROJECT`` with ``LOOPLINE_URL`` (or
``--server``) and a serving host's token.

The host runs the same prediction service as on the workspace's machine
(``core.api.serving.serve_host``); here it gets its way to the server: the host's own
:class:`Transport` (pulling the model, polling the alias, shipping the log) and one per feedback
sender's token (their checks and audit rows are theirs, not the host's)."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.api import CoreError
from core.api.hosting import serve_host
from core.api.serving import Service
from core.remote.transport import TOKEN_HINT, Transport

TIMEOUT_SECONDS = 30.0  # a host's requests: short, so a hung server is noticed and waited out
RETRIES = 2  # the poller and the shipper try again on their own schedule
SENDERS = 256  # feedback senders' transports kept


class TransportHubs:
    """The server at ``url`` as the host's token (``hub``) and as other tokens."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.hub = Transport(url, token, timeout=TIMEOUT_SECONDS, retries=RETRIES)
        self._senders: OrderedDict[str, Transport] = OrderedDict()
        self._lock = threading.Lock()

    def as_token(self, token: str) -> Transport:
        with self._lock:
            found = self._senders.pop(token, None)
            if found is None:
                found = Transport(self.url, token, timeout=TIMEOUT_SECONDS, retries=RETRIES)
            self._senders[token] = found
            while len(self._senders) > SENDERS:
                self._senders.popitem(last=False)
            return found


def default_host_id() -> str:
    """``$LOOPLINE_HOST_ID``, else this machine's name (as a host id may spell it)."""
    given = os.environ.get("LOOPLINE_HOST_ID", "").strip()
    if given:
        return given
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-_")
    return name[:64] or "host"


def serve(
    url: str,
    token: str | None,
    project: str,
    *,
    host_id: str | None = None,
    cache: Path | None = None,
    ready: Callable[[Service], None] | None = None,
    **options: Any,
) -> None:
    """Serve the project's production model from the server at ``url`` until interrupted;
    ``options`` are :func:`core.api.serving.serve_host`'s (host, port, poll_seconds, …)."""
    if not token:
        raise CoreError(
            "A serving host needs an API token (LOOPLINE_TOKEN) of the server.", hint=TOKEN_HINT
        )
    serve_host(
        TransportHubs(url, token),
        url,
        project,
        host_id=host_id or default_host_id(),
        cache=cache,
        ready=ready,
        **options,
    )
