"""Training a project's model as a tracked run, and reading runs back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.accounts.access import authorize, readable
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, list_artifacts
from core.data.service import latest_dataset, load_rows
from core.errors import InvalidInput, NotFound
from core.experiments.tracking import Run, Tracker
from core.labeling.freeze import latest_label_set, load_label_set
from core.ml.data import TrainingData, in_test_set, training_data
from core.ml.evaluate import Evaluation, as_dict, evaluate
from core.ml.model import DEFAULT_TRAINER, Model
from core.ml.model import train_model as fit
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.spans.detect import from_dicts
from core.store import Workspace

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainResult:
    run_id: int
    model: Model
    evaluation: Evaluation
    label_set: Artifact
    dataset: Artifact
    files: dict[str, str]  # role -> blob hash


def project_test_set(ws: Workspace, spec: ProjectSpec) -> TrainingData:
    """The project's test set: every frozen label (the newest for each item) whose item the split
    rule puts in the test set, on the latest dataset version. It grows as contexts are labeled, so
    a model is always checked on the old contexts too."""
    sets = sorted(
        list_artifacts(ws, kind="label_set", project=spec.name), key=lambda a: a.artifact_id
    )
    if not sets:
        raise NotFound(f"Project {spec.name!r} has no frozen label set yet.")
    labels = pd.concat([load_label_set(ws, a) for a in sets], ignore_index=True)
    labels = labels.drop_duplicates("item_id", keep="last")
    dataset = latest_dataset(ws, spec.name)
    assert dataset is not None
    rows = load_rows(ws, dataset)
    rows[spec.id_column] = rows[spec.id_column].astype(str)
    joined = rows.merge(
        labels[["item_id", "label", "spans"]], left_on=spec.id_column, right_on="item_id"
    )
    joined = (
        joined[in_test_set(joined, spec)]
        .sort_values(spec.id_column, kind="stable")
        .reset_index(drop=True)
    )
    frame = joined.drop(columns=["item_id", "label", "spans"])
    return TrainingData(
        frame,
        joined["label"].astype(str),
        [from_dicts(json.loads(s)) for s in joined["spans"]],
        in_test_set(frame, spec),
        dataset,
        sets[-1],
    )


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
    progress: Progress | None = None,
) -> TrainResult:
    """Train on the label set's training split, evaluate on the project's test set, track it all."""
    authorize(ws, actor, "train", project)  # before any work: a refusal leaves nothing behind
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    chosen = _label_set_to_train(ws, project, label_set)
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
        report(f"training {trainer} on {len(train_part.frame):,} items", 0.15)
        model, training_time = _fit(run, spec, train_part, test_part, trainer, params, seed)
        report(f"evaluating on {len(test_part.frame):,} test items", 0.6)
        evaluation = evaluate(
            model,
            test_part.frame,
            list(test_part.labels),
            test_part.spans,
            spec,
            ids=test_part.frame[spec.id_column].astype(str).tolist(),
        )
        files = _log_results(run, model, evaluation, training_time)
        report("done", 1.0)
    return TrainResult(run.run_id, model, evaluation, chosen, data.dataset, files)


def _label_set_to_train(ws: Workspace, project: str, label_set: int | str | None) -> Artifact:
    """The named label set of the project, or its latest."""
    chosen = get_artifact(ws, label_set) if label_set is not None else latest_label_set(ws, project)
    if chosen.kind != "label_set" or chosen.project != project:
        raise InvalidInput(f"{chosen.ref} is not a label set of {project!r}.")
    return chosen


def _fit(
    run: Run,
    spec: ProjectSpec,
    train_part: TrainingData,
    test_part: TrainingData,
    trainer: str,
    params: Mapping[str, Any] | None,
    seed: int,
) -> tuple[Model, float]:
    """The model trained on the training split, its parameters logged; and the seconds it took."""
    started = time.perf_counter()
    model = fit(
        spec,
        train_part.frame,
        train_part.labels,
        train_part.spans,
        trainer=trainer,
        params=params,
        seed=seed,
    )
    training_time = time.perf_counter() - started
    run.log_params(
        {
            "trainer": trainer,
            "seed": seed,
            **model.manifest["params"],
            "train_items": len(train_part.frame),
            "test_items": len(test_part.frame),
        }
    )
    return model, training_time


def _log_results(
    run: Run, model: Model, evaluation: Evaluation, training_time: float
) -> dict[str, str]:
    """The model's files, the evaluation and its metrics (overall and per slice) on the run;
    the logged files' blob hashes by role."""
    files = {role: run.log_artifact(role, content) for role, content in model.files().items()}
    files["evaluation.json"] = run.log_artifact(
        "evaluation.json", json.dumps(as_dict(evaluation)).encode()
    )
    size = sum(len(c) for c in model.files().values())
    run.log_metrics(
        {
            **evaluation.overall,
            **evaluation.latency,
            "training_time_s": training_time,
            "model_size_bytes": float(size),
        }
    )
    for slice_name, metrics in evaluation.slices.items():
        run.log_metrics(metrics, slice=slice_name)
    return files


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
