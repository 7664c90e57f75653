"""Every bench script imports, and its smallest piece runs on the shared harness.

The full benches take minutes and print figures for people (``make bench``); these tests only
make sure that a change to ``bench/harness.py`` or to the code a bench drives does not leave a
bench broken until the next time someone runs it.
"""

from __future__ import annotations

import importlib
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import harness

SCRIPTS = ("store", "labeling", "tracking", "traceability", "serving", "monitoring", "pages")


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_bench_imports_and_uses_the_harness(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.emit is harness.emit  # the report goes out through the harness
    assert callable(module.main)


def test_store_registers_a_small_graph_and_summarizes_lineage() -> None:
    store = importlib.import_module("bench.store")
    rng = random.Random(1)
    with store.fresh_workspace() as ws:
        seconds, ids = store.register_batches(ws, 30, rng, projects=2)
        assert len(ids) == 30 and seconds > 0
        ms, graph = store.timed_lineage(ws, ids[-1], "up")
        assert ms > 0 and ids[-1] in graph.nodes
    figures = store.summary([ms, ms * 2], [len(graph.nodes), 1])
    assert list(figures) == [
        "median_ms",
        "p95_ms",
        "max_ms",
        "nodes_median",
        "nodes_max",
        "queries",
    ]


def test_labeling_generates_case_b_rows() -> None:
    labeling = importlib.import_module("bench.labeling")
    frame = labeling.make_rows(20, seed=1)
    assert len(frame) == 20 and frame["unit_id"].is_unique
    assert list(labeling.summary([3.0, 1.0, 2.0])) == ["p50_ms", "p95_ms", "max_ms", "calls"]


def test_tracking_logs_and_searches_a_few_runs(tmp_path: Path) -> None:
    tracking = importlib.import_module("bench.tracking")
    from core.experiments.search import search_runs
    from core.store import Workspace

    ws = Workspace.init(tmp_path / "ws")
    assert tracking.log_loopline(ws, 3) > 0
    figures = tracking.timed(lambda: search_runs(ws, tracking.EXPERIMENT, limit=10))
    assert figures["rows"] == 3 and figures["repetitions"] == tracking.REPEATS
    assert tracking.MLFLOW.requirements.is_file()


def test_traceability_requirement_set() -> None:
    traceability = importlib.import_module("bench.traceability")
    items = traceability.requirement_set(random.Random(traceability.SEED))
    assert len(items) == traceability.SYSTEM + traceability.ML


def test_monitoring_drift_worker_on_a_small_sample(tmp_path: Path) -> None:
    monitoring = importlib.import_module("bench.monitoring")
    workload = monitoring.make_data(tmp_path, 400)
    assert workload["rows"] == 400
    result = monitoring.loopline_worker(tmp_path)
    assert result["columns"] == 25 and result["peak_rss_mb"] > 0
    assert set(result["psi"]) == {f"f_num{i}" for i in range(20)} | {f"f_cat{j}" for j in range(5)}
    summary = monitoring.summarize_runs([result, result])
    assert summary["seconds"] == result["seconds"] and len(summary["runs"]) == 2
    assert monitoring.EVIDENTLY.requirements.is_file()


@pytest.fixture
def echo_server() -> Iterator[str]:
    """A keep-alive HTTP/1.1 server that answers every POST with a small JSON body."""

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_serving_load_generator(echo_server: str) -> None:
    serving = importlib.import_module("bench.serving")
    bodies = serving.request_bodies(limit=5)
    assert len(bodies) == 5 and all(set(body) == {"inputs"} for body in bodies)
    figures = serving.run_load(echo_server, bodies, clients=2, seconds=0.3)
    assert figures["errors"] == 0 and figures["requests"] > 0
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    paced = serving.run_load(echo_server, bodies, clients=2, seconds=0.3, rate=20.0)
    assert paced["offered_rps"] == 20.0 and paced["requests"] <= 12


def test_pages_times_every_page_of_a_fresh_workspace_in_chromium(tmp_path: Path) -> None:
    pages = importlib.import_module("bench.pages")
    from core.store import Workspace

    titles = [title for entries in pages.app_pages().values() for _, title, _, _ in entries]
    assert titles[0] == "Home" and "Experiments" in titles
    Workspace.init(tmp_path / "ws")  # no accounts: every page is listed, nobody signs in
    figures = pages.browse(tmp_path / "ws", 1, tmp_path / "streamlit.log")
    assert list(figures) == titles  # the sidebar's order, each page timed
    for page in figures.values():
        assert 0 < page["cold_ms"] < pages.TIMEOUT_MS and 0 < page["warm_ms"] < pages.TIMEOUT_MS
        assert len(page["cold_runs_ms"]) == len(page["warm_runs_ms"]) == 1
    home = figures["Home"]  # loaded by URL: also timed with an empty cache on a fresh server
    assert 0 < home["first_visit_ms"] < pages.TIMEOUT_MS and len(home["first_visit_runs_ms"]) == 1
