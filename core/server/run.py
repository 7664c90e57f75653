"""Running the server on uvicorn: plain HTTP on 127.0.0.1 by default, TLS with a certificate and
key, or plain HTTP behind a reverse proxy that terminates TLS (``trust_proxy``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import uvicorn

from core.api import InvalidInput
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
) -> None:
    """Serve the workspace until interrupted (Ctrl-C or SIGTERM); ``ready`` is told the URL
    before uvicorn starts."""
    check_options(certfile, keyfile, max_body_bytes, max_upload_bytes)
    app = create_app(
        workspace,
        max_body_bytes=max_body_bytes,
        max_upload_bytes=max_upload_bytes,
        trust_proxy=trust_proxy,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        proxy_headers=False,  # the client's address is read by core.server.auth
        server_header=False,
        log_level=log_level,
    )
    if ready is not None:
        scheme = "https" if certfile else "http"
        ready(f"{scheme}://{host}:{port}")
    uvicorn.Server(config).run()
