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

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/tracking.py`
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))  # the shared workload

from mlflow_workload import EXPERIMENT, FILTER, ORDER_BY, run_shape

from bench.harness import (
    Peer,
    Stopwatch,
    emit,
    header,
    optional,
    repeat_ms,
    repetitions,
    scratch,
)
from core.actor import Actor
from core.experiments.search import search_runs
from core.experiments.tracking import Tracker
from core.store import Workspace

MLFLOW = Peer(
    "mlflow", "mlflow_workload.py", {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
)
LOG_RUNS = 1_000
FLUENT_RUNS = 50
SEARCH_RUNS = 10_000
REPEATS = 5
TARGETS = {
    "log_ratio_vs_mlflow_log_batch": 20,
    "filtered_search_ms": 50,
    "unfiltered_search_ms": 300,
    # cold median, MLflow's time over Loopline's: issue 18 asks 20x for the filtered search; the
    # unfiltered one keeps the 10x set when this bench was written
    "filtered_search_ratio_vs_mlflow": 20,
    "unfiltered_search_ratio_vs_mlflow": 10,
}
ACTOR = Actor("bench", "test")


# --- MLflow, in its own venv -------------------------------------------------------------------


def peer(config: dict[str, Any]) -> dict[str, Any]:
    """One phase of the MLflow workload in a fresh process of the peer venv."""
    return MLFLOW.run(config)[0]


def mlflow_side(tmp: Path) -> dict[str, Any]:
    out = MLFLOW.prepare()  # venv_ready_s, versions
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
    with scratch("mlflow", parent=shm) as fast:
        fill = peer({"mode": "log", "db": str(fast / "mlflow.db"), "runs": SEARCH_RUNS})
        (tmp / "b").mkdir()
        shutil.copyfile(fast / "mlflow.db", tmp / "b" / "mlflow.db")
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
    with Stopwatch() as clock, Tracker(ws, ACTOR) as tracker:
        for index in range(runs):
            params, metrics, loss = run_shape(index)
            with tracker.start_run(EXPERIMENT) as run:
                run.log_params(params)
                run.log_metrics(metrics)
                for step, value in enumerate(loss):
                    run.log_metric("loss", value, step=step)
    return clock.seconds


def timed(call: Callable[[], Any]) -> dict[str, Any]:
    """A warm-up call (not counted), then ``REPEATS`` timed ones."""
    times, table = repeat_ms(call, REPEATS)
    return {
        **repetitions(times),
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


def main() -> int:
    clock = Stopwatch()
    result = header(
        "tracking",
        workload={
            "params": 20,
            "final_metrics": 10,
            "history": "loss over 50 steps",
            "filter": FILTER,
            "order_by": list(ORDER_BY),
        },
        targets=TARGETS,
    )
    with scratch() as tmp:
        (tmp / "loopline").mkdir()
        (tmp / "mlflow").mkdir()
        result["loopline"] = loopline_side(tmp / "loopline")
        result["mlflow"] = optional(mlflow_side, tmp / "mlflow")  # the peer is optional
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
            ratios["filtered_cold"] >= TARGETS["filtered_search_ratio_vs_mlflow"]
        )
        meets["unfiltered_search_ratio (cold)"] = (
            ratios["unfiltered_cold"] >= TARGETS["unfiltered_search_ratio_vs_mlflow"]
        )
    else:
        for key in ("log_ratio_vs_mlflow_log_batch", "filtered_search_ratio (cold)"):
            meets[key] = None  # no peer figure to compare with
        meets["unfiltered_search_ratio (cold)"] = None
    result["meets_targets"] = meets
    emit(result, clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
