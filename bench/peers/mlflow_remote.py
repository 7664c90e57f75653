"""The MLflow side of ``bench/remote.py``: clients of an ``mlflow server`` over HTTP, run by the
bench-only venv (bench/peers/.venv-mlflow).

    .venv-mlflow/bin/python mlflow_remote.py '{"mode": "log", "uri": "http://127.0.0.1:5000", ...}'

Prints one JSON object (its last stdout line). Modes:

- ``experiment``: get or create an experiment by name; its id.
- ``log``: wait until ``start_at`` (epoch seconds, so that all clients start together), then per
  run ``MlflowClient.create_run`` + one ``log_batch`` (the standard run shape of
  ``mlflow_workload.run_shape``) + ``set_terminated``; its start, end and runs/s.
- ``search``: the filtered, ordered ``mlflow.search_runs`` of bench/tracking.py over HTTP, a
  warm-up call then ``repeats`` timed ones.
- ``register``: a small scikit-learn model logged (``pip_requirements`` given, so no 5 s of
  requirement inference), registered as ``name`` and given the alias ``production``.
- ``load``: in this fresh process, ``import mlflow``, ``mlflow.pyfunc.load_model(
  "models:/<name>@production")`` and one prediction; the seconds of each step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.harness
sys.path.insert(0, str(Path(__file__).resolve().parent))  # mlflow_workload

from mlflow_workload import FILTER, ORDER_BY, run_shape

from bench.harness import emit_line, repeat_ms, summarize_ms

STARTED = time.perf_counter()  # after the standard library and the harness: cheap
FEATURES = 12


def experiment(uri: str, name: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name)
    return {"experiment_id": str(experiment_id)}


def log(uri: str, experiment_id: str, runs: int, first: int, start_at: float) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=uri)
    client.get_experiment(experiment_id)  # connected before the clock starts
    time.sleep(max(0.0, start_at - time.time()))
    start = time.time()
    errors = 0
    for index in range(first, first + runs):
        params, metrics, loss = run_shape(index)
        now = int(time.time() * 1000)
        try:
            run = client.create_run(experiment_id, run_name=f"run-{index}")
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, now, 0) for k, v in metrics.items()]
                + [Metric("loss", v, now, step) for step, v in enumerate(loss)],
                params=[Param(k, v) for k, v in params.items()],
            )
            client.set_terminated(run.info.run_id)
        except Exception:  # a refused write counts as lost, not as a bench failure
            errors += 1
    end = time.time()
    return {
        "runs": runs,
        "start": start,
        "end": end,
        "seconds": round(end - start, 2),
        "runs_per_s": round(runs / (end - start), 2),
        "errors": errors,
    }


def search(uri: str, experiment_id: str, repeats: int) -> dict[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(uri)
    times, frame = repeat_ms(
        lambda: mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=FILTER,
            order_by=list(ORDER_BY),
            max_results=10_000,
        ),
        repeats,
    )
    return {**summarize_ms(times), "repetitions": repeats, "rows": len(frame)}


def register(uri: str, name: str) -> dict[str, Any]:
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, FEATURES))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    model = LogisticRegression(max_iter=200).fit(features, labels)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-serving")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            pip_requirements=["scikit-learn", "numpy"],
        )
    version = info.registered_model_version
    MlflowClient(tracking_uri=uri).set_registered_model_alias(name, "production", version)
    return {"version": int(version)}


def load(uri: str, name: str) -> dict[str, Any]:
    imported = time.perf_counter()
    import mlflow
    import numpy as np

    mlflow.set_tracking_uri(uri)
    ready = time.perf_counter()
    model = mlflow.pyfunc.load_model(f"models:/{name}@production")
    loaded = time.perf_counter()
    prediction = model.predict(np.zeros((1, FEATURES)))
    done = time.perf_counter()
    return {
        "python_start_s": round(imported - STARTED, 3),
        "import_s": round(ready - imported, 3),
        "load_s": round(loaded - ready, 3),
        "first_prediction_ms": round((done - loaded) * 1000, 1),
        "in_process_s": round(done - STARTED, 3),
        "prediction": [int(v) for v in prediction],
    }


def versions() -> dict[str, Any]:
    from importlib import metadata

    return {"python": sys.version.split()[0], "mlflow": metadata.version("mlflow")}


def main() -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    config = json.loads(sys.argv[1])
    mode = config["mode"]
    if mode == "versions":
        result = versions()
    elif mode == "experiment":
        result = experiment(config["uri"], config["name"])
    elif mode == "log":
        result = log(
            config["uri"],
            config["experiment_id"],
            config["runs"],
            config["first"],
            config["start_at"],
        )
    elif mode == "search":
        result = search(config["uri"], config["experiment_id"], config["repeats"])
    elif mode == "register":
        result = register(config["uri"], config["name"])
    elif mode == "load":
        result = load(config["uri"], config["name"])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    emit_line(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
