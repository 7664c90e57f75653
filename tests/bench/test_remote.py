"""bench/remote.py in its quick mode: a real `loopline server` and client processes, tiny sizes
(with MLflow's server too when its bench venv is built; without it otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench import harness
from bench.remote import MLFLOW, figure, meets, ratios


def test_remote_bench_runs_quickly_and_reports_both_sides() -> None:
    command = [sys.executable, "bench/remote.py", "--quick"]
    if not MLFLOW.python.exists():
        command.append("--no-peer")
    done = subprocess.run(
        command, cwd=harness.ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    ll = report["loopline"]
    assert ll["logging"]["runs"] == 10 and ll["logging"]["errors"] == 0
    assert ll["logging"]["duckdb_loaded_in_a_client"] is False
    assert ll["search"]["repetitions"] == 3 and ll["search"]["rows"] > 0
    assert ll["first_prediction"] == "not measured: --quick"
    if "error" not in report["mlflow"]:
        assert report["mlflow"]["logging"]["runs"] == 10
        assert report["mlflow"]["search"]["rows"] == ll["search"]["rows"]  # same workload
        assert set(report["ratios (Loopline faster by ×)"]) == {"logging", "search_p95"}


def test_ratios_and_targets_skip_what_was_not_measured() -> None:
    ll = {"logging": {"runs_per_s": 500.0}, "search": {"p95_ms": 40.0}, "ingest": "not measured"}
    ml = {"logging": {"runs_per_s": 20.0}, "search": {"error": "boom"}}
    assert figure(ll, "ingest", "x") is None
    factor = ratios(ll, ml)
    assert factor == {"logging": 25.0}
    assert meets(ll, factor) == {
        "log_ratio_vs_mlflow": True,
        "search_p95_ms": True,
        "first_prediction_ratio": None,
    }
