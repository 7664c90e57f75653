"""Loopline from elsewhere: the public API over HTTP to a `loopline server`.

    from core.remote import RemoteClient
    client = RemoteClient("https://loopline.example:8765", token)
    client.projects.list()

``RemoteClient`` has the areas and methods of ``core.api.Client`` and returns the same
dataclasses; ``Transport`` is the wire protocol underneath (calls, uploads, downloads, retries).
``from_env`` picks the server from ``LOOPLINE_URL`` and the token from ``LOOPLINE_TOKEN``.
Nothing here opens a workspace or imports DuckDB."""

from __future__ import annotations

import os

from core.remote.client import RemoteClient, area_types, local_only
from core.remote.deserialise import core_error, rebuild
from core.remote.transport import Transport

URL_VARIABLE = "LOOPLINE_URL"
TOKEN_VARIABLE = "LOOPLINE_TOKEN"


def server_url(given: str | None = None) -> str | None:
    """The server to use: ``given`` (``--server``), else ``$LOOPLINE_URL``; None for local."""
    chosen = (given or os.environ.get(URL_VARIABLE) or "").strip()
    return chosen or None


def from_env(url: str | None = None) -> RemoteClient:
    """A client of the server at ``url`` (default ``$LOOPLINE_URL``) with ``$LOOPLINE_TOKEN``;
    a missing URL or token is refused with what to set."""
    from core.api import CoreError

    chosen = server_url(url)
    if chosen is None:
        raise CoreError(
            "No Loopline server given.", hint=f"set {URL_VARIABLE} (or pass --server URL)"
        )
    token = (os.environ.get(TOKEN_VARIABLE) or "").strip()
    if not token:
        raise CoreError(
            f"No API token for the server at {chosen}: {TOKEN_VARIABLE} is not set.",
            hint=f"set {TOKEN_VARIABLE} to an API token of your user on the server (an admin "
            "makes one with `loopline tokens create USER --label WHERE` there)",
        )
    return RemoteClient(chosen, token)


__all__ = [
    "TOKEN_VARIABLE",
    "URL_VARIABLE",
    "RemoteClient",
    "Transport",
    "area_types",
    "core_error",
    "from_env",
    "local_only",
    "rebuild",
    "server_url",
]
