"""Running the service on uvicorn: in the foreground (``loopline serve``) or in a background
thread (``loopline simulate`` without ``--url``, tests).

The socket is bound here, before uvicorn starts, so a port in use is a clear error and
``port=0`` picks a free port whose number is known before the first request.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from core.errors import CoreError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it Nagle's algorithm holds a response's body behind its headers for the client's
    # delayed ACK (40 ms a request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise CoreError(
                f"Port {port} on {host} is in use.",
                hint="choose another with --port (0 picks a free one)",
            ) from None
        raise CoreError(f"Cannot listen on {host}:{port}: {error.strerror}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(app: Any, log_level: str, access_log: bool) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        workers=1,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def run(
    app: Any,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    access_log: bool = False,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM end it gracefully: the log is flushed)."""
    import uvicorn

    server = uvicorn.Server(_config(app, log_level, access_log))
    server.run(sockets=[sock])


class BackgroundServer:
    """The service on a free local port in a thread of this process; ``url`` once started."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", log_level: str = "warning") -> None:
        import uvicorn

        self.sock = bind(host, 0)
        self.url = url_of(self.sock)
        self.server = uvicorn.Server(_config(app, log_level, False))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise CoreError("The prediction service did not start.")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self.sock.close()


def wait_healthy(url: str, timeout: float = 30.0, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``GET /health`` until it answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or (alive is not None and not alive()):
            raise CoreError(f"The prediction service at {url} did not answer /health.")
        time.sleep(0.05)
