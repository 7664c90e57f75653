"""Tracking benchmark: logging runs and searching them, against MLflow on the same workload.

    python bench/tracking.py         # from the repository root; prints one JSON object (~7 min)

The workload (``run_shape`` in ``bench/peers/mlflow_workload.py``, shared by both tools): every run
has 20 params (``model`` is ``xgb`` for a third of the runs), 10 final metrics and one metric
(``loss``) over 50 steps; ``accuracy`` is spread so that ``metrics.accuracy > 0.9 and
params.model = 'xgb'`` keeps ~2.5% of the runs (~250 of 10,000).

A. Log 1,000 runs. Loopline: one ``Tracker`` for all runs, ``log_params`` + ``log_metrics`` + 50 ×
   ``log_metric(step=)`` per run; the time includes the tracker's final flush and close. MLflow
   (SQLite store): ``create_run`` + one ``log_batch`` + ``set_terminated`` per run, and the fluent
   API on 50 runs.
B. Search 10,000 runs of the same shape: filtered + ordered (``metrics.f1 DESC``), and every run
   to a DataFrame. A warm-up call, then the median of 5 calls in the same process. Loopline
   "cold" builds a fresh ``Workspace.open(path)`` inside each timed call, so the call opens the
   DuckDB file itself (the figure the targets are about); "warm" runs inside ``ws.store.read()``.

MLflow runs in its own bench-only venv (``bench/peers/.venv-mlflow``, built once from
``bench/peers/requirements-mlflow.txt``; never Loopline's dependencies), each phase in a fresh
subprocess. If it cannot be installed, the JSON says so and Loopline's side still runs.
Everything lives in temporary folders that are removed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/tracking.py`
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))  # the shared workload

import duckdb
from mlflow_workload import EXPERIMENT, FILTER, ORDER_BY, run_shape

from core.actor import Actor
from core.experiments.search import search_runs
from core.experiments.tracking import Tracker
from core.store import Workspace

PEERS = Path(__file__).resolve().parent / "peers"
PEER_VENV = PEERS / ".venv-mlflow"
PEER_PYTHON = PEER_VENV / "bin" / "python"
REQUIREMENTS = PEERS / "requirements-mlflow.txt"
PEER_SCRIPT = PEERS / "mlflow_workload.py"
PEER_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
LOG_RUNS = 1_000
FLUENT_RUNS = 50
SEARCH_RUNS = 10_000
REPEATS = 5
TARGETS = {
    "log_ratio_vs_mlflow_log_batch": 20,
    "filtered_search_ms": 50,
    "unfiltered_search_ms": 300,
    "search_ratio_vs_mlflow": 10,
}
ACTOR = Actor("bench", "test")


# --- MLflow, in its own venv -------------------------------------------------------------------


def peer_python() -> Path:
    """The bench-only venv with MLflow, built once; rebuilt when the requirements change."""
    stamp = PEER_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PEER_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return PEER_PYTHON
    shutil.rmtree(PEER_VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    for command in (
        [base, "-m", "venv", str(PEER_VENV)],
        [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"{' '.join(command[:4])} … failed: {tail}")
    stamp.write_text(wanted)
    return PEER_PYTHON


def peer(config: dict[str, Any]) -> dict[str, Any]:
    """One phase of the MLflow workload in a fresh process of the peer venv."""
    done = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), json.dumps(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **PEER_ENV},
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlflow {config['mode']}: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mlflow_side(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start = time.perf_counter()
    peer_python()
    out["venv_ready_s"] = round(time.perf_counter() - start, 1)
    out["versions"] = peer({"mode": "versions"})
    (tmp / "a").mkdir()
    out["log_batch"] = peer({"mode": "log", "db": str(tmp / "a" / "mlflow.db"), "runs": LOG_RUNS})
    out["log_batch"]["method"] = "MlflowClient: create_run + one log_batch + set_terminated per run"
    (tmp / "fluent").mkdir()
    out["fluent"] = peer(
        {"mode": "fluent", "db": str(tmp / "fluent" / "mlflow.db"), "runs": FLUENT_RUNS}
    )
    # 10,000 runs through the same client calls take ~11 min on this disk (one SQLite commit,
    # with fsync, per call). Logged on tmpfs instead (~2 min), then copied next to Loopline's
    # workspace: the file searched is the same one either way.
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp
    with tempfile.TemporaryDirectory(prefix="loopline-bench-mlflow-", dir=shm) as fast:
        fill = peer({"mode": "log", "db": str(Path(fast) / "mlflow.db"), "runs": SEARCH_RUNS})
        (tmp / "b").mkdir()
        shutil.copyfile(Path(fast) / "mlflow.db", tmp / "b" / "mlflow.db")
    fill["method"] = (
        f"same client calls as log_batch, SQLite file on {shm} (no fsync wait), "
        "then copied to the benchmark's temporary folder on disk before searching"
    )
    fill["db_mb"] = round((tmp / "b" / "mlflow.db").stat().st_size / 1e6, 1)
    out["fill_10000"] = fill
    out["search"] = peer(
        {
            "mode": "search",
            "db": str(tmp / "b" / "mlflow.db"),
            "repeats": REPEATS,
            "unfiltered_repeats": REPEATS,
        }
    )
    out["search"]["method"] = "mlflow.search_runs(experiment_ids=…, max_results=10000) → DataFrame"
    return out


# --- Loopline -----------------------------------------------------------------------------------


def log_loopline(ws: Workspace, runs: int) -> float:
    start = time.perf_counter()
    with Tracker(ws, ACTOR) as tracker:
        for index in range(runs):
            params, metrics, loss = run_shape(index)
            with tracker.start_run(EXPERIMENT) as run:
                run.log_params(params)
                run.log_metrics(metrics)
                for step, value in enumerate(loss):
                    run.log_metric("loss", value, step=step)
    return time.perf_counter() - start


def timed(call: Callable[[], Any]) -> dict[str, Any]:
    table = call()  # warm-up: not counted
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        table = call()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "times_ms": [round(t, 1) for t in times],
        "repetitions": REPEATS,
        "rows": len(table.frame),
        "columns": len(table.frame.columns),
    }


def loopline_side(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ws = Workspace.init(tmp / "ws-a")
    seconds = log_loopline(ws, LOG_RUNS)
    out["log"] = {
        "runs": LOG_RUNS,
        "seconds": round(seconds, 2),
        "runs_per_s": round(LOG_RUNS / seconds, 1),
        "method": "one Tracker; log_params + log_metrics + 50 × log_metric(step=) per run; "
        "includes the final flush and close",
    }
    path = tmp / "ws-b"
    ws = Workspace.init(path)
    seconds = log_loopline(ws, SEARCH_RUNS)
    out["fill_10000"] = {
        "runs": SEARCH_RUNS,
        "seconds": round(seconds, 2),
        "runs_per_s": round(SEARCH_RUNS / seconds, 1),
        "db_mb": round(sum(f.stat().st_size for f in path.rglob("*.duckdb*")) / 1e6, 1),
    }

    def filtered(ws: Workspace) -> Any:
        return search_runs(ws, EXPERIMENT, FILTER, list(ORDER_BY), limit=10_000)

    def unfiltered(ws: Workspace) -> Any:
        return search_runs(ws, EXPERIMENT, limit=10_000)

    out["search_cold"] = {
        "filtered": timed(lambda: filtered(Workspace.open(path))),
        "unfiltered": timed(lambda: unfiltered(Workspace.open(path))),
        "method": "fresh Workspace.open(path) inside every timed call",
    }
    ws = Workspace.open(path)
    with ws.store.read():
        out["search_warm"] = {
            "filtered": timed(lambda: filtered(ws)),
            "unfiltered": timed(lambda: unfiltered(ws)),
            "method": "inside one ws.store.read()",
        }
    return out


# --- main ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": metadata.version("pandas"),
    }


def main() -> int:
    began = time.perf_counter()
    result: dict[str, Any] = {
        "bench": "tracking",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "workload": {
            "params": 20,
            "final_metrics": 10,
            "history": "loss over 50 steps",
            "filter": FILTER,
            "order_by": list(ORDER_BY),
        },
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as tmp:
        (Path(tmp) / "loopline").mkdir()
        (Path(tmp) / "mlflow").mkdir()
        result["loopline"] = loopline_side(Path(tmp) / "loopline")
        try:
            result["mlflow"] = mlflow_side(Path(tmp) / "mlflow")
        except Exception as error:  # the peer is optional: report it and keep Loopline's side
            result["mlflow"] = {"error": f"{type(error).__name__}: {error}"}
    ll, ml = result["loopline"], result["mlflow"]
    cold = ll["search_cold"]
    meets: dict[str, Any] = {
        "filtered_search_ms (cold median)": cold["filtered"]["median_ms"]
        < TARGETS["filtered_search_ms"],
        "unfiltered_search_ms (cold median)": cold["unfiltered"]["median_ms"]
        < TARGETS["unfiltered_search_ms"],
    }
    if "error" not in ml:
        ratios = {
            "log_vs_log_batch": round(ll["log"]["runs_per_s"] / ml["log_batch"]["runs_per_s"], 1),
            "log_vs_fluent": round(ll["log"]["runs_per_s"] / ml["fluent"]["runs_per_s"], 1),
            "filtered_cold": round(
                ml["search"]["filtered"]["median_ms"] / cold["filtered"]["median_ms"], 1
            ),
            "unfiltered_cold": round(
                ml["search"]["unfiltered"]["median_ms"] / cold["unfiltered"]["median_ms"], 1
            ),
            "filtered_warm": round(
                ml["search"]["filtered"]["median_ms"] / ll["search_warm"]["filtered"]["median_ms"],
                1,
            ),
            "unfiltered_warm": round(
                ml["search"]["unfiltered"]["median_ms"]
                / ll["search_warm"]["unfiltered"]["median_ms"],
                1,
            ),
        }
        result["ratios (Loopline faster by ×)"] = ratios
        meets["log_ratio_vs_mlflow_log_batch"] = (
            ratios["log_vs_log_batch"] >= TARGETS["log_ratio_vs_mlflow_log_batch"]
        )
        meets["filtered_search_ratio (cold)"] = (
            ratios["filtered_cold"] >= TARGETS["search_ratio_vs_mlflow"]
        )
        meets["unfiltered_search_ratio (cold)"] = (
            ratios["unfiltered_cold"] >= TARGETS["search_ratio_vs_mlflow"]
        )
    else:
        for key in ("log_ratio_vs_mlflow_log_batch", "filtered_search_ratio (cold)"):
            meets[key] = None  # no peer figure to compare with
        meets["unfiltered_search_ratio (cold)"] = None
    result["meets_targets"] = meets
    result["runtime_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
