"""DuckDB, imported on first use.

A process that never opens a workspace (a remote client: the CLI against a team server, a CI
runner, a serving host) must not load DuckDB at all; ``import core.api`` alone must not either.
Modules take ``duckdb`` from here at run time and the real module under ``TYPE_CHECKING``::

    if TYPE_CHECKING:
        import duckdb
    else:
        from core.store.lazy_duckdb import duckdb

``duckdb.connect``, ``duckdb.Error`` and the rest then import the driver the first time they are
looked up."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _OnFirstUse:
    """Stands for the ``duckdb`` module; its attributes import the driver."""

    def __getattr__(self, name: str) -> Any:
        module: ModuleType = importlib.import_module("duckdb")
        return getattr(module, name)


duckdb = _OnFirstUse()
