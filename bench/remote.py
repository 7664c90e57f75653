"""Remote benchmark (issue 14): one `loopline server` against MLflow's tracking server, same run.

    python bench/remote.py            # from the repository root; prints one JSON object
    python bench/remote.py --quick    # tiny sizes, no serving phases (tests/bench runs it)
    python bench/remote.py --no-peer  # Loopline's side only
    python bench/remote.py --serving-only [--repeat N]  # only C, both sides (a few minutes)

Both servers run as subprocesses on 127.0.0.1: ``loopline server`` over a fresh workspace (one
process), ``mlflow server`` over a SQLite file (its own bench-only venv, as in
``bench/tracking.py``; its default workers). Every client is a process of its own that knows only
the server's URL (and, for Loopline, an API token).

A. Concurrent logging: 8 client processes, each logging 250 runs of the standard run shape
   (``run_shape`` of ``bench/peers/mlflow_workload.py``: 20 params, 10 final metrics, ``loss`` over
   50 steps). Loopline: ``core.remote.tracking.Tracker`` (buffered, batches over HTTP); MLflow:
   ``MlflowClient(tracking_uri=http://…)``: ``create_run`` + one ``log_batch`` +
   ``set_terminated`` per run. The clients of a side start together (a start time given to each,
   after their imports); runs/s = all runs / (last end − first start). Target: ≥ 10× MLflow.
B. Remote filtered search over 10,000 runs of the same shape (filled before the server starts,
   each side in its own store): ``metrics.accuracy > 0.9 and params.model = 'xgb'`` ordered by
   ``metrics.f1 DESC``, from a client process: a warm-up call, then 30 timed ones; p95.
   Loopline: ``RemoteClient.runs.search``; MLflow: ``mlflow.search_runs``. Target: p95 < 150 ms.
C. A fresh serving host's start to first prediction with the production model: ``loopline serve
   hw-triage`` with ``LOOPLINE_URL`` and a service token, an empty model cache, from process start
   to the first 200 of ``POST /predict``; MLflow: a fresh process that imports mlflow, runs
   ``mlflow.pyfunc.load_model("models:/…@production")`` from the server and predicts one row.
   Target: ≥ 3× faster. Needs ``core/remote/serving.py`` (else "not measured").
   ``--serving-only`` measures just this, ``--repeat`` times per side, alternating sides (the
   ratio is of the medians): no runs logged or searched, no ceiling.
D. The single server's ceiling: 4 serving hosts of hw-triage under load for a few seconds; the
   predictions they answered, and how many per second the server took in (segments shipped and
   stored under ``<workspace>/logs``) from the load's start until the last one arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/remote.py`
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))  # the shared workload

from mlflow_workload import EXPERIMENT, FILTER, ORDER_BY, run_shape

from bench.harness import (
    ROOT,
    Peer,
    Stopwatch,
    emit,
    emit_line,
    header,
    optional,
    repeat_ms,
    run_json,
    scratch,
    summarize_ms,
)

MLFLOW = Peer(
    "mlflow", "mlflow_remote.py", {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
)
FILL = Peer(
    "mlflow", "mlflow_workload.py", {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
)
FULL = {"clients": 8, "runs": 250, "search_runs": 10_000, "repeats": 30, "hosts": 4, "load_s": 10}
QUICK = {"clients": 2, "runs": 5, "search_runs": 60, "repeats": 3, "hosts": 0, "load_s": 0}
TARGETS = {"log_ratio_vs_mlflow": 10, "search_p95_ms": 150, "first_prediction_ratio": 3}
LOG_PROJECT = "bench-remote"
SERVE_PROJECT = "hw-triage"
USER, HOST_USER = "bench", "bench-host"
START_DELAY = 3.0  # seconds between launching the clients and their common start
STARTUP_TIMEOUT = 120.0


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"{url} did not answer: {log.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a server or client: nothing naming a workspace or identity."""
    cleared = ("LOOPLINE_WORKSPACE", "LOOPLINE_URL", "LOOPLINE_TOKEN", "LOOPLINE_USER")
    return {**{k: v for k, v in os.environ.items() if k not in cleared}, **extra}


def start_loopline(workspace: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "core.cli", "--workspace", str(workspace)),
                *("server", "--port", str(port), "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", process, log)
    return process, url


