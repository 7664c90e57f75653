"""A team server for the remote tests: a small workspace served by `loopline server` in a
subprocess on 127.0.0.1, and clients run in processes of their own that know only its URL.

    def test_x(hub: Hub, tmp_path: Path) -> None:
        done = hub.run_client("projects", token="data_scientist")
        assert done.returncode == 0, done.stderr

The workspace has the made-up ``tickets`` project (tests/fixtures/tickets.yaml, no data yet) and
one user per role, each named after the role (``admin``, ``data_scientist``, ``annotator``,
``reviewer``, ``release_manager``, ``manager``, ``service``), with an API token each
(``hub.token("manager")``). ``hub`` is one server per test module (tests share its workspace:
make names unique); ``fresh_hub`` is one per test. ``hub.stop()``/``hub.kill()`` and
``hub.start()`` take the server away and bring it back on the same URL (fault tests).
"""

from __future__ import annotations

import contextlib
import io
import json
import locale
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.api import Actor, Client

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ROLES = (
    "admin",
    "data_scientist",
    "annotator",
    "reviewer",
    "release_manager",
    "manager",
    "service",
)
PROJECT = "tickets"
STARTUP_TIMEOUT = 90.0  # a loaded machine imports pandas and FastAPI slowly
# what a client process must not inherit: anything that names the workspace or another identity
CLEARED = ("LOOPLINE_WORKSPACE", "LOOPLINE_URL", "LOOPLINE_TOKEN", "LOOPLINE_USER")


