"""Runs in tests/tools/.venv-mlflow (MLflow itself, never Loopline's environment): writes an
MLflow tracking store (SQLite) and artifact folder as a team using MLflow would, for
tests/core/test_mlflow_import.py to import.

Argument: one JSON object {"db": PATH, "artifacts": DIR}. Prints one JSON line: the run ids, the
model versions and each model's predictions on ``X_CHECK`` (so the test can compare what Loopline
loads with what MLflow logged).

Experiment ``triage`` holds three runs: ``logreg`` (a scikit-learn pipeline saved with skops,
registered as ``triage-sklearn`` v1 and v2 with aliases), ``xgb`` (an XGBoost classifier in its
native UBJSON format, ``triage-xgb`` v1 with an alias) and ``broken`` (a failed run with a metric
history and no model). Experiment ``pickled`` holds one run whose scikit-learn model is saved
with cloudpickle (MLflow's default), registered as ``triage-pickled``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import mlflow.sklearn
import mlflow.xgboost
import numpy as np
import sklearn
import xgboost as xgb
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

COMMIT = "3f2a9c1d0b7e4f5a6c8d9e0f1a2b3c4d5e6f7a8b"
# What MLflow would infer for these models, given: its inference runs a Python process per model
# to see what the model imports (25 s of the writer's 38), and the files it writes are the same
# (requirements.txt, conda.yaml, python_env.yaml with these pins).
SKLEARN_PINS = [
    f"mlflow=={mlflow.__version__}",
    f"scikit-learn=={sklearn.__version__}",
    "cloudpickle",
    "skops",
]
XGBOOST_PINS = [f"mlflow=={mlflow.__version__}", f"xgboost=={xgb.__version__}"]
X_CHECK = [[0.5, -1.0, 2.0], [-1.5, 0.3, 0.1], [2.0, 2.0, -2.0]]


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype(int)
    return x, y


def main() -> None:
    config = json.loads(sys.argv[1])
    mlflow.set_tracking_uri(f"sqlite:///{config['db']}")
    root = Path(config["artifacts"]).resolve().as_uri()
    client = MlflowClient()
    x, y = data()
    out: dict[str, object] = {"runs": {}, "predictions": {}}
    triage = client.create_experiment("triage", artifact_location=f"{root}/triage")
    mlflow.set_experiment(experiment_id=triage)
    tags = {"team": "triage", "mlflow.source.git.commit": COMMIT, "mlflow.note.content": "first"}

    for version, c in enumerate((1.0, 0.1), start=1):
        with mlflow.start_run(run_name=f"logreg-{version}", tags=tags) as run:
            mlflow.log_params({"C": c, "max_iter": 200, "scaler": "standard"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1) + c / 10, step=step)
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=200))
            model.fit(x, y)
            mlflow.log_metric("accuracy", float(model.score(x, y)))
            mlflow.sklearn.log_model(
                model,
                name="model",
                serialization_format="skops",
                registered_model_name="triage-sklearn",
                pip_requirements=SKLEARN_PINS,
            )
            out["runs"][f"logreg-{version}"] = run.info.run_id  # type: ignore[index]
            out["predictions"][f"triage-sklearn/{version}"] = (  # type: ignore[index]
                model.predict_proba(np.asarray(X_CHECK))[:, 1].round(6).tolist()
            )
    client.set_registered_model_alias("triage-sklearn", "champion", "1")
    client.set_registered_model_alias("triage-sklearn", "latest-try", "2")

    with mlflow.start_run(run_name="xgb", tags=tags) as run:
        mlflow.log_params({"n_estimators": 20, "max_depth": 3})
        booster = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0)
        booster.fit(x, y)
        for step, value in enumerate([0.6, 0.4, 0.3]):
            mlflow.log_metric("logloss", value, step=step)
        mlflow.xgboost.log_model(
            booster,
            name="model",
            model_format="ubj",
            registered_model_name="triage-xgb",
            pip_requirements=XGBOOST_PINS,
        )
        out["runs"]["xgb"] = run.info.run_id  # type: ignore[index]
        out["predictions"]["triage-xgb/1"] = (  # type: ignore[index]
            booster.predict_proba(np.asarray(X_CHECK))[:, 1].round(6).tolist()
        )
    client.set_registered_model_alias("triage-xgb", "challenger", "1")

    try:
        with mlflow.start_run(run_name="broken", tags={"team": "triage"}) as run:
            out["runs"]["broken"] = run.info.run_id  # type: ignore[index]
            mlflow.log_param("lr", 0.5)
            for step in range(3):
                mlflow.log_metric("loss", float("nan") if step == 2 else 2.0 - step, step=step)
            raise RuntimeError("diverged")
    except RuntimeError:
        pass

    pickled = client.create_experiment("pickled", artifact_location=f"{root}/pickled")
    mlflow.set_experiment(experiment_id=pickled)
    with mlflow.start_run(run_name="cloudpickled") as run:
        model = LogisticRegression().fit(x, y)
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            registered_model_name="triage-pickled",
            pip_requirements=SKLEARN_PINS,
        )
        out["runs"]["cloudpickled"] = run.info.run_id  # type: ignore[index]
    out["versions"] = {"mlflow": mlflow.__version__, "xgboost": xgb.__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
