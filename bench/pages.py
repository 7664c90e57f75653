"""Pages as a person sees them: every page of the app in Chromium, from navigation until the
browser shows it finished, on the demo workspace and with 10,000 runs in a project.

    python bench/pages.py            # from the repository root; prints one JSON object (~10 min)
    python bench/pages.py --quick    # the demo only, one round, no AppTest: a smoke run (~2 min)

The workspaces (copies, in a temporary folder removed at the end):
- ``demo``: the demo workspace — ``--demo PATH``, else ``$LOOPLINE_TEST_DEMO``, else
  /tmp/demo-ws/ws when it is there, else built here by ``loopline demo`` (5-20 min);
- ``runs_10000``: the same demo with 10,000 more runs in ``ooo-replies`` (the tracking bench's
  run shape: 20 params, 10 final metrics and ``f1_macro``, a 50-step loss), logged by one
  ``Tracker`` in a child process.

For each workspace, one browser context signs in on a first server (not measured; the session
cookie keeps it signed in across servers, as a person's browser would, and that visit leaves
Streamlit's static files in its HTTP cache). Every server of a workspace listens on the same port,
as `make run`'s does, so the cache keeps those files from round to round; with a new port per
server (as before 2026-12-03) every round's Home was an empty-cache load. Then ``ROUNDS`` rounds
of:
- first visit: a fresh server, Home loaded by URL in a new browser context that has the signed-in
  cookie but an empty HTTP cache: the first visit ever, which downloads and compiles Streamlit's
  script bundles (~2 MB for Home, more once a page draws Plotly or a table) — a cost of any
  Streamlit app in a new browser, reported apart as Home's ``first_visit_ms``;
- cold: another fresh server (nothing cached in it), Home loaded by URL in the signed-in context
  (its HTTP cache warm: a returning person), then every other page by clicking it in the sidebar,
  once each (each page's first visit after the server started);
- warm: every page again by clicking, in the same order.

A visit's time runs from the click (or ``goto``) until the app is idle again: the script run the
navigation started has been seen running and is ``notRunning``, the status widget ("Running…")
is gone, no skeleton is left, and every visible Plotly chart has drawn its SVG. The figure is the
median over the rounds; ``all_under_target`` is over the cold and warm figures, and
``first_visit_under_target`` says the same of the empty-cache first visit. A page loaded by URL
(Home) is a new document: its script bundles are run again, and a page's first Plotly chart or
table in a tab waits for that element's bundle (Plotly's is 4.7 MB, ~1–1.5 s of the browser's
time on two busy cores), where a clicked page finds them already running. Beside it,
``apptest_ms``: the same page's script time in Streamlit's AppTest (no browser; median of 3
after one warm-up run), so the difference is what is sent to and drawn by the browser. The
Debian chromium (``make chromium``) is driven by Playwright; ``playwright install`` is never
needed.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/pages.py`

from bench.harness import ROOT, Stopwatch, emit, emit_line, header, run_json, scratch

TARGETS = {"page_ms": 2000}
ROUNDS = 3
RUNS = 10_000
RUNS_PROJECT = "ooo-replies"
USER, PASSWORD = "admin", "loopline-demo"  # the demo's admin: every page is listed
DEMO_DEFAULT = Path("/tmp/demo-ws/ws")
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
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 120_000
APP = '[data-testid="stApp"]'
MAIN = '[data-testid="stMainBlockContainer"]'
# Every change of the app's script state, recorded in the page (a run can be too quick to see
# by polling); the bench waits for a "running" after its navigation, then for the idle state.
# installed before the page's own scripts run (an init script), so that a first run quicker than
# the app's first paint is still seen: the script states the app element goes through
WATCH = """(() => {
  window.__llStates = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.getAttribute("data-testid") !== "stApp") continue;
      window.__llStates.push(r.oldValue, r.target.getAttribute(r.attributeName));
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ["data-test-script-state"]});
})()"""
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || !(window.__llStates || []).includes("running")) return false;
  if (app.getAttribute("data-test-script-state") !== "notRunning") return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && status.offsetParent !== null) return false;
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main || !main.querySelector('[data-testid="stElementContainer"]')) return false;
  if (main.querySelector('[data-testid="stSkeleton"]')) return false;
  for (const chart of main.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (chart.offsetParent !== null && !chart.querySelector(".main-svg")) return false;
  }
  return true;
}"""


# --- workspaces ---------------------------------------------------------------------------------


