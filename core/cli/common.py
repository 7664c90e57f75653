"""What every command module shares: opening the workspace and registering a subcommand."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]
Adder = Callable[[str, Handler, str], argparse.ArgumentParser]


def open_workspace(args: argparse.Namespace) -> Any:
    from core.store import Workspace

    return Workspace.open(args.workspace)


def client(args: argparse.Namespace) -> Any:
    """The public API on the command's workspace, acting as the CLI's user (``Actor.from_env``)."""
    from core.api import Actor, Client
    from core.store import resolve_path

    return Client(resolve_path(args.workspace), Actor.from_env())


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain aligned table for the terminal."""
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(str(c).ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def write_out(text: str, out: str | None) -> None:
    """Print, or write the file whole (a temporary name, then renamed into place)."""
    if not out:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"Wrote {target}")
