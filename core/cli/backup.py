"""Backups of a live workspace: `loopline backup DEST`, `loopline restore BACKUP`.

Both run where the workspace folder is (the server's host): a backup copies the files
themselves, which a remote client cannot reach."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.common import Adder, client, is_remote

if TYPE_CHECKING:
    from core.api import Client


def cmd_backup(args: argparse.Namespace) -> int:
    from core.api import serialise
    from core.progress import Bar

    report = _here(args, "backup").backup(Path(args.dest), progress=Bar("backup"))
    backup = report.backup
    if args.json:
        print(json.dumps(serialise(report), indent=2))
    else:
        size = (backup.database_bytes + backup.object_bytes) / 1e6
        print(
            f"Backup of {backup.source} as of {backup.taken_at:%Y-%m-%d %H:%M:%S} UTC written to "
            f"{backup.path}: database {backup.database_bytes / 1e6:.1f} MB, "
            f"{backup.objects:,} objects, {backup.other_files:,} log and other files, "
            f"{size:.1f} MB in {backup.seconds:.1f} s"
        )
        _print_verified(report.verified.ok, report.verified.problems)
    return 0 if report.verified.ok else 1


def cmd_restore(args: argparse.Namespace) -> int:
    api = _here(args, "restore")
    report = api.restore(Path(args.backup), replace=args.replace)
    restored = report.restored
    print(
        f"Restored the backup taken {restored.backup.taken_at:%Y-%m-%d %H:%M:%S} UTC "
        f"to {restored.workspace}"
    )
    if restored.moved_aside is not None:
        print(f"The workspace it replaced is kept at {restored.moved_aside}")
    _print_verified(report.verified.ok, report.verified.problems)
    return 0 if report.verified.ok else 1


def _here(args: argparse.Namespace, command: str) -> Client:
    """The workspace here: a backup reads and writes the workspace's own files."""
    if is_remote(args):
        from core.api import InvalidInput

        raise InvalidInput(
            f"`loopline {command}` works on the workspace folder itself, not through a server.",
            hint="run it on the server's host with --workspace PATH (and without --server / "
            "LOOPLINE_URL); the server can keep running during a backup",
        )
    return client(args)


def _print_verified(ok: bool, problems: tuple[object, ...]) -> None:
    print("verify: ok" if ok else "verify: PROBLEMS")
    for problem in problems:
        print(f"  {problem}")


def add_commands(add: Adder) -> None:
    backup = add(
        "backup",
        cmd_backup,
        "Copy the workspace (store, objects, prediction logs) to a new folder while it is in "
        "use, and verify the copy (exit 1 if it does not verify).",
    )
    backup.add_argument("dest", help="a new folder for the backup (never overwritten)")
    backup.add_argument("--json", action="store_true", help="print what was copied as JSON")
    restore = add(
        "restore",
        cmd_restore,
        "Put a backup in place of the workspace (stop the server first); the backup is verified "
        "before anything moves.",
    )
    restore.add_argument("backup", help="the folder `loopline backup` wrote")
    restore.add_argument(
        "--replace",
        action="store_true",
        help="move an existing workspace aside (renamed, kept) instead of refusing",
    )
