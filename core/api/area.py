"""What every area of the client shares: the workspace it opens and the user it acts as."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.actor import Actor
from core.store import Workspace

Progress = Callable[[str, float], None]  # (stage, fraction done): a client-side callback only


class Handle(Protocol):
    """The part of :class:`core.api.Client` an area uses."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def actor(self) -> Actor: ...


class Area:
    """A group of use cases (``client.data``, ``client.labeling``, …) over one client."""

    def __init__(self, client: Handle) -> None:
        self._client = client

    @property
    def _ws(self) -> Workspace:
        return self._client.workspace

    @property
    def _actor(self) -> Actor:
        return self._client.actor