def demo_source(given: str | None, tmp: Path) -> Path:
    """The demo to copy: ``--demo``, ``$LOOPLINE_TEST_DEMO``, /tmp/demo-ws/ws, else built."""
    for candidate in (given, os.environ.get("LOOPLINE_TEST_DEMO"), str(DEMO_DEFAULT)):
        if candidate and (Path(candidate) / "loopline.duckdb").exists():
            return Path(candidate)
    built = tmp / "demo-built"
    command = [sys.executable, "-m", "core.cli", "--workspace", str(built), "demo"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return built


def copy_workspace(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def fill_runs(workspace: Path, runs: int) -> dict[str, Any]:
    """Child process: ``runs`` runs in ``RUNS_PROJECT`` of ``workspace``, logged as the admin."""
    sys.path.insert(0, str(ROOT / "bench" / "peers"))
    from mlflow_workload import run_shape

    from core.api import Actor, Client
    from core.api.tracking import Tracker

    api = Client(workspace, Actor(USER, "cli"))
    with Stopwatch() as clock, Tracker(api.workspace, Actor(USER, "cli")) as tracker:
        for index in range(runs):
            params, metrics, loss = run_shape(index)
            with tracker.start_run(RUNS_PROJECT, name=f"bench-{index}") as run:
                run.log_params(params)
                run.log_metrics({**metrics, "f1_macro": metrics["f1"]})
                for step, value in enumerate(loss):
                    run.log_metric("loss", value, step=step)
    return {"runs": runs, "project": RUNS_PROJECT, "seconds": round(clock.seconds, 1)}


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_app(
    workspace: Path, log: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`streamlit run app/main.py` on ``port`` (else a free one) over ``workspace``, once
    healthy."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LOOPLINE_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
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
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if healthy(url):
            return process, url
        time.sleep(0.2)
    stop(process)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"`streamlit run app/main.py` did not come up at {url}: {tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the browser --------------------------------------------------------------------------------


def settle(page: Any) -> None:
    """Until the navigation's script run has finished and its output is drawn (``IDLE``)."""
    page.wait_for_function(IDLE, timeout=TIMEOUT_MS, polling=25)


def load(page: Any, url: str) -> float:
    """Load ``url`` in ``page`` (a fresh document): ms until the app is idle."""
    page.add_init_script(WATCH)
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(APP, state="attached", timeout=TIMEOUT_MS)
    settle(page)
    return (time.perf_counter() - started) * 1000


def click(page: Any, index: int) -> float:
    """Click the ``index``-th page of the sidebar navigation: ms until the app is idle."""
    link = page.get_by_test_id("stSidebarNav").locator("a").nth(index)
    page.evaluate("() => { window.__llStates = []; }")
    started = time.perf_counter()
    link.click()
    settle(page)
    return (time.perf_counter() - started) * 1000


def sign_in(page: Any, url: str) -> None:
    """Sign in through the app's form once; the cookie keeps this browser context signed in."""
    load(page, url)
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Sign in"))
    if not form.count():
        return  # a workspace without accounts
    form.get_by_role("textbox", name="User name").fill(USER)
    form.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.evaluate("() => { window.__llStates = []; }")
    form.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {USER}").wait_for()
    settle(page)


def page_titles(page: Any) -> list[str]:
    nav = page.get_by_test_id("stSidebarNav")
    more = page.get_by_test_id("stSidebarNavViewButton")
    if more.count() and "more" in more.inner_text().lower():  # long lists are collapsed
        more.click()
    return [re.sub(r"^\W+", "", " ".join(a.inner_text().split())) for a in nav.locator("a").all()]


def one_round(context: Any, url: str) -> tuple[dict[str, float], dict[str, float]]:
    """A fresh server's cold visits (Home loaded, the others clicked), then warm clicks."""
    page = context.new_page()
    try:
        home_ms = load(page, url)
        titles = page_titles(page)
        cold = {titles[0]: home_ms}
        cold.update({title: click(page, index) for index, title in enumerate(titles) if index})
        warm = {title: click(page, index) for index, title in enumerate(titles)}
        return cold, warm
    finally:
        page.close()


def first_visit(browser: Any, signed_in: Any, url: str) -> float:
    """Home loaded by URL in a new browser context with ``signed_in``'s cookies and an empty HTTP
    cache (a first visit ever): ms until the app is idle."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=signed_in.storage_state())
    context.set_default_timeout(TIMEOUT_MS)
    try:
        return load(context.new_page(), url)
    finally:
        context.close()


def browse(workspace: Path, rounds: int, log: Path) -> dict[str, Any]:
    """``rounds`` rounds on fresh servers, all on one port: per page, the median cold and warm
    ms, and Home's empty-cache first visit (on a fresh server of its own). A first server
    signs in (when the workspace has accounts) and fills the browser's cache: not measured."""
    from playwright.sync_api import sync_playwright

    colds: dict[str, list[float]] = {}
    warms: dict[str, list[float]] = {}
    firsts: list[float] = []
    port = free_port()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            for index in range(rounds + 1):
                process, url = start_app(workspace, log, port)
                try:
                    if index == 0:  # signing in and filling the cache (once): not measured
                        first = context.new_page()
                        sign_in(first, url)
                        first.close()
                        continue
                    firsts.append(first_visit(browser, context, url))
                finally:
                    stop(process)
                process, url = start_app(workspace, log, port)
                try:
                    cold, warm = one_round(context, url)
                finally:
                    stop(process)
                for title, ms in cold.items():
                    colds.setdefault(title, []).append(ms)
                for title, ms in warm.items():
                    warms.setdefault(title, []).append(ms)
        finally:
            browser.close()
    pages: dict[str, Any] = {
        title: {
            "cold_ms": round(statistics.median(colds[title])),
            "warm_ms": round(statistics.median(warms.get(title, [float("nan")]))),
            "cold_runs_ms": [round(ms) for ms in colds[title]],
            "warm_runs_ms": [round(ms) for ms in warms.get(title, [])],
        }
        for title in colds
    }
    home = pages[next(iter(pages))]  # the page a URL opens
    home["first_visit_ms"] = round(statistics.median(firsts))
    home["first_visit_runs_ms"] = [round(ms) for ms in firsts]
    return pages


# --- AppTest beside it --------------------------------------------------------------------------


def app_pages() -> dict[str, list[tuple[str, str, str, str | None]]]:
    """``PAGES`` of app/main.py (section → (file, title, icon, permission)), read, not run."""
    tree = ast.parse((ROOT / "app" / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            pages: dict[str, list[tuple[str, str, str, str | None]]] = ast.literal_eval(node.value)
            return pages
    raise RuntimeError("app/main.py has no PAGES")


def apptest_times(workspace: Path) -> dict[str, Any]:
    """Child process: each page's script time in AppTest, signed in as the admin (median of 3
    after a warm-up run), by the page's title."""
    os.environ["LOOPLINE_WORKSPACE"] = str(workspace)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=300)
    at.run()
    if "login.user" in {w.key for w in at.text_input}:
        at.text_input(key="login.user").input(USER)
        at.text_input(key="login.password").input(PASSWORD)
        at.button(key="login.submit").click().run()
    times: dict[str, Any] = {}
    for entries in app_pages().values():
        for path, title, _icon, _permission in entries:
            at.switch_page(path).run()
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                at.run()
                runs.append((time.perf_counter() - started) * 1000)
            times[title] = {
                "apptest_ms": round(statistics.median(runs)),
                "exception": bool(at.exception),
            }
    return times


# --- the report ---------------------------------------------------------------------------------


def measure(workspace: Path, rounds: int, with_apptest: bool, log: Path) -> dict[str, Any]:
    pages = browse(workspace, rounds, log)
    if with_apptest:
        scripted, _ = run_json(
            [sys.executable, __file__, "--apptest", str(workspace)], what="AppTest"
        )
        for title, figures in pages.items():
            figures.update(scripted.get(title, {"apptest_ms": None}))
    for title, figures in pages.items():  # progress for the person waiting
        print(f"{workspace.name}: {title}: {figures}", file=sys.stderr, flush=True)
    slowest = max(max(f["cold_ms"], f["warm_ms"]) for f in pages.values())
    first_visit = max(f.get("first_visit_ms", 0) for f in pages.values())
    return {
        "pages": pages,
        "slowest_ms": slowest,
        "all_under_target": slowest < TARGETS["page_ms"],
        "first_visit_ms": first_visit,
        "first_visit_under_target": first_visit < TARGETS["page_ms"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo only, 1 round, no AppTest")
    parser.add_argument("--demo", metavar="PATH", help="the demo workspace to copy")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs added for the 2nd workspace")
    parser.add_argument("--fill", metavar="WS", help=argparse.SUPPRESS)  # child: log the runs
    parser.add_argument("--apptest", metavar="WS", help=argparse.SUPPRESS)  # child: AppTest
    args = parser.parse_args()
    if args.fill:
        emit_line(fill_runs(Path(args.fill), args.runs))
        return 0
    if args.apptest:
        emit_line(apptest_times(Path(args.apptest)))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # servers stopped, folder removed
    clock = Stopwatch()
    rounds = 1 if args.quick else ROUNDS
    result = header("pages", targets=TARGETS, rounds=rounds, method=METHOD)
    with scratch("pages") as tmp:
        source = demo_source(args.demo, tmp)
        demo = copy_workspace(source, tmp / "demo")
        result["workspaces"] = {"demo": measure(demo, rounds, not args.quick, tmp / "demo.log")}
        if not args.quick:
            many = copy_workspace(source, tmp / "many")
            filled, _ = run_json(
                [sys.executable, __file__, "--fill", str(many), "--runs", str(args.runs)],
                what="logging the runs",
            )
            name = f"runs_{args.runs}"
            result["workspaces"][name] = {
                "fill": filled,
                **measure(many, rounds, True, tmp / "many.log"),
            }
    workspaces = result["workspaces"].values()
    result["all_under_target"] = all(w["all_under_target"] for w in workspaces)
    result["first_visit_under_target"] = all(w["first_visit_under_target"] for w in workspaces)
    emit(result, clock)
    return 0


METHOD = (
    "Chromium (Playwright) on a fresh `streamlit run` per round, one port for all servers, "
    "signed in by cookie, the HTTP cache kept between rounds; cold: Home loaded by URL, the "
    "others clicked in the sidebar, each page's first visit after the server started; warm: "
    "every page clicked again; Home's first_visit_ms: loaded by URL on a fresh server in a new "
    "context (cookie, empty HTTP cache). A visit ends when the run it started has finished, the "
    "status widget is gone, no skeleton is left and visible Plotly charts are drawn. Median of "
    "the rounds. apptest_ms: AppTest's script time of the page (median of 3)."
)

if __name__ == "__main__":
    raise SystemExit(main())
