"""The workspace: one folder with the DuckDB file and the content-addressed ``objects/`` folder."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar, cast

from core.errors import CoreError
from core.store.blobs import BlobStore
from core.store.connection import DB_FILE, Store, Tx, utcnow

P = ParamSpec("P")
R = TypeVar("R")


def one_unit_of_work(
    function: Callable[Concatenate[Workspace, P], R],
) -> Callable[Concatenate[Workspace, P], R]:
    """Run a service function as one unit of work: the workspace file is opened once for all of it."""

    def wrapper(ws: Workspace, *args: P.args, **kwargs: P.kwargs) -> R:
        with ws.store.read():
            return function(ws, *args, **kwargs)

    return cast(Callable[Concatenate[Workspace, P], R], functools.update_wrapper(wrapper, function))


__all__ = [
    "DEFAULT_WORKSPACE",
    "BlobStore",
    "Store",
    "Tx",
    "Workspace",
    "one_unit_of_work",
    "resolve_path",
    "utcnow",
]

DEFAULT_WORKSPACE = ".loopline"


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``--workspace PATH``, else ``LOOPLINE_WORKSPACE``, else ``./.loopline``."""
    chosen = path or os.environ.get("LOOPLINE_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().absolute()


class Workspace:
    """A workspace folder: ``store`` (tables) and ``blobs`` (objects)."""

    def __init__(self, root: Path, *, busy_timeout: float = 10.0) -> None:
        self.root = Path(root)
        self.store = Store(self.root, busy_timeout=busy_timeout)
        self.blobs = BlobStore(self.root / "objects")

    @classmethod
    def init(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Create the folder and the schema; an existing workspace is opened as it is."""
        root = resolve_path(path)
        if root.exists() and not root.is_dir():
            raise CoreError(
                f"{root} exists and is not a folder.", hint="choose another --workspace"
            )
        (root / "objects").mkdir(parents=True, exist_ok=True)
        workspace = cls(root)
        with workspace.store.cursor():
            pass  # opening applies the migrations
        return workspace

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 10.0
    ) -> Workspace:
        root = resolve_path(path)
        if not (root / DB_FILE).is_file():
            raise CoreError(
                f"No workspace at {root}.",
                hint="run `loopline init` or `loopline demo`, or pass --workspace PATH / set LOOPLINE_WORKSPACE",
            )
        return cls(root, busy_timeout=busy_timeout)

    @staticmethod
    def exists(path: str | os.PathLike[str] | None = None) -> bool:
        return (resolve_path(path) / DB_FILE).is_file()