@dataclass
class Hub:
    """A running `loopline server` and what a client needs to reach it."""

    url: str
    workspace: Path
    tokens: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def token(self, role_or_user: str) -> str:
        """The API token of the user named ``role_or_user`` (one user per role)."""
        return self.tokens[role_or_user]

    def env(self, token: str | None = None) -> dict[str, str]:
        """A client's environment: ``LOOPLINE_URL`` and ``LOOPLINE_TOKEN`` (a role or user name
        is taken as that user's token), nothing naming the workspace."""
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env["LOOPLINE_URL"] = self.url
        if token is not None:
            env["LOOPLINE_TOKEN"] = self.tokens.get(token, token)
        return env

    def client_dir(self) -> Path:
        """A fresh empty folder for a client process to run in."""
        return Path(tempfile.mkdtemp(prefix="loopline-client-"))

    def run_client(
        self,
        *args: str,
        token: str | None = "admin",
        cwd: Path | None = None,
        timeout: float = 300,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`loopline ARGS` in a process of its own, in a fresh folder, with only the server's URL
        and a token (``token``: a role/user name or a token's text)."""
        return run_python(
            ["-m", "core.cli", *args], env=self.env(token), cwd=cwd, timeout=timeout, stdin=stdin
        )

    def run_python(
        self,
        code: str,
        *,
        token: str | None = "admin",
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """``python -c CODE`` as a client process (same environment as ``run_client``)."""
        return run_python(["-c", code], env=self.env(token), cwd=cwd, timeout=timeout)

    def stop(self) -> None:
        """Stop the server (SIGTERM: requests in flight finish)."""
        if self.process is not None:
            stop_server(self.process)

    def kill(self) -> None:
        """SIGKILL the server: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def start(self) -> None:
        """Start the server again on the same URL (after ``stop`` or ``kill``)."""
        assert self.process is None or self.process.poll() is not None, "it is still running"
        port = urlsplit(self.url).port
        self.process, _ = start_server(self.workspace, self.log, port=port)

    def output(self) -> str:
        """What the server printed so far (for failure messages)."""
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"

    def healthy(self) -> bool:
        return health(self.url) is not None

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "admin",
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to the server (``token``: a role/user name, a token's text, or None):
        status, headers (lower-case names) and body; never raises on an HTTP error status."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        call = urllib.request.Request(self.url + path, data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(call, timeout=timeout) as answer:
                return answer.status, _lower(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers.items()), error.read()

    def call(
        self,
        area: str,
        method: str,
        token: str | None = "admin",
        request_id: str | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """``POST /api/v1/call/area/method`` with ``kwargs``: status and the parsed JSON body."""
        headers = {"X-Request-Id": request_id} if request_id else None
        status, _, body = self.request(
            "POST", f"/api/v1/call/{area}/{method}", token=token, json_body=kwargs, headers=headers
        )
        return status, json.loads(body) if body else None


def _lower(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


def run_python(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``cwd``, else in a fresh empty folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="loopline-client-") as scratch:
        return subprocess.run(
            [sys.executable, *args],
            cwd=cwd or scratch,
            env=dict(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def run_cli_here(
    args: Sequence[str], *, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python -m core.cli ARGS` run in this process, as ``run_python`` would run it in a new one:
    in a fresh empty folder, with exactly ``env`` as its environment, its stdout and stderr
    captured as text (what a command writes to ``sys.stdout.buffer`` too) and its exit code.

    For a command on a workspace of this machine (not a client of a server): it saves the ~1 s a
    new interpreter spends importing core and pandas. Safe because a command keeps nothing of a
    workspace open between units of work (the server writes in between), reads the environment
    when it runs, and writes only to ``sys.stdout``/``sys.stderr`` as they are then. One
    difference remains: a Python warning or a logged record goes to pytest's report here, where a
    process of its own would print it on stderr."""
    out, err = _Captured(), _Captured()
    saved, here = dict(os.environ), os.getcwd()
    with tempfile.TemporaryDirectory(prefix="loopline-client-") as scratch:
        os.environ.clear()
        os.environ.update(env)
        os.environ.setdefault("COLUMNS", "80")  # a pipe has no width: argparse wraps usage at 80
        os.chdir(scratch)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = _exit_code(args)
        finally:
            os.chdir(here)
            os.environ.clear()
            os.environ.update(saved)
    command = [sys.executable, "-m", "core.cli", *args]
    return subprocess.CompletedProcess(command, code, out.text(), err.text())


class _Captured(io.TextIOWrapper):
    """A process's stdout or stderr on a pipe: text in the locale's encoding, and bytes written
    to its ``buffer``; read back as ``subprocess.run(..., text=True)`` reads a pipe."""

    def __init__(self) -> None:
        super().__init__(
            io.BytesIO(), encoding=locale.getpreferredencoding(False), write_through=True
        )

    def text(self) -> str:
        self.flush()
        data = self.buffer.getvalue()  # type: ignore[attr-defined]
        decoded = data.decode(self.encoding)
        return decoded.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines


def _exit_code(args: Sequence[str]) -> int:
    """The exit code of ``sys.exit(core.cli.main(args))`` (core/cli/__main__.py); an uncaught
    exception is printed to stderr with exit code 1, as Python does."""
    from core.cli import main

    try:
        return main(list(args))
    except SystemExit as done:  # argparse's usage errors and --help
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1


def health(url: str, *, context: Any = None) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2, context=context) as answer:
            found: dict[str, Any] = json.loads(answer.read())
            return found if answer.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_workspace(path: Path) -> dict[str, str]:
    """A small workspace at ``path``: one user per role with a token each, and the tickets
    project; the tokens by user name."""
    admin = Client(path, Actor("admin", "test"))
    admin.init()
    admin.accounts.create_user("admin", roles=["admin"])
    for role in ROLES[1:]:
        admin.accounts.create_user(role, roles=[role])
    tokens = {role: admin.accounts.create_token(role, f"remote tests: {role}") for role in ROLES}
    admin.projects.create(FIXTURES / "tickets.yaml")
    return tokens


def start_server(
    workspace: Path,
    log: Path,
    *,
    extra: Sequence[str] = (),
    scheme: str = "http",
    context: Any = None,
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`loopline --workspace WS server --port P` in a subprocess, healthy; a port taken between
    choosing and binding it is retried with another (unless ``port`` is given)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    text = ""
    fixed = port
    for _ in range(3):
        port = fixed or free_port()
        url = f"{scheme}://127.0.0.1:{port}"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "core.cli", "--workspace", str(workspace)),
                    *("server", "--port", str(port), "--log-level", "warning", *extra),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if health(url, context=context) is not None:
                return process, url
            time.sleep(0.2)
        stop_server(process)
        text = log.read_text(errors="replace")
        if fixed or "address already in use" not in text.lower():
            break
    pytest.fail(f"`loopline server` did not become healthy at {url}/health. Output:\n{text}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _hub(folder: Path) -> Iterator[Hub]:
    workspace = folder / "ws"
    tokens = make_workspace(workspace)
    log = folder / "server.log"
    process, url = start_server(workspace, log)
    hub = Hub(url, workspace, tokens, log, process)
    try:
        yield hub
    finally:
        hub.stop()  # the process it runs now (a test may have restarted it)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One server per test module over a small workspace (see the module's docstring)."""
    yield from _hub(tmp_path_factory.mktemp("hub"))


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[Hub]:
    """A server of this test's own."""
    yield from _hub(tmp_path)
