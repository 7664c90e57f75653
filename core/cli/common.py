"""What every command module shares: the public API's client for the command (a workspace here,
or a Loopline server in remote mode), registering a subcommand, printing a table, writing a file
whole."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # at run time the API is imported by the commands that use it
    from core.api import Client

Handler = Callable[[argparse.Namespace], int]
Adder = Callable[[str, Handler, str], argparse.ArgumentParser]

URL_VARIABLE = "LOOPLINE_URL"


def server_of(args: argparse.Namespace) -> str | None:
    """The Loopline server the command talks to (``--server``, else ``$LOOPLINE_URL``); None
    when it works on a workspace here."""
    chosen = getattr(args, "server", None) or os.environ.get(URL_VARIABLE) or ""
    return chosen.strip() or None


def is_remote(args: argparse.Namespace) -> bool:
    return server_of(args) is not None


def client(args: argparse.Namespace) -> Client:
    """The public API for the command. Remote mode (``--server URL`` or ``$LOOPLINE_URL``): the
    server's, as the user of ``$LOOPLINE_TOKEN`` (``core.remote.RemoteClient``, the same areas
    and results; no workspace is opened here). Otherwise the command's workspace
    (``--workspace``, else ``$LOOPLINE_WORKSPACE``, else ``./.loopline``), acting as the CLI's
    user (``Actor.from_env``). Every command makes its core calls through it."""
    url = server_of(args)
    if url is not None:
        from core.remote import from_env

        return cast("Client", from_env(url))
    from core.api import Actor, Client

    return Client(args.workspace, Actor.from_env())


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain aligned table for the terminal."""
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(str(c).ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def counted(count: int, noun: str, many: str | None = None) -> str:
    """``counted(1, "blob")`` → "1 blob"; ``counted(3, "blob")`` → "3 blobs";
    ``counted(2, "status", "statuses")`` → "2 statuses"."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {many or noun + 's'}"


def current_umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a report is the user's file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"Wrote {target}")
