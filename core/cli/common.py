"""What every command module shares: opening the workspace and registering a subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]
Adder = Callable[[str, Handler, str], argparse.ArgumentParser]


def open_workspace(args: argparse.Namespace) -> Any:
    from core.store import Workspace

    return Workspace.open(args.workspace)


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain aligned table for the terminal."""
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(str(c).ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
