"""Running the service on uvicorn: in the foreground (``loopline serve``), as several worker
processes sharing the socket (``LOOPLINE_SERVE_WORKERS``), or in a background thread
(``loopline simulate`` without ``--url``, tests).

The socket is bound here, before uvicorn starts, so a port in use is a clear error and
``port=0`` picks a free port whose number is known before the first request. ``loopline server``
binds its socket with the same :func:`bind`.

Workers are forked from the process that loaded the model, once it is loaded and before anything
runs (no thread, no event loop, no open workspace yet): they share its memory (the model is read
from disk once) and the listening socket, and each runs its own event loop, alias watcher and log
writers. A segment's name carries its writer's process id, so the workers' segments never
collide and monitoring reads them all as one log; each worker flushes its own on SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from core.errors import CoreError

WORKERS_ENV = "LOOPLINE_SERVE_WORKERS"
MAX_WORKERS = 64
STOP_SECONDS = 30.0  # a worker still running this long after SIGTERM is killed
QUICK_DEATH_SECONDS = 5.0  # a worker exiting this soon after its start failed to start
log = logging.getLogger("loopline.serving")


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


def url_of(sock: socket.socket, *, tls: bool = False) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def worker_count(workers: int | None = None) -> int:
    """``workers``, else ``$LOOPLINE_SERVE_WORKERS``, else 1; refused unless 1 to 64."""
    given: object = workers
    if workers is None:
        given = os.environ.get(WORKERS_ENV, "").strip() or "1"
    try:
        count = int(str(given))
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        source = WORKERS_ENV if workers is None else "--workers"
        raise CoreError(
            f"{source} must be a whole number from 1 to {MAX_WORKERS}, got {given!r}.",
            hint="one worker per core the service may use (unset it for one)",
        )
    return count


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
    workers: int | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM end it gracefully: the log is flushed), in
    this process or in ``workers`` forked ones (default: ``$LOOPLINE_SERVE_WORKERS``, else 1)."""
    import uvicorn

    count = worker_count(workers)
    if count == 1:
        uvicorn.Server(_config(app, log_level, access_log)).run(sockets=[sock])
        return
    Workers(
        lambda: uvicorn.Server(_config(app, log_level, access_log)).run(sockets=[sock]), count
    ).run()


class Workers:
    """``count`` forked processes each calling ``serve``, supervised: SIGTERM or SIGINT to this
    process stops them gracefully (each once: a second SIGINT would skip uvicorn's shutdown and
    with it the last flush of the log); a worker that dies while serving is started again,
    unless it exited by itself within ``QUICK_DEATH_SECONDS`` of its start (then all stop: it
    failed to start, and another would too)."""

    def __init__(self, serve: Callable[[], None], count: int) -> None:
        self.serve, self.count = serve, count
        self.started: dict[int, float] = {}  # pid -> when
        self.stopping = False

    def run(self) -> None:
        gc.collect()
        gc.freeze()  # what the parent loaded stays shared: no collection touches its pages
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for _ in range(self.count):
                self._fork()
            self._supervise()
        finally:
            self._stop(signal.SIGTERM, None)
            self._reap(time.monotonic() + STOP_SECONDS)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _fork(self) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                os.setpgid(0, 0)  # Ctrl-C reaches the parent only, which stops each worker once
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                self.serve()
            except BaseException:
                log.exception("a serving worker failed")
                code = 1
            finally:
                os._exit(code)
        self.started[pid] = time.monotonic()

    def _supervise(self) -> None:
        while self.started and not self.stopping:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            began = self.started.pop(pid, None)
            if began is None or self.stopping:
                continue
            quick = time.monotonic() - began < QUICK_DEATH_SECONDS
            if quick and os.WIFEXITED(status):  # it failed by itself: another would too
                raise CoreError(
                    f"A serving worker (process {pid}) stopped at its start "
                    f"({_exit_text(status)}).",
                    hint="run with one worker (unset LOOPLINE_SERVE_WORKERS) to see why",
                )
            log.error("serving worker %s stopped (%s); starting another", pid, _exit_text(status))
            if quick:  # killed soon after its start (out of memory?): not in a tight loop
                time.sleep(1.0)
            self._fork()

    def _stop(self, sig: int, frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        for pid in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap(self, deadline: float) -> None:
        while self.started:
            for pid in list(self.started):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    self.started.pop(pid)
            if self.started and time.monotonic() > deadline:
                for pid in self.started:
                    log.error("serving worker %s did not stop in time; killing it", pid)
                    os.kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.02)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


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
    """Poll ``GET /health`` until it answers 200, with one HTTP client for every ask (a new
    client loads the TLS certificates, ~50 ms of CPU: polling every 50 ms with one per ask kept a
    core busy while the service it waited for was starting on it)."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while True:
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or (alive is not None and not alive()):
                raise CoreError(f"The prediction service at {url} did not answer /health.")
            time.sleep(0.05)
