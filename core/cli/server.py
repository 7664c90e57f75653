"""`loopline server`: the workspace's public API over HTTP for a team (docs/team.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.common import Adder

MiB = 1 << 20


def add_commands(add: Adder) -> None:
    server = add(
        "server",
        cmd_server,
        "Serve the workspace's public API over HTTP for remote clients (the CLI with "
        "LOOPLINE_URL, notebooks, CI runners, serving hosts); every request needs an API token "
        "(`loopline tokens create`). OpenAPI at /docs, GET /health.",
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    server.add_argument(
        "--port", type=int, default=8765, help="port (default: %(default)s; 0 picks a free one)"
    )
    server.add_argument("--certfile", metavar="FILE", help="TLS certificate (PEM), with --keyfile")
    server.add_argument("--keyfile", metavar="FILE", help="TLS private key (PEM), with --certfile")
    server.add_argument(
        "--max-body-bytes",
        type=int,
        default=16 * MiB,
        metavar="N",
        help="larger API call bodies are refused with 413 (default: %(default)s)",
    )
    server.add_argument(
        "--max-upload-bytes",
        type=int,
        default=2048 * MiB,
        metavar="N",
        help="larger uploaded files are refused with 413 (default: %(default)s)",
    )
    server.add_argument(
        "--trust-proxy",
        action="store_true",
        help="behind a reverse proxy: take the client's address from X-Forwarded-For",
    )
    server.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run the projects' scheduled and triggered builds in this server (run "
        "`loopline scheduler` elsewhere, or none)",
    )
    server.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server messages (default: %(default)s)",
    )


def cmd_server(args: argparse.Namespace) -> int:
    from core.api import Actor, Client
    from core.server import run_server

    location = Client(args.workspace, Actor.from_env()).location

    def ready(url: str) -> None:
        print(f"Loopline server for {location} on {url} (API docs: {url}/docs)", flush=True)

    run_server(
        location,
        host=args.host,
        port=args.port,
        certfile=Path(args.certfile) if args.certfile else None,
        keyfile=Path(args.keyfile) if args.keyfile else None,
        max_body_bytes=args.max_body_bytes,
        max_upload_bytes=args.max_upload_bytes,
        trust_proxy=args.trust_proxy,
        log_level=args.log_level,
        ready=ready,
        scheduler=not args.no_scheduler,
    )
    print("Loopline server stopped.", file=sys.stderr)
    return 0
