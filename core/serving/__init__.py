"""Serving a project's production model over HTTP, its prediction log, hosts and replays.

A submodule is imported on first use as an attribute (``core.serving.simulate``), so that an
annotation naming ``core.serving.simulate.SimulationResult`` resolves at run time (the server
and the remote client read the API's annotations) without importing the web stack up front."""

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
