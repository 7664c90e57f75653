"""Training a project's model as a tracked run, and reading runs back."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.accounts.access import authorize, readable
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, list_artifacts
from core.data.service import latest_dataset, load_rows
from core.errors import InvalidInput, NotFound
from core.experiments.tracking import Origin, Run, Tracker, _Buffered, _key, _text
from core.experiments.tracking_store import write_runs
from core.labeling.freeze import latest_label_set, load_label_set
from core.ml.data import TrainingData, training_data
from core.ml.evaluate import Evaluation
from core.ml.fit import Fitted, fit_and_evaluate
from core.ml.labeled import project_test_rows
from core.ml.model import DEFAULT_TRAINER, Model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.store import Tx, Workspace, utcnow

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainResult:
    run_id: int
    model: Model
    evaluation: Evaluation
    label_set: Artifact
    dataset: Artifact
    files: dict[str, str]  # role -> blob hash
    test_set: TrainingData  # the project's test set it was evaluated on (a build's baseline too)


def project_test_set(ws: Workspace, spec: ProjectSpec) -> TrainingData:
    """The project's test set: every frozen label (the newest for each item) whose item the split
    rule puts in the test set, on the latest dataset version. It grows as contexts are labeled, so
    a model is always checked on the old contexts too."""
    sets = test_set_inputs(ws, spec)
    dataset = latest_dataset(ws, spec.name)
    assert dataset is not None
    rows = project_test_rows(load_rows(ws, dataset), [load_label_set(ws, a) for a in sets], spec)
    return TrainingData(rows.frame, rows.labels, rows.spans, rows.test, dataset, sets[-1])


def test_set_inputs(ws: Workspace, spec: ProjectSpec) -> list[Artifact]:
    """The label sets the project's test set is made of, oldest first (and the latest dataset
    version holds its rows)."""
    sets = sorted(
        list_artifacts(ws, kind="label_set", project=spec.name), key=lambda a: a.artifact_id
    )
    if not sets:
        raise NotFound(f"Project {spec.name!r} has no frozen label set yet.")
    return sets


def train(
    ws: Workspace,
    project: str,
    actor: Actor,
    *,
    label_set: int | str | None = None,
    trainer: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    dask_address: str | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train on the label set's training split, evaluate on the project's test set, track it all
    (``dask_address``: fit on that Dask cluster)."""
    authorize(ws, actor, "train", project)  # before any work: a refusal leaves nothing behind
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    chosen = label_set_to_train(ws, project, label_set)
    report("reading the label set", 0.05)
    data = training_data(ws, spec, chosen)
    train_part = data.part(test=False)
    test_part = project_test_set(ws, spec)
    trainer = trainer or DEFAULT_TRAINER[spec.kind]
    with (
        Tracker(ws, actor) as tracker,
        tracker.start_run(
            project,
            name=name,
            inputs={"label_set": chosen.artifact_id, "dataset": data.dataset.artifact_id},
            tags={"trainer": trainer, **(tags or {})},
        ) as run,
    ):
        fitted = fit_and_evaluate(
            spec,
            train_part,
            test_part,
            trainer=trainer,
            params=params,
            seed=seed,
            dask_address=dask_address,
            progress=report,
        )
        files = _log_results(run, fitted)
        report("done", 1.0)
    return TrainResult(
        run.run_id, fitted.model, fitted.evaluation, chosen, data.dataset, files, test_part
    )


def label_set_to_train(ws: Workspace, project: str, label_set: int | str | None) -> Artifact:
    """The named label set of the project, or its latest."""
    chosen = get_artifact(ws, label_set) if label_set is not None else latest_label_set(ws, project)
    if chosen.kind != "label_set" or chosen.project != project:
        raise InvalidInput(f"{chosen.ref} is not a label set of {project!r}.")
    return chosen


def _log_results(run: Run, fitted: Fitted) -> dict[str, str]:
    """The parameters, the model's files, the evaluation and its metrics (overall and per slice)
    on the run; the logged files' blob hashes by role."""
    run.log_params(fitted.params)
    files = {role: run.log_artifact(role, content) for role, content in fitted.files().items()}
    run.log_metrics(fitted.metrics())
    for slice_name, metrics in fitted.evaluation.slices.items():
        run.log_metrics(metrics, slice=slice_name)
    return files


