"""Runs and registered models from an MLflow tracking store, without MLflow installed.

MLflow's SQLite store is read with the standard library (``sqlite3``, read-only) and its model
folders by their ``MLmodel`` YAML. Each MLflow run becomes a Loopline run of the project (params,
metrics with their step history, tags, start/end times, status and the source commit); each
registered model version whose run is imported becomes a ``model`` artifact (the model's files,
its aliases, the Loopline run it came from). Model files are loaded through the safe model path
before anything is written: scikit-learn models saved with skops (types outside scikit-learn,
NumPy and SciPy refused), XGBoost models in their native UBJSON/JSON format. A pickled model
(MLflow's two pickle formats) is Python code and is refused, naming the version.

Re-running the import writes nothing new: a run is keyed by its MLflow run id (the uuid of its
run record), a model version by ``name/version``. The whole import is one transaction: a refusal
writes nothing.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register_many
from core.errors import CoreError, InvalidInput, NotFound
from core.experiments.layout import reorder_if_due
from core.experiments.tracking import Origin, _Buffered
from core.experiments.tracking_store import reserve_ids, write_segments
from core.ml.serialize import load_booster, load_sklearn
from core.projects.service import get_project
from core.store import Tx, Workspace

MODELS_TAG = "mlflow.registered_models"  # a run's tag: the model versions registered from it
UUID_PREFIX = "mlflow:"  # a Loopline run's uuid for MLflow run R is "mlflow:R"
STATUSES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed", "RUNNING": "running"}
REQUIRED = {
    "experiments": ("experiment_id", "name", "lifecycle_stage"),
    "runs": ("run_uuid", "name", "status", "start_time", "end_time", "lifecycle_stage"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "tags": ("key", "value", "run_uuid"),
    "model_versions": ("name", "version", "source", "run_id", "status"),
    "registered_model_aliases": ("alias", "version", "name"),
}
MAX_MLMODEL_BYTES = 1 << 20
MAX_MODEL_BYTES = 1 << 30
RELOG_HINT = (
    "re-log the model with mlflow.sklearn.log_model(model, name=..., serialization_format="
    '"skops") (or an XGBoost model with mlflow.xgboost.log_model(model, model_format="ubj")) '
    "and register that version"
)


@dataclass(frozen=True)
class MlflowImport:
    """What an import did: counts, and the Loopline id of every MLflow run and model version."""

    experiment: str
    project: str
    runs_new: int
    runs_unchanged: int
    models_new: int
    models_unchanged: int
    run_ids: Mapping[str, int]  # MLflow run id → Loopline run id
    model_ids: Mapping[str, int]  # "name/version" → Loopline model artifact id


@dataclass
class _MlflowRun:
    uuid: str
    name: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    history: list[tuple[str, int, float | None, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class _Version:
    name: str
    version: int
    run_uuid: str
    folder: Path
    flavor: str  # sklearn | xgboost
    model_file: str  # the file inside ``folder`` holding the model
    aliases: tuple[str, ...]
    description: str

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"


def import_mlflow(
    ws: Workspace,
    actor: Actor,
    tracking_uri: str,
    experiment: str,
    project: str,
    *,
    artifacts: Path | None = None,
) -> MlflowImport:
    """Import MLflow experiment ``experiment`` of the SQLite store at ``tracking_uri`` into
    ``project`` (``artifacts``: the local folder behind ``mlflow-artifacts:/`` URIs)."""
    get_project(ws, project)
    authorize(ws, actor, "train", project)
    authorize(ws, actor, "model.register", project)
    path = store_path(tracking_uri)
    with _reading(path) as con:
        _check_schema(con, path)
        experiment_id = _experiment(con, experiment, path)
        runs = _runs(con, experiment_id)
        versions = _versions(con, runs, artifacts)
    for version in versions:
        check_model(version)
    with ws.store.transaction() as tx:
        known = _imported_runs(tx, list(runs))
        new_runs = [r for uuid, r in runs.items() if uuid not in known]
        _name_versions(new_runs, versions)
        run_ids = {**known, **_write_runs(tx, actor, project, experiment, new_runs)}
        done = _imported_models(tx, project)
        new_versions = [v for v in versions if v.key not in done]
        registered = register_many(
            ws,
            [
                _model_artifact(project, v, run_ids[v.run_uuid], _latest(runs[v.run_uuid]))
                for v in new_versions
            ],
            actor,
        )
    reorder_if_due(ws)  # a bulk load, like a tracker's session
    return MlflowImport(
        experiment,
        project,
        runs_new=len(new_runs),
        runs_unchanged=len(runs) - len(new_runs),
        models_new=len(new_versions),
        models_unchanged=len(versions) - len(new_versions),
        run_ids=run_ids,
        model_ids={
            **{k: v for k, v in done.items() if k in {x.key for x in versions}},
            **{v.key: a.artifact_id for v, a in zip(new_versions, registered, strict=True)},
        },
    )


# --- the store ---------------------------------------------------------------------------------


def store_path(tracking_uri: str) -> Path:
    """The SQLite file behind ``sqlite:///PATH`` (or a plain path to it)."""
    uri = tracking_uri.strip()
    if uri.startswith("sqlite:"):
        path = Path(unquote(uri.removeprefix("sqlite:").removeprefix("//")))
    elif "://" in uri:
        raise InvalidInput(
            f"Tracking URI {uri!r}: only MLflow's SQLite store (sqlite:///PATH) can be imported.",
            hint="point --tracking-uri at the mlflow.db that `mlflow server "
            "--backend-store-uri sqlite:///…` writes (a copy of it is fine)",
        )
    else:
        path = Path(uri)
    if not path.is_file():
        raise InvalidInput(
            f"No MLflow store at {path}.", hint="pass --tracking-uri sqlite:///PATH/mlflow.db"
        )
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise InvalidInput(
                f"{path.name}: not an SQLite database, so not an MLflow tracking store.",
                hint="pass the mlflow.db file of the tracking server",
            )
    return path


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """The store opened read-only (nothing MLflow wrote is changed)."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"{path.name}: cannot open the MLflow store ({exc}).") from exc
    try:
        yield con
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            f"{path.name}: the MLflow store could not be read ({exc}).",
            hint="check that the file is a complete copy of the tracking store",
        ) from exc
    finally:
        con.close()


def _check_schema(con: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns in REQUIRED.items():
        if table not in tables:
            raise InvalidInput(
                f"{path.name}: not an MLflow tracking store (no table {table!r}).",
                hint="pass the mlflow.db of an MLflow 2.x or 3.x tracking server",
            )
        present = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}  # a known name
        lacking = [c for c in columns if c not in present]
        if lacking:
            raise InvalidInput(
                f"{path.name}: MLflow table {table!r} lacks column {lacking[0]!r}; this store's "
                "schema is not one Loopline reads.",
                hint="upgrade the store with `mlflow db upgrade` and import again",
            )


def _experiment(con: sqlite3.Connection, name: str, path: Path) -> str:
    rows = con.execute(
        "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active'"
    ).fetchall()
    found = [str(r[0]) for r in rows if r[1] == name]
    if not found:
        names = sorted(str(r[1]) for r in rows)
        raise NotFound(
            f"{path.name}: no active MLflow experiment {name!r}. Experiments: {', '.join(names)}."
        )
    return found[0]


def _runs(con: sqlite3.Connection, experiment_id: str) -> dict[str, _MlflowRun]:
    runs: dict[str, _MlflowRun] = {}
    for uuid, name, status, start, end in con.execute(
        "SELECT run_uuid, name, status, start_time, end_time FROM runs "
        "WHERE experiment_id = ? AND lifecycle_stage = 'active' ORDER BY start_time, run_uuid",
        [experiment_id],
    ):
        if status not in STATUSES:
            raise InvalidInput(f"MLflow run {uuid}: unknown status {status!r}.")
        runs[str(uuid)] = _MlflowRun(
            str(uuid), str(name or uuid), STATUSES[status], _time(start), _time_or_none(end)
        )
    marks = ",".join("?" * len(runs))
    ids = list(runs)
    if not runs:
        return runs
    for key, value, uuid in con.execute(
        f"SELECT key, value, run_uuid FROM params WHERE run_uuid IN ({marks})", ids
    ):
        runs[uuid].params[str(key)] = str(value)
    for key, value, uuid in con.execute(
        f"SELECT key, value, run_uuid FROM tags WHERE run_uuid IN ({marks})", ids
    ):
        runs[uuid].tags[str(key)] = str(value)
    for key, value, stamp, uuid, step, is_nan in con.execute(
        f"SELECT key, value, timestamp, run_uuid, step, is_nan FROM metrics "
        f"WHERE run_uuid IN ({marks}) ORDER BY run_uuid, key, step, timestamp",
        ids,
    ):
        number = None if is_nan or value is None or not math.isfinite(value) else float(value)
        runs[uuid].history.append((str(key), int(step), number, _time(stamp)))
    return runs


def _time(millis: Any) -> datetime:
    return datetime.fromtimestamp(int(millis) / 1000, tz=UTC).replace(tzinfo=None)


def _time_or_none(millis: Any) -> datetime | None:
    return None if millis is None else _time(millis)


# --- model versions ----------------------------------------------------------------------------


def _versions(
    con: sqlite3.Connection, runs: Mapping[str, _MlflowRun], artifacts: Path | None
) -> list[_Version]:
    """The READY registered versions whose run is one of ``runs``, oldest first."""
    columns = {r[1] for r in con.execute("PRAGMA table_info(model_versions)")}
    location = "storage_location" if "storage_location" in columns else "source"
    aliases: dict[tuple[str, int], list[str]] = {}
    for alias, version, name in con.execute(
        "SELECT alias, version, name FROM registered_model_aliases ORDER BY alias"
    ):
        aliases.setdefault((str(name), int(version)), []).append(str(alias))
    out: list[_Version] = []
    for name, version, source, run_uuid, description in con.execute(
        f"SELECT name, version, {location}, run_id, description FROM model_versions "
        "WHERE status = 'READY' ORDER BY name, version"
    ):
        if run_uuid not in runs:
            continue
        folder = _local_folder(str(source), artifacts, f"{name}/{version}")
        flavor, model_file = _flavor(folder, f"{name} version {version}")
        out.append(
            _Version(
                str(name),
                int(version),
                str(run_uuid),
                folder,
                flavor,
                model_file,
                tuple(aliases.get((str(name), int(version)), [])),
                str(description or ""),
            )
        )
    return out


def _local_folder(uri: str, artifacts: Path | None, what: str) -> Path:
    """The folder a version's files are in: a ``file:`` URI or path, or ``mlflow-artifacts:/``
    under ``artifacts``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        folder = Path(unquote(parsed.path))
    elif parsed.scheme == "mlflow-artifacts":
        if artifacts is None:
            raise InvalidInput(
                f"Model {what} is stored at {uri}, on the tracking server.",
                hint="pass --artifacts DIR, the folder the server's --artifacts-destination names",
            )
        folder = artifacts / unquote(parsed.path).lstrip("/")
        if not folder.resolve().is_relative_to(artifacts.resolve()):
            raise InvalidInput(f"Model {what}: {uri} points outside {artifacts}.")
    elif parsed.scheme == "":
        folder = Path(uri)
    else:
        raise InvalidInput(
            f"Model {what} is stored at {uri}; Loopline reads model files from a local "
            "folder only.",
            hint="download the model's folder (mlflow artifacts download) and import from a copy "
            "of the store whose storage_location points at it",
        )
    if not (folder / "MLmodel").is_file():
        raise InvalidInput(f"Model {what}: no MLmodel file in {folder}.")
    return folder


def _flavor(folder: Path, what: str) -> tuple[str, str]:
    """(flavor, model file) from the MLmodel file: sklearn saved with skops or xgboost in its
    native format; a pickled model is refused."""
    text = _small_text(folder / "MLmodel", MAX_MLMODEL_BYTES, what)
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"Model {what}: the MLmodel file is not valid YAML ({exc}).") from exc
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    if not isinstance(flavors, dict):
        raise InvalidInput(f"Model {what}: the MLmodel file lists no flavors.")
    if isinstance(flavors.get("xgboost"), dict):
        entry = flavors["xgboost"]
        model_format = str(entry.get("model_format", "xgb"))
        if model_format not in ("ubj", "json"):
            raise InvalidInput(
                f"Model {what}: XGBoost model format {model_format!r} is not one Loopline loads "
                "(ubj, json).",
                hint=RELOG_HINT,
            )
        return "xgboost", _inside(folder, entry.get("data"), what)
    if isinstance(flavors.get("sklearn"), dict):
        entry = flavors["sklearn"]
        form = str(entry.get("serialization_format") or "pickle")
        if form.endswith("pickle"):  # MLflow's pickle and its cloud variant: both run code
            raise InvalidInput(
                f"Model {what} is saved with {form} (pickled Python code, which could run "
                "anything when loaded); Loopline does not load pickled models.",
                hint=RELOG_HINT,
            )
        if form != "skops":
            raise InvalidInput(f"Model {what}: unknown scikit-learn serialization {form!r}.")
        return "sklearn", _inside(folder, entry.get("pickled_model"), what)
    raise InvalidInput(
        f"Model {what} has flavors {', '.join(sorted(map(str, flavors)))}; Loopline imports "
        "sklearn (saved with skops) and xgboost models.",
        hint=RELOG_HINT,
    )


