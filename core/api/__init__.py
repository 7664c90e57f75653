"""Loopline's public API: the one way pages, the CLI and (next) the HTTP server reach core.

    from core.api import Client
    client = Client(".loopline", Actor("ada", "cli"))
    client.data.ingest("emails", Path("new.csv"))

The dataclasses it takes and returns are in ``core.api.types``; ``serialise`` turns any result
into JSON-ready values for a remote transport. The areas' static methods are pure helpers that
need no workspace (e.g. ``Monitoring.group_alerts``); a remote client runs them locally.

Importing this package is cheap (no pandas, no model libraries): each area of the client is
imported on first use, and the names below that live in heavy modules (``Monitoring``,
``IngestRefused``) are imported when first asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.actor import SYSTEM, Actor, cli_workspace, in_session
from core.api.client import Client
from core.api.serialise import serialise
from core.errors import CoreError, Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from core.api.monitoring import Monitoring
    from core.data.service import IngestRefused

# Names of this package imported on first use (they pull in pandas): name -> its module.
_LAZY = {
    "Monitoring": "core.api.monitoring",
    "IngestRefused": "core.data.service",
}


def __getattr__(name: str) -> Any:
    """``Monitoring`` and ``IngestRefused``, imported when first asked for (and kept)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    found = getattr(importlib.import_module(module), name)
    globals()[name] = found
    return found


__all__ = [
    "SYSTEM",
    "Actor",
    "Client",
    "CoreError",
    "Forbidden",
    "IngestRefused",
    "InvalidInput",
    "Monitoring",
    "NotFound",
    "cli_workspace",
    "in_session",
    "serialise",
]
