"""The browser test's fixtures: a workspace, `streamlit run` on a free port, and headless Chromium.

Part of the normal `pytest` run. Chromium is Debian's (/usr/bin/chromium, `make chromium`);
Playwright only drives it, so `playwright install` is never needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
STARTUP_TIMEOUT = 60.0
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@dataclass(frozen=True)
class Server:
    url: str
    workspace: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app; a port taken between choosing and binding it is retried with another."""
    for _ in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "app.serve"),  # as `make run` starts it
                    *("--server.port", str(port), "--server.headless", "true"),
                    *("--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"),
                    *("--server.fileWatcherType", "none"),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(url):
                return process, url
            time.sleep(0.2)
        _stop(process)
        text = log.read_text(errors="replace")
        if "already in use" not in text:
            break
    why = (
        f"exited with code {process.returncode}"
        if process.returncode is not None and process.returncode >= 0
        else f"was not healthy within {STARTUP_TIMEOUT:.0f} s"
    )
    pytest.fail(f"`streamlit run app/main.py` {why} ({url}/_stcore/health). Server output:\n{text}")


@pytest.fixture(scope="session")
def app_server(demo_workspace: Path) -> Iterator[Server]:
    """The app over a private copy of the session's demo workspace (built by `loopline demo`)."""
    with tempfile.TemporaryDirectory(prefix="loopline-e2e-") as tmp:
        workspace = Path(tmp) / "workspace"
        log = Path(tmp) / "streamlit.log"
        env = {
            **os.environ,
            "LOOPLINE_WORKSPACE": str(workspace),
            "PYTHONUNBUFFERED": "1",
        }
        shutil.copytree(demo_workspace, workspace)
        process, url = _start(env, log)
        server = Server(url=url, workspace=workspace, log=log)
        try:
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium. "
            "Run `make chromium` (apt-get install chromium); never `playwright install`."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS
