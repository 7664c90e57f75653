"""Serving benchmark: single hw-triage predictions from 50 concurrent clients, logging on.

    python bench/serving.py                       # builds a small workspace in a temp folder
    python bench/serving.py --workspace PATH      # uses PATH's production hw-triage model
    python bench/serving.py --seconds 20 --clients 50 --rates 500,1000
    python bench/serving.py --workers 1,2          # one worker, then two, in the same run

The service runs as it does in operation: ``loopline serve hw-triage`` in its own process
(uvicorn; ``LOOPLINE_SERVE_WORKERS`` worker processes), logging every prediction to Parquet
segments. Each worker count of ``--workers`` is measured in turn in the same run (the machine is
shared: only figures from one run compare); ``by_workers`` holds each one's figures with the
load average when it started and its throughput per worker, and the top-level figures are the
last count's (the configuration kept). 50 client connections send
single-item ``POST /predict`` requests (rows of ``sample_data/hw-triage/data/later.csv``) with
keep-alive. Phases:

1. ``saturated`` (the top-level figures): the 50 clients send back to back, each its next request
   as soon as the previous answer is in (what load tools mean by "50 concurrent clients"). The
   throughput is the service's ceiling on this machine; the latency is mostly queueing: with 50
   requests always in flight, the median cannot be below 50 / throughput.
2. ``paced``: the clients together offer each of ``--rates`` requests per second (each client on
   a fixed schedule with a random phase; a late answer delays only that client's next request):
   the latency a screening operator's call sees at that load.

Then the same phases again with a candidate in the shadow (``loopline serve hw-triage --shadow``:
the ``acceptance`` model scores every request after its answer is sent, into the shadow log):
``shadow`` holds those figures and ``shadow_p95_ratio`` each phase's p95 with the shadow over
its p95 without (target: at most 1.5). ``--no-shadow`` skips it.

The load generator is a small asyncio HTTP/1.1 client (``run_load``), far cheaper per request
than httpx, because it shares the machine's cores with the service. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/serving.py`

from bench.harness import ROOT, Stopwatch, emit, header, percentile, scratch

PROJECT = "hw-triage"
LATER = ROOT / "sample_data" / PROJECT / "data" / "later.csv"


# -- the load generator ------------------------------------------------------------------------
async def _client(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[bytes],
    stop_at: float,
    interval: float | None,
    latencies: list[float],
    errors: list[str],
    offset: int,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    index = offset
    next_send = time.perf_counter() + (random.random() * interval if interval else 0.0)
    try:
        while True:
            if interval:
                delay = next_send - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_send = max(next_send + interval, time.perf_counter())
            if time.perf_counter() >= stop_at:
                return
            body = bodies[index % len(bodies)]
            index += 1
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            status = status_line.split(b" ", 2)[1] if status_line else b"---"
            if status != b"200":
                errors.append(status.decode(errors="replace"))
                if not status_line:
                    return
    except (ConnectionError, asyncio.IncompleteReadError) as error:
        errors.append(type(error).__name__)
    finally:
        writer.close()


async def _load(
    url: str,
    bodies: Sequence[bytes],
    clients: int,
    seconds: float,
    rate: float | None,
    path: str,
) -> tuple[list[float], list[str], float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors: list[str] = []
    interval = clients / rate if rate else None
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _client(host, port, path, bodies, stop_at, interval, latencies, errors, i * 7919)
            for i in range(clients)
        )
    )
    return latencies, errors, time.perf_counter() - started


def run_load(
    url: str,
    items: Sequence[dict[str, Any]],
    clients: int = 50,
    seconds: float = 15.0,
    *,
    rate: float | None = None,
    path: str = "/predict",
) -> dict[str, Any]:
    """Send ``items`` (request bodies, cycled) from ``clients`` keep-alive connections for
    ``seconds``; ``rate`` paces them to that many requests per second in total (None: back to
    back). Returns throughput, latency percentiles (ms) and the error count."""
    bodies = [json.dumps(item).encode() for item in items]
    latencies, errors, elapsed = asyncio.run(_load(url, bodies, clients, seconds, rate, path))
    return {
        "clients": clients,
        "offered_rps": rate,
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
        "errors": len(errors),
    }


# -- the workspace and the service --------------------------------------------------------------
def build_workspace(path: Path) -> None:
    """A workspace with a production hw-triage model: the demo's labeling chapter, then train,
    register and promote (no gate: the benchmark needs a model, not a release decision)."""
    from core.actor import Actor
    from core.data.service import ingest
    from core.demo import demo_plans
    from core.demo.chapters import label_chapter
    from core.experiments.service import train
    from core.projects.service import create_project
    from core.registry.service import register_run_model
    from core.releases.service import promote
    from core.store import Workspace

    plan = next(p for p in demo_plans() if p.folder.name == PROJECT)
    actor = Actor("bench", "cli")
    ws = Workspace.init(path)
    project = create_project(ws, plan.project_file, actor)
    ingest(ws, PROJECT, plan.history, actor)
    label_chapter(ws, project, plan, actor, lambda stage, fraction: None)
    run = train(ws, PROJECT, actor)
    model = register_run_model(ws, run.run_id, actor)
    promote(ws, PROJECT, model.artifact_id, actor, reason="serving benchmark")
    other = train(ws, PROJECT, actor, seed=1, params={"max_depth": 4})
    candidate = register_run_model(ws, other.run_id, actor)
    promote(ws, PROJECT, candidate.artifact_id, actor, alias="acceptance", reason="shadow bench")


def request_bodies(limit: int = 2_000) -> list[dict[str, Any]]:
    """Single-item bodies from the later data (all columns, as a client would send them)."""
    from core.projects.service import load_spec_text
    from core.serving.replay import payloads as _payloads
    from core.serving.replay import read_source as _read_source

    spec = load_spec_text((ROOT / "sample_data" / PROJECT / "project.yaml").read_text(), "bench")
    frame = _read_source(LATER, spec).head(limit)  # read and typed as an ingest would
    return [{"inputs": inputs} for inputs in _payloads(frame, spec)]


def start_service(
    workspace: Path, *extra: str, workers: int = 1
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "core.cli",
            "--workspace",
            str(workspace),
            "serve",
            PROJECT,
            "--port",
            "0",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LOOPLINE_SERVE_WORKERS": str(workers)},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if "http://" not in first:
        process.kill()
        raise SystemExit(f"the service did not start: {first}{process.stdout.read()}")
    url = first.split(" at ")[-1].strip()
    from core.serving.server import wait_healthy

    wait_healthy(url, alive=lambda: process.poll() is None)
    return process, url


def _http_stack() -> str:
    """What uvicorn runs on here: httptools and uvloop when installed, else h11 and asyncio."""
    import importlib.util

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {parser}/{loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="a workspace with a production hw-triage")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--rates", default="500,1000", help="offered loads (requests/s) of the paced phases"
    )
    parser.add_argument(
        "--no-shadow", action="store_true", help="skip the phases with a shadow candidate"
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="worker counts measured in turn, e.g. 1,2,1,2 to alternate (the last one gives "
        "the top-level figures and the shadow's)",
    )
    args = parser.parse_args()
    with scratch("serving") if args.workspace is None else nullcontext() as temporary:
        if temporary is None:
            workspace, built = args.workspace, 0.0
        else:
            workspace = temporary / "ws"
            with Stopwatch() as clock:
                build_workspace(workspace)
            built = clock.seconds
        rates = args.rates.split(",")
        counts = [int(count) for count in args.workers.split(",")]
        runs = [
            measure(workspace, built, args.clients, args.seconds, rates, workers=count)
            for count in counts
        ]
        report = runs[-1] | {"by_workers": [_summary(r) for r in runs]}
        if not args.no_shadow:
            report |= shadow_figures(
                report, workspace, args.clients, args.seconds, rates, counts[-1]
            )
        emit(report)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """One worker count's figures: saturated latency and throughput (also per worker and per
    core of the machine, which the load generator shares), the paced p95s and the load."""
    cores = os.cpu_count() or 1
    throughput, workers = report["throughput_rps"], report["workers"]
    return {
        "workers": workers,
        "load_average_1min_at_start": report["load_at_start"],
        "throughput_rps": throughput,
        "throughput_per_worker": round(throughput / workers, 1),
        "throughput_per_core": round(throughput / min(workers, cores), 1),
        "p50_ms": report["p50_ms"],
        "p95_ms": report["p95_ms"],
        "p99_ms": report["p99_ms"],
        "paced_p95_ms": [phase["p95_ms"] for phase in report["paced"]],
        "logged_records": report["logged_records"],
        "sent_requests": report["sent_requests"],
    }


def shadow_figures(
    plain: dict[str, Any],
    workspace: Path,
    clients: int,
    seconds: float,
    rates: Sequence[str],
    workers: int = 1,
) -> dict[str, Any]:
    """The same phases with the acceptance model in the shadow, and each p95 over the plain one."""
    shadowed = measure(workspace, 0.0, clients, seconds, rates, "--shadow", workers=workers)
    phases = [("saturated", plain["saturated"], shadowed["saturated"])] + [
        (f"paced {rate}/s", a, b)
        for rate, a, b in zip(rates, plain["paced"], shadowed["paced"], strict=True)
    ]
    return {
        "shadow": {
            k: shadowed[k]
            for k in ("load_at_start", "p50_ms", "p95_ms", "p99_ms", "saturated", "paced")
        },
        "shadow_p95_ratio": {
            name: round(b["p95_ms"] / a["p95_ms"], 2) if a["p95_ms"] else None
            for name, a, b in phases
        },
    }


def measure(
    workspace: Path,
    built: float,
    clients: int,
    seconds: float,
    rates: Sequence[str],
    *extra: str,
    workers: int = 1,
) -> dict[str, Any]:
    """Start the service on ``workspace`` (``extra``: more ``serve`` options; ``workers``
    processes), warm it up, run the phases, stop it: the report."""
    from core.serving.log import PREDICTIONS, count_records

    load_at_start = round(os.getloadavg()[0], 2)
    process, url = start_service(workspace, *extra, workers=workers)
    try:
        bodies = request_bodies()
        run_load(url, bodies[:200], clients=clients, seconds=2.0)  # warm-up, not reported
        time.sleep(1.5)  # the warm-up's records reach the log
        before = count_records(workspace, PROJECT, PREDICTIONS)
        saturated = run_load(url, bodies, clients, seconds)
        paced = [run_load(url, bodies, clients, seconds, rate=float(rate)) for rate in rates]
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully and the log is flushed
        process.wait(timeout=30)
    logged = count_records(workspace, PROJECT, PREDICTIONS) - before
    sent = saturated["requests"] + sum(phase["requests"] for phase in paced)
    return header(
        "serving",
        key="benchmark",
        project=PROJECT,
        http=_http_stack(),
        workspace_build_s=round(built, 1),
        workers=workers,
        load_at_start=load_at_start,
        clients=clients,
        throughput_rps=saturated["throughput_rps"],
        p50_ms=saturated["p50_ms"],
        p95_ms=saturated["p95_ms"],
        p99_ms=saturated["p99_ms"],
        errors=saturated["errors"] + sum(phase["errors"] for phase in paced),
        logged_records=logged,
        sent_requests=sent,
        saturated=saturated,
        paced=paced,
        note="logged_records counts the measured phases' records after a graceful stop",
    )


if __name__ == "__main__":
    main()
