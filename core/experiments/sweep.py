"""Hyper-parameter search: every combination of a grid is a tracked run.

Trials train in parallel with joblib on this machine, or on a Dask cluster (``dask_address``)
through joblib's Dask backend. Workers never touch the workspace: they get the training and test
rows and return the model's files and its evaluation; this process records the runs.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.actor import Actor
from core.artifacts.service import get_artifact
from core.errors import InvalidInput
from core.experiments.service import project_test_set
from core.experiments.tracking import Tracker
from core.labeling.freeze import latest_label_set
from core.ml.data import TrainingData, training_data
from core.ml.evaluate import Evaluation, as_dict, evaluate
from core.ml.model import DEFAULT_TRAINER, resolve_params, train_model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.store import Workspace

Progress = Callable[[str, float], None]
MAX_TRIALS = 200


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not grid:
        raise InvalidInput(
            "The grid is empty. Give e.g. --grid max_depth=3,6 --grid learning_rate=0.1,0.3."
        )
    keys = sorted(grid)
    trials = [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(grid[k] for k in keys))
    ]
    if len(trials) > MAX_TRIALS:
        raise InvalidInput(
            f"The grid has {len(trials)} combinations; at most {MAX_TRIALS} per sweep."
        )
    return trials


def _trial(
    spec: ProjectSpec,
    train: TrainingData,
    test: TrainingData,
    trainer: str,
    params: dict[str, Any],
    seed: int,
) -> tuple[dict[str, bytes], Evaluation, float]:
    started = time.perf_counter()
    model = train_model(
        spec, train.frame, train.labels, train.spans, trainer=trainer, params=params, seed=seed
    )
    seconds = time.perf_counter() - started
    evaluation = evaluate(
        model,
        test.frame,
        list(test.labels),
        test.spans,
        spec,
        measure_latency=False,
        ids=test.frame[spec.id_column].astype(str).tolist(),
    )
    return model.files(), evaluation, seconds


def sweep(
    ws: Workspace,
    project: str,
    actor: Actor,
    grid: Mapping[str, Sequence[Any]],
    *,
    trainer: str | None = None,
    label_set: int | str | None = None,
    seed: int = 0,
    n_jobs: int = 2,
    dask_address: str | None = None,
    progress: Progress | None = None,
) -> list[int]:
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    trainer = trainer or DEFAULT_TRAINER[spec.kind]
    trials = expand_grid(grid)
    for trial in trials:
        resolve_params(trainer, spec, trial)  # refuse unknown parameters before any work
    chosen = get_artifact(ws, label_set) if label_set is not None else latest_label_set(ws, project)
    data = training_data(ws, spec, chosen)
    train, test = data.part(test=False), project_test_set(ws, spec)
    report(
        f"{len(trials)} trials on {'Dask at ' + dask_address if dask_address else f'{n_jobs} local workers'}",
        0.05,
    )
    from joblib import Parallel, delayed, parallel_config

    jobs = (delayed(_trial)(spec, train, test, trainer, trial, seed) for trial in trials)
    if dask_address:
        from dask.distributed import Client

        with Client(dask_address, timeout="30s") as client, parallel_config(backend="dask"):  # type: ignore[no-untyped-call]
            client.wait_for_workers(1, timeout=60)
            results = Parallel(verbose=0)(jobs)
    else:
        results = Parallel(n_jobs=n_jobs, verbose=0)(jobs)
    run_ids = []
    with Tracker(ws, actor) as tracker:
        for index, (trial, (files, evaluation, seconds)) in enumerate(
            zip(trials, results, strict=True)
        ):
            with tracker.start_run(
                project,
                name=f"sweep-{index + 1}",
                inputs={"label_set": chosen.artifact_id, "dataset": data.dataset.artifact_id},
                tags={"sweep": json.dumps(dict(grid), default=str), "trainer": trainer},
            ) as run:
                run.log_params(
                    {"trainer": trainer, "seed": seed, **resolve_params(trainer, spec, trial)}
                )
                run.log_metrics({**evaluation.overall, "training_time_s": seconds})
                for slice_name, metrics in evaluation.slices.items():
                    run.log_metrics(metrics, slice=slice_name)
                for role, content in files.items():
                    run.log_artifact(role, content)
                run.log_artifact("evaluation.json", json.dumps(as_dict(evaluation)).encode())
            run_ids.append(run.run_id)
            report(f"trial {index + 1}/{len(trials)}", 0.1 + 0.9 * (index + 1) / len(trials))
    return run_ids
