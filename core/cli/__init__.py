"""The `loopline` command. Each command makes its core calls through the public API (core.api's
Client, from ``core.cli.common.client``) and prints.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input. The API (and the heavy libraries behind
it) is imported inside the commands, so `loopline --help` starts fast.

Remote mode (``--server URL`` or ``$LOOPLINE_URL``, with ``$LOOPLINE_TOKEN``): the same commands
work against a `loopline server`, and no workspace is opened here; the few that need the
workspace's machine (``LOCAL_ONLY``) refuse and say why.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from core.cli import (
    accounts,
    automation,
    behave,
    imports,
    labeling,
    modeling,
    monitoring,
    operations,
    requirements,
    traceability,
    workspace,
)
from core.cli.common import Handler, server_of
from core.cli.suggest import mistyped

# Commands that need the workspace's own machine, and why (remote mode refuses them).
LOCAL_ONLY = {
    "init": "a workspace is created on the machine that holds it",
    "demo": "the demo workspace is built on the machine that holds it",
    "server": "it serves a workspace folder of this machine",
    "app": "the app opens its workspace folder directly",
    "backup": "it copies the workspace's files on the machine that holds them",
    "restore": "it writes a workspace folder on the machine that will hold it",
    "import": "it reads the MLflow store and model files of this machine",
    "scheduler": "it builds on the machine that holds the workspace (`loopline server` runs one)",
}
LOCAL_HINT = "run it on the server's machine, without --server and with LOOPLINE_URL unset"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loopline",
        description="Loopline: data, models, builds, requirements and operations of an ML "
        "component in one workspace.",
        epilog="Exit codes: 0 ok, 1 a check failed, 2 bad usage or input. Docs: docs/ in the repository.",
    )
    parser.add_argument(
        "--workspace",
        "-w",
        metavar="PATH",
        help="workspace folder (default: $LOOPLINE_WORKSPACE or ./.loopline)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="work against this Loopline server instead of a workspace here (default: "
        "$LOOPLINE_URL; the API token comes from $LOOPLINE_TOKEN)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    workspace.add_commands(add)
    labeling.add_commands(add)
    modeling.add_commands(add)
    requirements.add_commands(add)
    traceability.add_commands(add)
    operations.add_commands(add)
    monitoring.add_commands(add)
    accounts.add_commands(add)
    imports.add_commands(add)
    automation.add_commands(add)
    behave.add_commands(add)
    for module in OPTIONAL_COMMANDS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).add_commands(add)
    return parser


# Command modules registered when they are present (`loopline server`)
OPTIONAL_COMMANDS = ("core.cli.server", "core.cli.backup")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    typo = mistyped(parser, sys.argv[1:] if argv is None else argv)
    if typo:
        parser.print_usage(sys.stderr)
        print(f"loopline: error: {typo}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    from core.api import CoreError, cli_workspace

    try:
        if server_of(args) is not None:
            refuse_local_only(args)
            return int(args.handler(args))  # remote: no workspace here to name the user
        with cli_workspace(args.workspace):
            return int(args.handler(args))
    except CoreError as error:
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `loopline artifacts | head`: the reader has what it wanted
        # Python would complain again when it flushes stdout at exit: point stdout at nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def refuse_local_only(args: argparse.Namespace) -> None:
    """Remote mode: refuse a command that needs the workspace's machine, and a --workspace."""
    from core.api import CoreError

    if args.command in LOCAL_ONLY:
        raise CoreError(
            f"`loopline {args.command}` works only on the workspace's machine: "
            f"{LOCAL_ONLY[args.command]}; this command runs against the server at "
            f"{server_of(args)}.",
            hint=LOCAL_HINT,
        )
    if args.workspace:
        raise CoreError(
            f"--workspace {args.workspace} and the server {server_of(args)} both name where to "
            "work.",
            hint="drop --workspace to work on the server, or drop --server (and unset "
            "LOOPLINE_URL) to work on that workspace",
        )