def start_mlflow(db: Path, artifacts: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    mlflow = MLFLOW.venv / "bin" / "mlflow"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                *(str(mlflow), "server", "--backend-store-uri", f"sqlite:///{db}"),
                *("--artifacts-destination", artifacts.as_uri()),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=db.parent,
            env=clean_env(**MLFLOW.env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", process, log)
    return process, url


def together(commands: Sequence[Sequence[str]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Run the commands at once (each prints its figures as its last line); their figures."""
    results: list[dict[str, Any]] = [{} for _ in commands]

    def one(index: int) -> None:
        results[index] = optional(lambda: run_json(commands[index], env=env)[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def aggregate(clients: list[dict[str, Any]]) -> dict[str, Any]:
    """All clients' runs over the span from the first start to the last end."""
    failed = [c["error"] for c in clients if "error" in c]
    if failed:
        return {"error": failed[0], "failed_clients": len(failed)}
    runs = sum(c["runs"] for c in clients)
    span = max(c["end"] for c in clients) - min(c["start"] for c in clients)
    return {
        "clients": len(clients),
        "runs": runs,
        "seconds": round(span, 2),
        "runs_per_s": round(runs / span, 1),
        "per_client_runs_per_s": [c["runs_per_s"] for c in clients],
        "errors": sum(c.get("errors", 0) for c in clients),
    }


# --- Loopline's client processes (``python bench/remote.py --worker CONFIG``) -------------------


def log_worker(config: dict[str, Any]) -> dict[str, Any]:
    from core.remote.tracking import Tracker

    tracker = Tracker(config["url"], config["token"])
    time.sleep(max(0.0, config["start_at"] - time.time()))
    start = time.time()
    first, runs = config["first"], config["runs"]
    for index in range(first, first + runs):
        params, metrics, loss = run_shape(index)
        with tracker.start_run(config["project"], name=f"run-{index}") as run:
            run.log_params(params)
            run.log_metrics(metrics)
            for step, value in enumerate(loss):
                run.log_metric("loss", value, step=step)
    tracker.close()
    end = time.time()
    return {
        "runs": runs,
        "start": start,
        "end": end,
        "seconds": round(end - start, 2),
        "runs_per_s": round(runs / (end - start), 1),
        "errors": 0,
        "duckdb_loaded": "duckdb" in sys.modules,
    }


def search_worker(config: dict[str, Any]) -> dict[str, Any]:
    from core.remote import RemoteClient

    client = RemoteClient(config["url"], config["token"])
    times, table = repeat_ms(
        lambda: client.runs.search(config["project"], FILTER, list(ORDER_BY), limit=10_000),
        config["repeats"],
    )
    return {**summarize_ms(times), "repetitions": len(times), "rows": len(table.frame)}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "log": log_worker,
    "search": search_worker,
}


def worker_command(mode: str, **config: Any) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        json.dumps(config | {"mode": mode}),
    ]


# --- the Loopline side --------------------------------------------------------------------------


def prepare_workspace(path: Path, search_runs: int, serving: bool) -> dict[str, Any]:
    """The server's workspace: (the hw-triage production model,) a user with a token, a serving
    host's user with a token, and ``search_runs`` runs in ``EXPERIMENT`` (logged locally)."""
    from bench.serving import build_workspace
    from core.api import Actor, Client
    from core.api.tracking import Tracker

    clock = Stopwatch()
    if serving:
        build_workspace(path)
    admin = Client(path, Actor("admin", "cli"))
    admin.init()
    admin.accounts.create_user("admin", roles=["admin"])
    admin.accounts.create_user(USER, roles=["data_scientist"])
    admin.accounts.create_user(HOST_USER, roles=["service"])
    tokens = {
        USER: admin.accounts.create_token(USER, "bench/remote.py clients"),
        HOST_USER: admin.accounts.create_token(HOST_USER, "bench/remote.py serving hosts"),
    }
    built = clock.seconds
    with Stopwatch() as fill, Tracker(admin.workspace, Actor(USER, "cli")) as tracker:
        for index in range(search_runs):
            params, metrics, loss = run_shape(index)
            with tracker.start_run(EXPERIMENT) as run:
                run.log_params(params)
                run.log_metrics(metrics)
                for step, value in enumerate(loss):
                    run.log_metric("loss", value, step=step)
    return {
        "tokens": tokens,
        "build_s": round(built, 1),
        "fill": {"runs": search_runs, "seconds": round(fill.seconds, 1)},
    }


def loopline_logging(url: str, token: str, size: dict[str, int]) -> dict[str, Any]:
    start_at = time.time() + START_DELAY + size["clients"] * 0.5
    commands = [
        worker_command(
            "log",
            url=url,
            token=token,
            project=LOG_PROJECT,
            runs=size["runs"],
            first=index * size["runs"],
            start_at=start_at,
        )
        for index in range(size["clients"])
    ]
    clients = together(commands, clean_env())
    result = aggregate(clients)
    result["duckdb_loaded_in_a_client"] = any(c.get("duckdb_loaded") for c in clients)
    result["method"] = (
        "core.remote.tracking.Tracker per process: log_params + log_metrics + 50 × "
        "log_metric(step=) per run, buffered and sent in batches; includes close()"
    )
    return result


def loopline_search(url: str, token: str, size: dict[str, int]) -> dict[str, Any]:
    figures, _ = run_json(
        worker_command("search", url=url, token=token, project=EXPERIMENT, repeats=size["repeats"]),
        env=clean_env(),
    )
    figures["method"] = "RemoteClient.runs.search(filter, order_by, limit=10000) → RunTable"
    return figures


def first_prediction(url: str, token: str, folder: Path, host_id: str) -> dict[str, Any]:
    """A fresh `loopline serve` host: from its process start to the first answered prediction."""
    from bench.serving import request_bodies

    body = json.dumps(request_bodies(limit=1)[0]).encode()
    clock = Stopwatch()
    process = start_host(url, token, folder, host_id)
    try:
        service = host_url(process)
        listening = clock.seconds  # imports, model pulled and loaded, socket bound
        while True:
            request = urllib.request.Request(
                f"{service}/predict", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if clock.seconds > STARTUP_TIMEOUT:
                    raise
                time.sleep(0.05)
        return {
            "start_to_first_prediction_s": round(clock.seconds, 3),
            "start_to_listening_s": round(listening, 3),
        }
    finally:
        stop(process)


def start_host(url: str, token: str, folder: Path, host_id: str) -> subprocess.Popen[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "core.cli", "serve", SERVE_PROJECT, "--port", "0"),
            *("--cache", str(folder / "cache"), "--host-id", host_id, "--log-level", "warning"),
        ],
        cwd=folder,
        env=clean_env(LOOPLINE_URL=url, LOOPLINE_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def host_url(process: subprocess.Popen[str]) -> str:
    """The service's URL from its first line (``Serving … at http://…``)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if " at http://" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep it drained
            return line.split(" at ")[-1].strip()
    raise RuntimeError(f"the serving host did not start: {''.join(seen)[-2000:]}")


def ingest_ceiling(
    url: str, token: str, workspace: Path, folder: Path, size: dict[str, int]
) -> dict[str, Any]:
    """``hosts`` serving hosts under load for ``load_s`` seconds; predictions answered, and how
    fast the server took them in (from the load's start to the last segment stored)."""
    from bench.serving import request_bodies, run_load
    from core.serving.log import count_records

    before = count_records(workspace, SERVE_PROJECT)
    processes = [
        start_host(url, token, folder / f"host-{i}", f"bench-{i}") for i in range(size["hosts"])
    ]
    try:
        services = [host_url(p) for p in processes]
        bodies = request_bodies(limit=500)
        loads: list[dict[str, Any]] = [{} for _ in services]
        started = time.monotonic()

        def drive(index: int) -> None:
            loads[index] = run_load(services[index], bodies, clients=4, seconds=size["load_s"])

        threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(services))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answered = sum(load["requests"] for load in loads)
        deadline = time.monotonic() + 120
        arrived = count_records(workspace, SERVE_PROJECT) - before
        while arrived < answered and time.monotonic() < deadline:
            time.sleep(0.25)
            arrived = count_records(workspace, SERVE_PROJECT) - before
        span = time.monotonic() - started
    finally:
        for process in processes:
            stop(process)
    return {
        "hosts": len(services),
        "load_seconds": size["load_s"],
        "predictions_answered": answered,
        "predictions_stored_on_server": arrived,
        "answered_per_s": round(answered / size["load_s"], 1),
        "ingested_per_s": round(arrived / span, 1),
        "last_segment_after_s": round(span, 1),
        "load_errors": sum(load["errors"] for load in loads),
        "method": f"{len(services)} `loopline serve` hosts (LOOPLINE_URL, one service token, own "
        "caches) on this machine, 4 keep-alive load connections each; the server stores their "
        "shipped segments; ingested/s = records stored / (load start → last segment stored)",
    }


def loopline_side(tmp: Path, size: dict[str, int], serving: bool) -> dict[str, Any]:
    workspace = tmp / "ws"
    prepared = prepare_workspace(workspace, size["search_runs"], serving)
    tokens = prepared.pop("tokens")
    out: dict[str, Any] = {"prepare": prepared}
    process, url = start_loopline(workspace, tmp / "server.log")
    try:
        out["logging"] = loopline_logging(url, tokens[USER], size)
        out["search"] = optional(loopline_search, url, tokens[USER], size)
        if serving:
            out["first_prediction"] = optional(
                first_prediction, url, tokens[HOST_USER], tmp / "first-host", "bench-first"
            )
            out["ingest"] = optional(
                ingest_ceiling, url, tokens[HOST_USER], workspace, tmp / "hosts", size
            )
    finally:
        stop(process)
    return out


# --- the MLflow side ----------------------------------------------------------------------------


def peer(config: dict[str, Any]) -> dict[str, Any]:
    return MLFLOW.run(config)[0]


def mlflow_side(tmp: Path, size: dict[str, int], serving: bool) -> dict[str, Any]:
    out = MLFLOW.prepare()
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp
    with scratch("mlflow-remote", parent=shm) as fast:  # filled on tmpfs (see bench/tracking.py)
        fill = FILL.run(
            {"mode": "log", "db": str(fast / "mlflow.db"), "runs": size["search_runs"]}
        )[0]
        shutil.copyfile(fast / "mlflow.db", tmp / "mlflow.db")
    out["fill"] = {"runs": size["search_runs"], "seconds": fill["seconds"]}
    process, url = start_mlflow(tmp / "mlflow.db", tmp / "artifacts", tmp / "mlflow-server.log")
    try:
        logging_id = peer({"mode": "experiment", "uri": url, "name": LOG_PROJECT})["experiment_id"]
        search_id = peer({"mode": "experiment", "uri": url, "name": EXPERIMENT})["experiment_id"]
        start_at = time.time() + START_DELAY + size["clients"] * 1.5  # mlflow imports slowly
        commands = [
            [
                str(MLFLOW.python),
                str(ROOT / "bench" / "peers" / MLFLOW.script),
                json.dumps(
                    {
                        "mode": "log",
                        "uri": url,
                        "experiment_id": logging_id,
                        "runs": size["runs"],
                        "first": index * size["runs"],
                        "start_at": start_at,
                    }
                ),
            ]
            for index in range(size["clients"])
        ]
        out["logging"] = aggregate(together(commands, clean_env(**MLFLOW.env)))
        out["logging"]["method"] = (
            "MlflowClient(tracking_uri=http://…) per process: create_run + one log_batch + "
            "set_terminated per run; `mlflow server` with its default workers, SQLite store"
        )
        out["search"] = optional(
            peer,
            {"mode": "search", "uri": url, "experiment_id": search_id, "repeats": size["repeats"]},
        )
        if serving:
            out["first_prediction"] = optional(mlflow_first_prediction, url)
    finally:
        stop(process)
    return out


def mlflow_first_prediction(url: str) -> dict[str, Any]:
    registered = peer({"mode": "register", "uri": url, "name": SERVE_PROJECT})
    figures, wall = MLFLOW.run({"mode": "load", "uri": url, "name": SERVE_PROJECT})
    return {
        **figures,
        "registered_version": registered["version"],
        "start_to_first_prediction_s": round(wall, 3),
        "method": "a fresh process: import mlflow, pyfunc.load_model('models:/hw-triage@production') "
        "from the server (a scikit-learn LogisticRegression on 12 features), one predict",
    }


# --- --serving-only ------------------------------------------------------------------------------


def serving_only(tmp: Path, repeat: int, peer_too: bool) -> dict[str, Any]:
    """C alone: both servers up at once, then fresh hosts and fresh MLflow loads, alternating
    (so both sides see the same machine load); medians and their ratio."""
    prepared = prepare_workspace(tmp / "ws", 0, serving=True)
    tokens = prepared.pop("tokens")
    out: dict[str, Any] = {"prepare": prepared, "load_average_before": os.getloadavg()}
    ours, url = start_loopline(tmp / "ws", tmp / "server.log")
    theirs = None
    try:
        if peer_too:
            MLFLOW.prepare()
            theirs, mlflow_url = start_mlflow(
                tmp / "mlflow.db", tmp / "artifacts", tmp / "mlflow-server.log"
            )
            registered = peer({"mode": "register", "uri": mlflow_url, "name": SERVE_PROJECT})
        hosts: list[dict[str, Any]] = []
        loads: list[dict[str, Any]] = []
        for index in range(repeat):
            hosts.append(
                first_prediction(url, tokens[HOST_USER], tmp / f"host-{index}", f"bench-{index}")
            )
            if peer_too:
                figures, wall = MLFLOW.run(
                    {"mode": "load", "uri": mlflow_url, "name": SERVE_PROJECT}
                )
                loads.append({**figures, "start_to_first_prediction_s": round(wall, 3)})
    finally:
        stop(ours)
        if theirs is not None:
            stop(theirs)
    out["load_average_after"] = os.getloadavg()
    key = "start_to_first_prediction_s"
    out["loopline"] = {"runs": hosts, key: _median([h[key] for h in hosts])}
    if peer_too:
        out["mlflow"] = {
            "runs": loads,
            key: _median([m[key] for m in loads]),
            "registered_version": registered["version"],
        }
        out["ratio (Loopline faster by ×)"] = round(out["mlflow"][key] / out["loopline"][key], 2)
        out["meets_target"] = (
            out["ratio (Loopline faster by ×)"] >= TARGETS["first_prediction_ratio"]
        )
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# --- main ---------------------------------------------------------------------------------------


def figure(side: dict[str, Any], phase: str, name: str) -> Any:
    """``side[phase][name]``, or None when the phase failed or was not measured."""
    found = side.get(phase)
    return found.get(name) if isinstance(found, dict) else None


def ratios(ll: dict[str, Any], ml: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = {
        "logging": (figure(ll, "logging", "runs_per_s"), figure(ml, "logging", "runs_per_s")),
        "search_p95": (figure(ml, "search", "p95_ms"), figure(ll, "search", "p95_ms")),
        "first_prediction": (
            figure(ml, "first_prediction", "start_to_first_prediction_s"),
            figure(ll, "first_prediction", "start_to_first_prediction_s"),
        ),
    }
    for name, (top, bottom) in pairs.items():
        if top and bottom:
            out[name] = round(top / bottom, 1)
    return out


def meets(ll: dict[str, Any], factor: dict[str, Any]) -> dict[str, Any]:
    p95 = figure(ll, "search", "p95_ms")
    return {
        "log_ratio_vs_mlflow": None
        if "logging" not in factor
        else factor["logging"] >= TARGETS["log_ratio_vs_mlflow"],
        "search_p95_ms": None if p95 is None else p95 < TARGETS["search_p95_ms"],
        "first_prediction_ratio": None
        if "first_prediction" not in factor
        else factor["first_prediction"] >= TARGETS["first_prediction_ratio"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no serving phases")
    parser.add_argument("--no-peer", action="store_true", help="Loopline's side only")
    parser.add_argument(
        "--no-serving", action="store_true", help="skip the serving phases (C and the ceiling)"
    )
    parser.add_argument(
        "--serving-only", action="store_true", help="only C (start to first prediction)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="with --serving-only: runs per side")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        config = json.loads(args.worker)
        emit_line(WORKERS[config["mode"]](config))
        return 0
    if args.serving_only:
        clock = Stopwatch()
        result = header("remote-serving", workload={"repeat": args.repeat}, targets=TARGETS)
        with scratch("remote-serving") as tmp:
            result.update(serving_only(tmp, args.repeat, not args.no_peer))
        emit(result, clock)
        return 0
    size = QUICK if args.quick else FULL
    serving = (
        not args.quick
        and not args.no_serving
        and (ROOT / "core" / "remote" / "serving.py").is_file()
    )
    clock = Stopwatch()
    result = header(
        "remote",
        workload={
            **size,
            "run_shape": "20 params, 10 final metrics, loss over 50 steps",
            "filter": FILTER,
            "order_by": list(ORDER_BY),
        },
        targets=TARGETS,
    )
    with scratch("remote") as tmp:
        (tmp / "loopline").mkdir()
        (tmp / "mlflow").mkdir()
        result["loopline"] = loopline_side(tmp / "loopline", size, serving)
        if args.no_peer or (args.quick and not MLFLOW.python.exists()):
            result["mlflow"] = {"error": "not run (--no-peer, or --quick without its venv)"}
        else:
            result["mlflow"] = optional(mlflow_side, tmp / "mlflow", size, serving)
    if not serving:
        reason = "not measured: " + (
            "--quick"
            if args.quick
            else "--no-serving"
            if args.no_serving
            else "core/remote/serving.py is absent"
        )
        result["loopline"]["first_prediction"] = result["loopline"]["ingest"] = reason
    factor = ratios(result["loopline"], result["mlflow"])
    result["ratios (Loopline faster by ×)"] = factor
    result["meets_targets"] = meets(result["loopline"], factor)
    emit(result, clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
