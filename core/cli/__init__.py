"""The `loopline` command. Each command makes its core calls through the public API (core.api's
Client, from ``core.cli.common.client``) and prints.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input. The API (and the heavy libraries behind
it) is imported inside the commands, so `loopline --help` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from core.cli import (
    accounts,
    labeling,
    modeling,
    monitoring,
    operations,
    requirements,
    traceability,
    workspace,
)
from core.cli.common import Handler


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from core.api import CoreError, cli_workspace

    try:
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
