"""Monitoring benchmark: drift of 25 columns over 1,000,000 reference and 1,000,000 current rows,
by Loopline and by Evidently 0.7, and the prediction service under 50 concurrent clients.

    python bench/monitoring.py                 # from the repository root; prints one JSON object
    python bench/monitoring.py --repeats 1 --rows 100000 --skip-service   # a quick look

Data (seeded, generated once per run into a temporary folder): 20 numeric columns (normal,
lognormal, Poisson counts, uniform) and 5 categorical ones of cardinality 3, 10, 50, 300 and 1,000;
the reference is ``reference.parquet``, the current rows are four Parquet segments laid out as the
prediction log (``logs/bench/predictions/``); 8 numeric and 2 categorical columns are shifted.

Loopline, each run in a fresh process, through the real code path: the reference statistics of
the reference file (``core.monitoring.reference.summarize``), stored into a workspace and read back
(``store_reference`` / ``find_reference``), then one window's drift of every column from the log
segments (``LogReader`` + ``window_drift``: DuckDB SQL over the Parquet files). Evidently, each run
in a fresh process of a bench-only venv (``bench/peers/.venv-evidently``, built once from
``bench/peers/requirements-evidently.txt``): ``Report([DataDriftPreset()]).run(current,
reference)`` with the columns declared; once more with ``DataDriftPreset(method="psi")`` to compare
PSI values with Loopline's. Time excludes loading the files (Evidently) and imports (both); peak
memory is the process's peak RSS (``getrusage``), loading included. Medians of ``--repeats``.

The service part (when ``bench/serving.py`` is there) builds a workspace with a production
hw-triage model, starts ``loopline serve`` and sends single predictions from 50 keep-alive
clients (``run_load``), then times ``loopline monitor`` on the log the service wrote.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/monitoring.py`

from bench.harness import (
    ROOT,
    Peer,
    Stopwatch,
    emit,
    emit_line,
    header,
    optional,
    peak_rss_mb,
    run_json,
    scratch,
)

EVIDENTLY = Peer("evidently", "evidently_workload.py")
CARDINALITIES = (3, 10, 50, 300, 1000)
TARGETS = {"speedup_vs_evidently": 50.0, "memory_share_of_evidently": 0.25}
WINDOW = "2026-08-03"


# --- data --------------------------------------------------------------------------------------


def numeric(i: int, n: int, shifted: bool, rng: Any) -> Any:
    import numpy as np

    shift = 1.0 if shifted else 0.0
    kind = i % 4
    if kind == 0:
        return rng.normal(0.3 * shift, 1.0 + 0.1 * i, n)
    if kind == 1:
        return rng.lognormal(0.5 + 0.2 * shift, 0.8, n)
    if kind == 2:
        return rng.poisson(25 + 3 * shift, n).astype(np.int64)  # counts: > 20 distinct values
    return rng.uniform(0.0, 100.0 + 15 * shift, n)


def make_data(folder: Path, rows: int, seed: int = 2026) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    shifted_numeric = {1, 2, 4, 7, 10, 13, 16, 19}
    shifted_categories = {1, 3}

    def table(current: bool) -> pa.Table:
        columns: dict[str, Any] = {}
        for i in range(20):
            columns[f"f_num{i}"] = numeric(i, rows, current and i in shifted_numeric, rng)
        for j, cardinality in enumerate(CARDINALITIES):
            weights = np.arange(1, cardinality + 1, dtype=float) ** -0.8
            if current and j in shifted_categories:
                weights = weights[::-1] ** 0.5
            codes = rng.choice(cardinality, rows, p=weights / weights.sum())
            values = pa.array([f"v{k:04d}" for k in range(cardinality)])
            columns[f"f_cat{j}"] = pa.DictionaryArray.from_arrays(pa.array(codes), values).cast(
                pa.string()
            )
        return pa.table(columns)

    pq.write_table(table(False), folder / "reference.parquet")
    current = table(True)
    current = current.append_column(
        "ts", pa.array(np.full(rows, np.datetime64(f"{WINDOW}T12:00:00", "us")))
    )
    log = folder / "logs" / "bench" / "predictions"
    log.mkdir(parents=True)
    step = -(-rows // 4)
    for part in range(4):
        pq.write_table(current.slice(part * step, step), log / f"seg-{part}.parquet")
    return {
        "rows": rows,
        "numeric_columns": 20,
        "categorical_columns": {f"f_cat{j}": c for j, c in enumerate(CARDINALITIES)},
        "shifted": sorted(
            [f"f_num{i}" for i in shifted_numeric] + [f"f_cat{j}" for j in shifted_categories]
        ),
        "log_segments": 4,
        "seed": seed,
    }


# --- Loopline, in a fresh process ----------------------------------------------------------------


def loopline_worker(folder: Path) -> dict[str, Any]:
    """The measured work (imports done first, as Evidently's are)."""
    import duckdb

    for module in ("scipy.stats", "scipy.spatial.distance"):  # imported before the clock
        importlib.import_module(module)

    from core.actor import Actor
    from core.monitoring.drift import window_drift
    from core.monitoring.log import LogReader
    from core.monitoring.models import Feature, Reference
    from core.monitoring.reference import find_reference, store_reference, summarize
    from core.store import Workspace

    features = [Feature(f"num{i}", f"num{i}", "numeric", integer=i % 4 == 2) for i in range(20)]
    features += [Feature(f"cat{j}", f"cat{j}", "category") for j in range(len(CARDINALITIES))]
    ws = Workspace.init(folder / "ws")
    cpu_started = time.process_time()
    started = time.perf_counter()
    with duckdb.connect() as con:
        relation = con.read_parquet(str(folder / "reference.parquet"))
        relation.create_view("reference_rows")
        stats = summarize(con, "reference_rows", features, prefix="f_")
    summarized = time.perf_counter()
    with ws.store.transaction() as tx:
        store_reference(
            tx, Reference(1, "bench", None, None, 0, 0, {}, stats), Actor("bench", "test")
        )
    with ws.store.read() as tx:
        reference = find_reference(tx, 1)
    assert reference is not None
    stored = time.perf_counter()
    window = datetime.fromisoformat(WINDOW)
    with LogReader(folder, "bench") as reader:
        results = window_drift(reader, "time_bucket(INTERVAL '1 day', ts)", [window], reference)
    done = time.perf_counter()
    cpu = time.process_time() - cpu_started
    found = results[window]
    return {
        "seconds": round(done - started, 3),
        "cpu_s": round(cpu, 3),  # this process's CPU time over the same span (all threads)
        "reference_s": round(summarized - started, 3),
        "store_s": round(stored - summarized, 3),
        "drift_s": round(done - stored, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "psi": {f"f_{r.feature}": r.statistics["psi"] for r in found},
        "js": {f"f_{r.feature}": r.statistics["js"] for r in found},
        "ks_error_max": max((r.statistics.get("ks_error", 0.0) for r in found), default=0.0),
        "columns": len(found),
    }


def loopline_side(folder: Path, repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        shutil.rmtree(folder / "ws", ignore_errors=True)
        result, wall = run_json(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(folder)],
            what="the Loopline drift process",
        )
        result["process_wall_s"] = round(wall, 2)
        runs.append(result)
    return summarize_runs(runs)


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (
        "seconds",
        "cpu_s",
        "reference_s",
        "store_s",
        "drift_s",
        "load_s",
        "process_wall_s",
        "peak_rss_mb",
    ):
        values = [r[key] for r in runs if key in r]
        if values:
            out[key] = round(statistics.median(values), 3)
    out["runs"] = [
        {k: v for k, v in r.items() if k not in ("psi", "js", "values", "methods")} for r in runs
    ]
    last = runs[-1]
    for key in ("psi", "js", "values", "methods", "ks_error_max", "columns"):
        if key in last:
            out[key] = last[key]
    return out


# --- Evidently, in its own venv ------------------------------------------------------------------


def evidently_side(folder: Path, repeats: int) -> dict[str, Any]:
    out = EVIDENTLY.prepare()  # venv_ready_s, versions
    runs = []
    for _ in range(repeats):
        result, wall = EVIDENTLY.run({"mode": "default", "data": str(folder)})
        result["process_wall_s"] = round(wall, 2)
        runs.append(result)
    out["default"] = summarize_runs(runs)
    out["default"]["method"] = "Report([DataDriftPreset()]).run(current, reference)"
    result, wall = EVIDENTLY.run({"mode": "psi", "data": str(folder)})
    result["process_wall_s"] = round(wall, 2)
    out["psi"] = summarize_runs([result])
    out["psi"]["method"] = 'Report([DataDriftPreset(method="psi")]).run(current, reference)'
    return out


# --- the service ---------------------------------------------------------------------------------


def service_side(folder: Path, seconds: float, clients: int, rate: float) -> dict[str, Any]:
    """Single predictions under load with logging on (bench/serving.py's tools), then monitor."""
    from bench.serving import build_workspace, request_bodies, run_load, start_service
    from core.actor import Actor
    from core.monitoring.service import compute_windows
    from core.store import Workspace

    workspace = folder / "service-ws"
    with Stopwatch() as build:
        build_workspace(workspace)
    out: dict[str, Any] = {"workspace_build_s": round(build.seconds, 1)}
    process, url = start_service(workspace)
    try:
        bodies = request_bodies()
        run_load(url, bodies[:200], clients=clients, seconds=2.0)  # warm-up
        out["load"] = run_load(url, bodies, clients, seconds, rate=rate)
    finally:
        process.terminate()
        process.wait(timeout=30)
    with Stopwatch() as monitor:
        report = compute_windows(
            Workspace.open(workspace), "hw-triage", grain="hour", actor=Actor("bench", "test")
        )
    out["monitor_after_load"] = {
        "seconds": round(monitor.seconds, 2),
        "windows": len(report.windows),
        "volume": sum(w.value("volume") or 0 for w in report.windows),
        "latency_p95_ms": max(
            (w.value("latency_p95_ms") or 0 for w in report.windows), default=None
        ),
        "note": "includes computing the model's reference statistics once",
    }
    return out


def compare(ll: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    """Agreement of the values and the targets' ratios."""
    default, psi_run = ev["default"], ev["psi"]
    psi_diff = {
        c: abs(v - psi_run["values"][c]) for c, v in ll["psi"].items() if c in psi_run["values"]
    }
    js_diff = {  # Evidently's default test for categories of > 1,000 rows is JS
        c: abs(v - default["values"][c])
        for c, v in ll["js"].items()
        if default.get("methods", {}).get(c) == "Jensen-Shannon distance"
    }
    speedup = default["seconds"] / ll["seconds"]
    memory = ll["peak_rss_mb"] / default["peak_rss_mb"]
    return {
        "psi_agreement": {
            "columns_compared": len(psi_diff),
            "max_abs_diff": max(psi_diff.values(), default=None),
            "worst_column": max(psi_diff, key=psi_diff.__getitem__) if psi_diff else None,
        },
        "js_agreement (categorical, Evidently's default test)": {
            "columns_compared": len(js_diff),
            "max_abs_diff": max(js_diff.values(), default=None),
        },
        "ratios": {
            "speedup_vs_evidently (drift time)": round(speedup, 1),
            "speedup_vs_evidently (process wall, incl. imports and loading)": round(
                default["process_wall_s"] / ll["process_wall_s"], 1
            ),
            "speedup_vs_evidently_psi_preset (drift time)": round(
                psi_run["seconds"] / ll["seconds"], 1
            ),
            "speedup_vs_evidently (CPU time: the figure least moved by other load)": round(
                default["cpu_s"] / ll["cpu_s"], 1
            )
            if default.get("cpu_s") and ll.get("cpu_s")
            else None,
            "memory_share_of_evidently (peak RSS)": round(memory, 3),
        },
        "meets_targets": {
            "speedup_vs_evidently": speedup >= TARGETS["speedup_vs_evidently"],
            "memory_share_of_evidently": memory <= TARGETS["memory_share_of_evidently"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows of reference and of current"
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per tool (median)")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--seconds", type=float, default=15.0, help="service load duration")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=400.0, help="offered requests per second")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        emit_line(loopline_worker(args.worker))
        return 0
    clock = Stopwatch()
    result = header("monitoring", targets=TARGETS)
    with scratch("monitoring") as folder:
        with Stopwatch() as generate:
            result["workload"] = make_data(folder, args.rows)
        result["workload"]["generate_s"] = round(generate.seconds, 1)
        ll = result["loopline"] = loopline_side(folder, args.repeats)
        if not args.skip_evidently:
            # the peer is optional: an error is reported and Loopline's side kept
            result["evidently"] = optional(evidently_side, folder, args.repeats)
            if "error" not in result["evidently"]:
                result.update(compare(ll, result["evidently"]))
        if not args.skip_service:
            if (ROOT / "bench" / "serving.py").is_file():
                result["service"] = optional(
                    service_side, folder, args.seconds, args.clients, args.rate
                )
            else:
                result["service"] = {"skipped": "bench/serving.py is not there"}
    emit(result, clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
