"""CLI commands for monitoring (filled in by its issue)."""

from __future__ import annotations

from core.cli.common import Adder


def add_commands(add: Adder) -> None:
    pass