def _inside(folder: Path, name: Any, what: str) -> str:
    """A file named by the MLmodel file, which must stay inside the model's folder."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"Model {what}: the MLmodel file names no model file.")
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()) or not target.is_file():
        raise InvalidInput(
            f"Model {what}: the MLmodel file names {name!r}, which is not a file in the model's "
            "folder."
        )
    return str(target.relative_to(folder.resolve()))


def _small_text(path: Path, limit: int, what: str) -> str:
    if path.stat().st_size > limit:
        raise InvalidInput(f"Model {what}: {path.name} is larger than {limit:,} bytes.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"Model {what}: {path.name} is not UTF-8 text.") from exc


def check_model(version: _Version) -> None:
    """Load the version's model through the safe path (nothing of it runs): a file that does
    not load is refused, naming the version."""
    path = version.folder / version.model_file
    what = f"{version.name} version {version.version}"
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise InvalidInput(f"Model {what}: {path.name} is larger than {MAX_MODEL_BYTES:,} bytes.")
    data = path.read_bytes()
    try:
        if version.flavor == "sklearn":
            load_sklearn(data)
        else:
            load_booster(data, {})
    except CoreError as exc:
        raise InvalidInput(f"Model {what}: {exc}", hint=RELOG_HINT) from exc
    except Exception as exc:  # a damaged file: skops' and XGBoost's own errors
        raise InvalidInput(
            f"Model {what}: {path.name} does not load as a {version.flavor} model "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}).",
            hint=RELOG_HINT,
        ) from exc


# --- writing -----------------------------------------------------------------------------------


def _imported_runs(tx: Tx, uuids: list[str]) -> dict[str, int]:
    rows = tx.rows(
        "SELECT run_uuid, run_id FROM run_segments WHERE run_uuid IN (SELECT unnest(?::VARCHAR[]))",
        [[UUID_PREFIX + u for u in uuids]],
    )
    return {str(u).removeprefix(UUID_PREFIX): int(r) for u, r in rows}


def _write_runs(
    tx: Tx, actor: Actor, project: str, experiment: str, runs: list[_MlflowRun]
) -> dict[str, int]:
    """The new runs, each with its own source commit (one batch per commit)."""
    ids = reserve_ids(tx, len(runs)) if runs else []
    out: dict[str, int] = {}
    for run, run_id in zip(runs, ids, strict=True):
        state = _buffered(run, run_id, project, experiment, actor.name)
        commit = run.tags.get("mlflow.source.git.commit")
        origin = Origin({"source": "mlflow", "mlflow_run_id": run.uuid}, commit, None)
        write_segments(tx, actor, [state], origin)
        out[run.uuid] = run_id
    return out


def _name_versions(runs: list[_MlflowRun], versions: list[_Version]) -> None:
    """Tag each run with its registered model versions (``name/version``), so the runs table
    shows which run a version came from."""
    by_run: dict[str, list[str]] = {}
    for version in versions:
        by_run.setdefault(version.run_uuid, []).append(version.key)
    for run in runs:
        if run.uuid in by_run:
            run.tags[MODELS_TAG] = ", ".join(by_run[run.uuid])


def _latest(run: _MlflowRun) -> dict[str, float | None]:
    """Each metric's value at its last step (the history is ordered by step, then time)."""
    return {key: value for key, _step, value, _when in run.history}