@dataclass(frozen=True)
class TrainedRun:
    """A run trained elsewhere (a CI runner) with everything it logged, recorded in one go."""

    project: str
    name: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float | None]
    slice_metrics: Mapping[str, Mapping[str, float | None]]
    tags: Mapping[str, Any]
    inputs: Mapping[str, int]
    files: Mapping[str, tuple[str, int]]  # role -> (blob hash, size): already in the blob store
    started_at: datetime
    duration_s: float
    environment: dict[str, Any]
    code_commit: str | None = None
    code_dirty: bool | None = None


def record_run(tx: Tx, actor: Actor, trained: TrainedRun) -> int:
    """Write a finished run in the caller's transaction (audited ``run.log``, as a tracked run
    is); its id."""
    run_id = int(tx.scalar("SELECT nextval('run_ids')"))
    metrics = {(key, ""): _number(v) for key, v in trained.metrics.items()}
    for slice_name, values in trained.slice_metrics.items():
        metrics.update({(key, slice_name): _number(v) for key, v in values.items()})
    state = _Buffered(
        run_id,
        trained.project,
        trained.project,
        trained.name,
        trained.started_at,
        actor.name,
        status="finished",
        ended_at=utcnow(),
        duration_s=trained.duration_s,
        params={_key(k): _text(v) for k, v in trained.params.items()},
        metrics=metrics,  # type: ignore[arg-type]  # None: a metric that could not be measured
        tags={_key(k): _text(v) for k, v in trained.tags.items()},
        inputs=[(role, int(a)) for role, a in trained.inputs.items()],
        files=dict(trained.files),
    )
    origin = Origin(trained.environment, trained.code_commit, trained.code_dirty)
    write_runs(tx, actor, [], [state], origin)
    return run_id


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class RunDetail:
    run_id: int
    project: str
    name: str
    status: str
    started_at: Any
    duration_s: float | None
    code_commit: str | None
    code_dirty: bool | None
    environment: dict[str, Any]
    error: str | None
    created_by: str
    params: dict[str, str]
    metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]]
    history: pd.DataFrame
    tags: dict[str, str]
    inputs: dict[str, int]
    files: dict[str, str]


RUN_COLUMNS = (
    "run_id, project, name, status, started_at, duration_s, code_commit, code_dirty, "
    "environment, error, created_by"
)  # the stored attributes of a RunDetail, in its order


def get_run(ws: Workspace, run_id: int) -> RunDetail:
    with ws.store.read() as tx:
        row = tx.one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", [int(run_id)])
        if row is None:
            raise NotFound(f"No run #{run_id}.", hint="list runs with `loopline runs PROJECT`")
        run = dict(zip(RUN_COLUMNS.split(", "), row, strict=True))
        readable(tx, None, "experiments.read", str(run["project"]))
        params = dict(tx.rows("SELECT key, value FROM run_params WHERE run_id = ?", [run_id]))
        metrics: dict[str, float] = {}
        slices: dict[str, dict[str, float]] = {}
        for key, slice_name, value in tx.rows(
            "SELECT key, slice, value FROM run_metrics WHERE run_id = ?", [run_id]
        ):
            (metrics if slice_name == "" else slices.setdefault(slice_name, {}))[key] = value
        history = tx.execute(
            "SELECT key, step, value FROM metric_history WHERE run_id = ? ORDER BY key, step",
            [run_id],
        ).cursor.fetchdf()
        tags = dict(tx.rows("SELECT key, value FROM run_tags WHERE run_id = ?", [run_id]))
        inputs = dict(
            tx.rows("SELECT role, artifact_id FROM run_inputs WHERE run_id = ?", [run_id])
        )
        files = dict(tx.rows("SELECT role, blob_hash FROM run_files WHERE run_id = ?", [run_id]))
    return RunDetail(
        **{**run, "environment": json.loads(run["environment"])},
        params=params,
        metrics=metrics,
        slice_metrics=slices,
        history=history,
        tags=tags,
        inputs=inputs,
        files=files,
    )


def load_run_model(ws: Workspace, run_id: int) -> Model:
    """The run's model, each file checked against its hash before it is read."""
    detail = get_run(ws, run_id)
    if "model.json" not in detail.files:
        raise NotFound(f"Run #{run_id} logged no model.")
    contents = {}
    for role, digest in detail.files.items():
        problem = ws.blobs.verify(digest)
        if problem:
            raise InvalidInput(
                f"Run #{run_id}'s file {role!r} is damaged ({problem}); refusing to load it."
            )
        contents[role] = ws.blobs.read_bytes(digest)
    return Model.from_files(contents)
