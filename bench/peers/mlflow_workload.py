"""The MLflow side of ``bench/tracking.py``: run by the bench-only venv (bench/peers/.venv-mlflow).

    .venv-mlflow/bin/python mlflow_workload.py '{"mode": "log", "db": "/tmp/x/mlflow.db", "runs": 1000}'

Prints one JSON object. Modes:

- ``log``: ``MlflowClient.create_run`` + one ``log_batch`` (20 params, 10 final metrics, 50 steps
  of ``loss``) + ``set_terminated`` per run, SQLite store; runs/s.
- ``fluent``: the fluent API (``start_run``, ``log_params``, ``log_metrics``, 50 × ``log_metric``).
- ``search``: ``mlflow.search_runs`` to a DataFrame, filtered + ordered and unfiltered; a warm-up
  call, then the median of the timed repetitions, all in this one process.

``run_shape`` is the workload itself, shared with Loopline's side (standard library only, so that
``bench/tracking.py`` can import it from the project's venv). Timing and output go through
``bench/harness.py`` (standard library only too), as on Loopline's side.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.harness

from bench.harness import Stopwatch, emit_line, repeat_ms, repetitions

PARAMS = 20  # "model" and 19 hyper-parameters
FINAL_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss", "brier")
FINAL_METRICS += ("mae", "train_seconds", "n_features")  # 10 in all
STEPS = 50
MODELS = ("xgb", "rf", "lr")  # a third of the runs are xgb
FILTER = "metrics.accuracy > 0.9 and params.model = 'xgb'"
ORDER_BY = ("metrics.f1 DESC",)
EXPERIMENT = "bench-project"


def run_shape(index: int, seed: int = 5) -> tuple[dict[str, str], dict[str, float], list[float]]:
    """Params, final metrics and the 50-step ``loss`` history of run number ``index``."""
    rng = random.Random(seed * 1_000_003 + index)
    params = {"model": MODELS[index % len(MODELS)]}
    for j in range(1, PARAMS):
        params[f"hp_{j:02d}"] = repr(round(rng.uniform(0.001, 100.0), 4)) if j % 2 else f"opt{j}"
    # ~7.5% of runs score above 0.9, so the filter keeps a few hundred of 10,000 (~250)
    accuracy = 0.5 + 0.45 * rng.random() ** 1.5
    metrics = {name: round(rng.random(), 6) for name in FINAL_METRICS}
    metrics["accuracy"] = round(accuracy, 6)
    metrics["f1"] = round(accuracy - rng.uniform(0.0, 0.05), 6)
    start = rng.uniform(0.8, 1.5)
    loss = [round(start * 0.95**step + rng.uniform(0, 0.01), 6) for step in range(STEPS)]
    return params, metrics, loss


def _client(db: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def _experiment(client: Any, db: str) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    artifacts = Path(db).parent / "mlflow-artifacts"
    return str(client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri()))


def log(db: str, runs: int, first: int = 0) -> dict[str, Any]:
    from mlflow.entities import Metric, Param

    client = _client(db)
    experiment = _experiment(client, db)  # creates the tables: not timed
    clock = Stopwatch()
    for index in range(first, first + runs):
        params, metrics, loss = run_shape(index)
        now = int(time.time() * 1000)
        run = client.create_run(experiment, run_name=f"run-{index}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()]
            + [Metric("loss", v, now, step) for step, v in enumerate(loss)],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run.info.run_id)
    seconds = clock.seconds
    return {"runs": runs, "seconds": round(seconds, 2), "runs_per_s": round(runs / seconds, 1)}


def fluent(db: str, runs: int) -> dict[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    _experiment(_client(db), db)
    mlflow.set_experiment(EXPERIMENT)
    clock = Stopwatch()
    for index in range(runs):
        params, metrics, loss = run_shape(index)
        with mlflow.start_run(run_name=f"run-{index}"):
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            for step, value in enumerate(loss):
                mlflow.log_metric("loss", value, step=step)
    seconds = clock.seconds
    return {
        "runs": runs,
        "seconds": round(seconds, 2),
        "ms_per_run": round(seconds / runs * 1000, 1),
        "runs_per_s": round(runs / seconds, 2),
    }


def _timed(call: Any, repeats: int) -> dict[str, Any]:
    """A warm-up call (not counted), then ``repeats`` timed ones."""
    times, frame = repeat_ms(call, repeats)
    return {
        **repetitions(times),
        "rows": len(frame),
        "columns": len(frame.columns),
    }


def search(db: str, repeats: int, unfiltered_repeats: int) -> dict[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    experiment = _experiment(_client(db), db)
    filtered = _timed(
        lambda: mlflow.search_runs(
            experiment_ids=[experiment],
            filter_string=FILTER,
            order_by=list(ORDER_BY),
            max_results=10_000,
        ),
        repeats,
    )
    unfiltered = _timed(
        lambda: mlflow.search_runs(experiment_ids=[experiment], max_results=10_000),
        unfiltered_repeats,
    )
    return {"filtered": filtered, "unfiltered": unfiltered}


def versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {"python": sys.version.split()[0]}
    for name in ("mlflow", "pandas", "sqlalchemy"):
        out[name] = metadata.version(name)
    return out


def main() -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    config = json.loads(sys.argv[1])
    clock = Stopwatch()
    mode = config["mode"]
    if mode == "versions":
        result = versions()
    elif mode == "log":
        result = log(config["db"], config["runs"], config.get("first", 0))
    elif mode == "fluent":
        result = fluent(config["db"], config["runs"])
    elif mode == "search":
        result = search(config["db"], config["repeats"], config["unfiltered_repeats"])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result["process_s"] = round(clock.seconds, 2)
    emit_line(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