def _buffered(
    run: _MlflowRun, run_id: int, project: str, experiment: str, created_by: str
) -> _Buffered:
    latest = {(key, ""): value for key, value in _latest(run).items()}
    tags = {k: v for k, v in run.tags.items() if k != "mlflow.runName"}
    tags |= {"source": "mlflow", "mlflow.run_id": run.uuid, "mlflow.experiment": experiment}
    duration = None if run.ended_at is None else (run.ended_at - run.started_at).total_seconds()
    return _Buffered(
        run_id,
        project,
        experiment,
        run.name,
        run.started_at,
        created_by,
        status=run.status,
        ended_at=run.ended_at,
        duration_s=duration,
        params=dict(run.params),
        metrics=latest,
        history=list(run.history),
        tags=tags,
        uuid=UUID_PREFIX + run.uuid,
    )


def _imported_models(tx: Tx, project: str) -> dict[str, int]:
    rows = tx.rows(
        "SELECT artifact_id, metadata FROM artifacts WHERE kind = 'model' AND project = ?",
        [project],
    )
    out: dict[str, int] = {}
    for artifact_id, metadata in rows:
        data = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
        key = data.get("mlflow", {}).get("key") if isinstance(data, dict) else None
        if key:
            out[str(key)] = int(artifact_id)
    return out


def _model_artifact(
    project: str, version: _Version, run_id: int, metrics: Mapping[str, float | None]
) -> NewArtifact:
    files: dict[str, bytes | Path] = {
        "MLmodel": version.folder / "MLmodel",
        f"model/{version.model_file}": version.folder / version.model_file,
    }
    return NewArtifact(
        "model",
        version.name,
        project=project,
        files=files,
        metadata={
            "run_id": run_id,
            "trainer": f"mlflow.{version.flavor}",
            "source": "mlflow",
            "metrics": {k: v for k, v in metrics.items() if v is not None},
            "mlflow": {
                "key": version.key,
                "name": version.name,
                "version": version.version,
                "run_id": version.run_uuid,
                "flavor": version.flavor,
                "aliases": list(version.aliases),
                "description": version.description,
            },
        },
    )
