"""Loopline's public API: the one way pages, the CLI and (next) the HTTP server reach core.

    from core.api import Client
    client = Client(".loopline", Actor("ada", "cli"))
    client.data.ingest("emails", Path("new.csv"))

The dataclasses it takes and returns are in ``core.api.types``; ``serialise`` turns any result
into JSON-ready values for a remote transport. The areas' static methods are pure helpers that
need no workspace (e.g. ``Monitoring.group_alerts``); a remote client runs them locally."""

from core.actor import SYSTEM, Actor, cli_workspace, in_session
from core.api.client import Client
from core.api.monitoring import Monitoring
from core.api.serialise import serialise
from core.data.service import IngestRefused
from core.errors import CoreError, Forbidden, InvalidInput, NotFound

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
