"""Who acts, and through which surface: recorded with every change in the audit log."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

SURFACES = ("cli", "app", "service", "test", "demo")


@dataclass(frozen=True)
class Actor:
    """The acting user (``name``) and where the action came from (``via``)."""

    name: str
    via: str = "cli"

    @classmethod
    def from_env(cls, via: str = "cli") -> Actor:
        """The OS user, or ``LOOPLINE_USER`` when set (CI runners set it)."""
        name = os.environ.get("LOOPLINE_USER") or _os_user()
        return cls(name=name, via=via)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return f"uid-{os.getuid()}"


SYSTEM = Actor("loopline", "cli")
