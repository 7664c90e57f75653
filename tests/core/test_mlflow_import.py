"""Runs and models from MLflow: MLflow itself (in a test-only venv, tests/tools/.venv-mlflow,
built once from tests/tools/requirements-mlflow.txt as bench/harness.Peer builds the bench's)
writes a SQLite tracking store and an artifact folder; Loopline, without MLflow, imports them.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.harness import tool_python
from core.actor import Actor
from core.api import Client, InvalidInput, NotFound, serialise
from core.ml.serialize import load_booster, load_sklearn

TOOLS = Path(__file__).resolve().parents[1] / "tools"
VENV = TOOLS / ".venv-mlflow"
REQUIREMENTS = TOOLS / "requirements-mlflow.txt"
ADMIN = Actor("admin", "test")
PROJECT_YAML = """
name: triage
kind: tabular_classification
data:
  id: id
  columns:
    - {name: id, type: string, required: true}
    - {name: a, type: number}
    - {name: b, type: number}
    - {name: c, type: number}
  features: [a, b, c]
labels: {classes: ["0", "1"]}
"""
X_CHECK = [[0.5, -1.0, 2.0], [-1.5, 0.3, 0.1], [2.0, 2.0, -2.0]]


def mlflow_python() -> Path:
    """MLflow's Python (bench/harness.tool_python builds its venv once). It runs once per test
    run (the writer), so its venv is not compiled: 2 s + 16 s instead of 22 s + 10 s."""
    return tool_python(VENV, REQUIREMENTS, compile_bytecode=False)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A tracking store and artifact folder written by MLflow, once per test run: the first
    worker to need it writes it (the others wait on a lock), in the folder the workers' temp
    folders share. Tests only read it (``copy_store`` for one to change)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "mlflow-shared"
    shared.mkdir(exist_ok=True)
    folder, answer = shared / "store", shared / "written.json"
    with (shared / "write.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not answer.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            answer.write_text(write_mlflow_store(folder), encoding="utf-8")
    return folder, json.loads(answer.read_text(encoding="utf-8"))


def write_mlflow_store(folder: Path) -> str:
    """MLflow writes its store in ``folder``; what it wrote, as the JSON line it printed."""
    config = {"db": str(folder / "mlflow.db"), "artifacts": str(folder / "artifacts")}
    done = subprocess.run(
        [str(mlflow_python()), str(TOOLS / "mlflow_writer.py"), json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
    )
    assert done.returncode == 0, f"MLflow failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def client(tmp_path: Path) -> Client:
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    (tmp_path / "triage.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    client.projects.create(tmp_path / "triage.yaml")
    return client


def uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def table_rows(client: Client) -> dict[str, int]:
    """Every table's row count: what a refused import must leave as it was."""
    with client.workspace.store.read() as tx:
        names = [r[0] for r in tx.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return {n: int(tx.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}


def counts(client: Client) -> dict[str, int]:
    return {
        "runs": len(client.runs.search("triage", "", ["run_id"], 1000).frame),
        "models": len(client.artifacts.list(kind="model", project="triage")),
    }


def test_runs_and_model_versions_arrive_with_their_history(
    mlflow_store: tuple[Path, dict[str, Any]], client: Client
) -> None:
    folder, written = mlflow_store
    done = client.data.import_mlflow(uri(folder), "triage", "triage")
    json.dumps(serialise(done))
    assert (done.runs_new, done.runs_unchanged, done.models_new, done.models_unchanged) == (
        4,
        0,
        3,
        0,
    )
    assert set(done.run_ids) == {
        written["runs"][n] for n in ("logreg-1", "logreg-2", "xgb", "broken")
    }
    logreg = client.runs.get(done.run_ids[written["runs"]["logreg-1"]])
    assert (logreg.name, logreg.status, logreg.project) == ("logreg-1", "finished", "triage")
    assert logreg.params == {"C": "1.0", "max_iter": "200", "scaler": "standard"}
    assert logreg.code_commit == "3f2a9c1d0b7e4f5a6c8d9e0f1a2b3c4d5e6f7a8b"
    assert logreg.environment["source"] == "mlflow"
    assert logreg.tags["team"] == "triage" and logreg.tags["source"] == "mlflow"
    assert logreg.tags["mlflow.run_id"] == written["runs"]["logreg-1"]
    assert logreg.tags["mlflow.note.content"] == "first"
    loss = logreg.history[logreg.history["key"] == "loss"]
    assert loss["step"].tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(loss["value"], [1 / (s + 1) + 0.1 for s in range(5)])
    assert logreg.metrics["loss"] == pytest.approx(0.3) and 0.9 < logreg.metrics["accuracy"] <= 1
    assert logreg.duration_s is not None and logreg.duration_s > 0
    broken = client.runs.get(done.run_ids[written["runs"]["broken"]])
    assert broken.status == "failed" and broken.params == {"lr": "0.5"}
    history = broken.history
    assert history["step"].tolist() == [0, 1, 2]
    assert history["value"].tolist()[:2] == [2.0, 1.0] and np.isnan(history["value"].iloc[2])

    # model versions: files loaded through the safe path, aliases, the run they came from
    models = {a.metadata["mlflow"]["key"]: a for a in client.artifacts.list(kind="model")}
    assert set(models) == {"triage-sklearn/1", "triage-sklearn/2", "triage-xgb/1"}
    assert done.model_ids == {k: a.artifact_id for k, a in models.items()}
    first = models["triage-sklearn/1"]
    assert (first.name, first.version) == ("triage-sklearn", 1)
    assert first.metadata["mlflow"]["aliases"] == ["champion"]
    assert models["triage-sklearn/2"].metadata["mlflow"]["aliases"] == ["latest-try"]
    assert models["triage-xgb/1"].metadata["mlflow"]["aliases"] == ["challenger"]
    assert first.metadata["run_id"] == logreg.run_id  # lineage: the run → the model
    assert first.metadata["metrics"] == logreg.metrics
    assert logreg.tags["mlflow.registered_models"] == "triage-sklearn/1"
    assert "mlflow.registered_models" not in broken.tags
    xgb_run = client.runs.get(done.run_ids[written["runs"]["xgb"]])
    assert models["triage-xgb/1"].metadata["run_id"] == xgb_run.run_id and xgb_run.name == "xgb"
    workspace = client.workspace
    for key, artifact in models.items():
        role = next(f.role for f in artifact.files if f.role.startswith("model/"))
        data = workspace.blobs.read_bytes(artifact.file(role).blob_hash)
        if key.startswith("triage-xgb"):
            model = load_booster(data, {})
        else:
            assert zipfile.is_zipfile(io.BytesIO(data))
            model = load_sklearn(data)
        probabilities = model.predict_proba(np.asarray(X_CHECK))[:, 1]
        assert np.allclose(probabilities, written["predictions"][key], atol=1e-5), key

    # the Experiments page's search sees them, params and metrics as columns
    table = client.runs.search("triage", "params.scaler = 'standard'", ["run_id"], 100).frame
    assert table["name"].tolist() == ["logreg-1", "logreg-2"]


def test_a_second_import_writes_nothing_new(
    mlflow_store: tuple[Path, dict[str, Any]], client: Client
) -> None:
    folder, _ = mlflow_store
    first = client.data.import_mlflow(uri(folder), "triage", "triage")
    before = counts(client)
    again = client.data.import_mlflow(f"sqlite:///{folder}/./mlflow.db", "triage", "triage")
    assert (again.runs_new, again.runs_unchanged, again.models_new, again.models_unchanged) == (
        0,
        4,
        0,
        3,
    )
    assert again.run_ids == first.run_ids and again.model_ids == first.model_ids
    assert counts(client) == before == {"runs": 4, "models": 3}
    report = client.artifacts.verify()  # the imported rows hash-chained like any other
    assert report.ok and not report.problems, report.problems


def test_a_pickled_model_is_refused_and_nothing_is_written(
    mlflow_store: tuple[Path, dict[str, Any]], client: Client
) -> None:
    folder, _ = mlflow_store
    before = table_rows(client)
    with pytest.raises(InvalidInput) as caught:
        client.data.import_mlflow(uri(folder), "pickled", "triage")
    assert str(caught.value) == (
        "Model triage-pickled version 1 is saved with cloudpickle (pickled Python code, which "
        "could run anything when loaded); Loopline does not load pickled models."
    )
    assert caught.value.hint is not None and 'serialization_format="skops"' in caught.value.hint
    assert table_rows(client) == before


def copy_store(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_hostile_stores_are_refused_with_a_clear_message(
    mlflow_store: tuple[Path, dict[str, Any]], client: Client, tmp_path: Path
) -> None:
    folder, _ = mlflow_store
    before = table_rows(client)
    cases: list[tuple[str, str, str]] = []
    not_sqlite = tmp_path / "fake.db"
    not_sqlite.write_text("<html>not a database</html>")
    cases.append(
        (
            f"sqlite:///{not_sqlite}",
            "triage",
            "fake.db: not an SQLite database, so not an MLflow tracking store.",
        )
    )
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE experiments (x INTEGER)").connection.commit()
    cases.append(
        (
            f"sqlite:///{other}",
            "triage",
            "other.db: MLflow table 'experiments' lacks column 'experiment_id'; this store's "
            "schema is not one Loopline reads.",
        )
    )
    cases.append(
        (
            "http://mlflow.example:5000",
            "triage",
            "Tracking URI 'http://mlflow.example:5000': only MLflow's SQLite store "
            "(sqlite:///PATH) can be imported.",
        )
    )
    truncated = tmp_path / "truncated" / "mlflow.db"
    truncated.parent.mkdir()
    truncated.write_bytes((folder / "mlflow.db").read_bytes()[:8192])
    cases.append(
        (
            f"sqlite:///{truncated}",
            "triage",
            "mlflow.db: the MLflow store could not be read (database disk image is malformed).",
        )
    )
    # a model file named outside its folder
    escaped = copy_store(folder, tmp_path / "escape")
    mlmodel = next(
        (escaped / "artifacts" / "triage" / "models").glob("*/artifacts/model.ubj")
    ).parent
    text = (
        (mlmodel / "MLmodel")
        .read_text()
        .replace("data: model.ubj", "data: ../../../../../etc/passwd")
    )
    (mlmodel / "MLmodel").write_text(text)
    _point_store_at(escaped, folder)
    cases.append(
        (
            uri(escaped),
            "triage",
            "Model triage-xgb version 1: the MLmodel file names '../../../../../etc/passwd', "
            "which is not a file in the model's folder.",
        )
    )
    # a skops file holding a type outside scikit-learn (a builtin function, e.g. eval)
    tampered = copy_store(folder, tmp_path / "tampered")
    skops_file = sorted(
        (tampered / "artifacts" / "triage" / "models").glob("*/artifacts/model.skops")
    )[0]
    skops_file.write_bytes(_with_builtin(skops_file.read_bytes()))
    _point_store_at(tampered, folder)
    # pickled code where the MLmodel file promises skops: it would touch a file if it ran
    disguised = copy_store(folder, tmp_path / "disguised")
    ran = tmp_path / "the-pickle-ran"
    for skops_file in (disguised / "artifacts" / "triage" / "models").glob(
        "*/artifacts/model.skops"
    ):
        skops_file.write_bytes(pickle.dumps(_Touch(ran)))  # every version: the first is refused
    _point_store_at(disguised, folder)
    cases.append(
        (
            uri(disguised),
            "triage",
            "Model triage-sklearn version 1: model.skops does not load as a sklearn model "
            "(BadZipFile: File is not a zip file).",
        )
    )
    for tracking_uri, experiment, message in cases:
        with pytest.raises(InvalidInput) as caught:
            client.data.import_mlflow(tracking_uri, experiment, "triage")
        assert str(caught.value) == message
        assert table_rows(client) == before
    assert not ran.exists()
    with pytest.raises(InvalidInput) as caught:
        client.data.import_mlflow(uri(tampered), "triage", "triage")
    assert str(caught.value).startswith("Model triage-sklearn version ")
    assert "The model file holds types Loopline does not load: builtins.eval" in str(caught.value)
    with pytest.raises(NotFound) as missing:
        client.data.import_mlflow(uri(folder), "nope", "triage")
    assert str(missing.value) == (
        "mlflow.db: no active MLflow experiment 'nope'. Experiments: Default, pickled, triage."
    )
    assert table_rows(client) == before


class _Touch:
    """Pickles as a call that creates ``path``: proof, if the file exists, that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.path,))


def _point_store_at(copy: Path, original: Path) -> None:
    """The copied store's model locations moved to the copied artifact folder."""
    con = sqlite3.connect(copy / "mlflow.db")
    con.execute(
        "UPDATE model_versions SET storage_location = replace(storage_location, ?, ?)",
        [original.as_uri(), copy.as_uri()],
    )
    con.commit()
    con.close()


def _with_builtin(data: bytes) -> bytes:
    """The skops zip with its schema naming ``builtins.eval`` somewhere a type goes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                schema = json.loads(content)
                schema["__module__"], schema["__class__"] = "builtins", "eval"
                content = json.dumps(schema).encode()
            target.writestr(name, content)
    return out.getvalue()
