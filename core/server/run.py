"""Running the server on uvicorn: plain HTTP on 127.0.0.1 by default, TLS with a certificate and
key, or plain HTTP behind a reverse proxy that terminates TLS (``trust_proxy``).

The socket is bound here, before uvicorn starts (as ``loopline serve`` does), so a port in use is
a clear error, ``port`` 0 picks a free one and the printed URL is the bound one. It is made with
``IPPROTO_TCP`` so that asyncio sets TCP_NODELAY on its connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from core.api import Actor, Client, InvalidInput
from core.api.automation import scheduler_thread
from core.api.server_support import bind, url_of
from core.server.app import DEFAULT_MAX_BODY, DEFAULT_MAX_UPLOAD, create_app

MIN_BODY_BYTES = 1_000


def check_options(
    certfile: Path | None, keyfile: Path | None, max_body_bytes: int, max_upload_bytes: int
) -> None:
    if (certfile is None) != (keyfile is None):
        raise InvalidInput(
            "TLS needs both --certfile and --keyfile.",
            hint="pass both, or neither (and terminate TLS in a reverse proxy)",
        )
    for path in (certfile, keyfile):
        if path is not None and not Path(path).is_file():
            raise InvalidInput(f"No such file: {path}.")
    for flag, value in (
        ("--max-body-bytes", max_body_bytes),
        ("--max-upload-bytes", max_upload_bytes),
    ):
        if value < MIN_BODY_BYTES:
            raise InvalidInput(f"{flag} must be at least {MIN_BODY_BYTES}, got {value}.")


def run_server(
    workspace: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    trust_proxy: bool = False,
    log_level: str = "info",
    ready: Callable[[str], None] | None = None,
    scheduler: bool = True,
) -> None:
    """Serve the workspace until interrupted (Ctrl-C or SIGTERM); ``ready`` is told the URL
    once the port is bound. ``scheduler``: scheduled builds and webhooks run beside the API
    (docs/automation.md), as the user who started the server."""
    check_options(certfile, keyfile, max_body_bytes, max_upload_bytes)
    app = create_app(
        workspace,
        max_body_bytes=max_body_bytes,
        max_upload_bytes=max_upload_bytes,
        trust_proxy=trust_proxy,
    )
    config = uvicorn.Config(
        app,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        proxy_headers=False,  # the client's address is read by core.server.auth
        server_header=False,
        log_level=log_level,
    )
    sock = bind(host, port)
    if ready is not None:
        ready(url_of(sock, tls=certfile is not None))
    stop = threading.Event()
    if scheduler:
        scheduler_thread(Client(workspace, Actor.from_env("service")), stop)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        stop.set()
