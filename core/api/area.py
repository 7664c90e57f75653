"""What every area of the client shares: the workspace it opens, the user it acts as, and the
way an area names the types of heavy modules without importing them (:class:`OnUse`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

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


class OnUse:
    """A module imported when one of its names is first read.

    An area names the types of a heavy module (one that imports pandas, NumPy, pydantic, …)
    through one, and imports the module's functions in the methods that call them: importing
    the area, as every CLI command does, then costs nothing for the methods it does not call,
    while the server and the remote client, which resolve a method's annotations at run time,
    still get the real classes. Type checkers see the module itself::

        if TYPE_CHECKING:
            import core.overview as core_overview
        else:
            core_overview = OnUse("core.overview")

        def overview(self) -> list[core_overview.ProjectOverview]:
            from core.overview import workspace_overview
            ...
    """

    __slots__ = ("module",)

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for these: not the module's
            raise AttributeError(name)
        return getattr(importlib.import_module(self.module), name)

    def __repr__(self) -> str:
        return f"<module {self.module!r}, imported on first use>"
