"""Training and evaluating a model without a workspace: labeled rows in, model and evaluation out.

``fit_and_evaluate`` is the part of a training run that touches no store: the workspace's
``train`` (core/experiments/service.py) wraps it in a tracked run, and a CI runner
(core/remote/build.py) calls it on files it downloaded and sends the result to the server. Both
then log the same parameters, metrics and files (``Fitted.params``/``metrics``/``files``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.ml.evaluate import Evaluation, as_dict, evaluate
from core.ml.labeled import LabeledRows
from core.ml.model import Model, train_model
from core.projects.spec import ProjectSpec

Progress = Callable[[str, float], None]
EVALUATION = "evaluation.json"  # the run file that holds the evaluation


@dataclass(frozen=True)
class Fitted:
    """A trained model, its evaluation on the test set, and what its run records."""

    model: Model
    evaluation: Evaluation
    params: dict[str, Any]  # the run's parameters: trainer, seed, the model's, the set sizes
    training_time_s: float

    def files(self) -> dict[str, bytes]:
        """The run's files: the model's, and the evaluation as ``evaluation.json``."""
        return {**self._model_files, EVALUATION: evaluation_json(self.evaluation)}

    def metrics(self) -> dict[str, float]:
        """The run's overall metrics (per-slice ones are ``evaluation.slices``)."""
        return run_metrics(self.evaluation, self.training_time_s, self.model_size_bytes)

    @property
    def model_size_bytes(self) -> int:
        return sum(len(content) for content in self._model_files.values())

    @functools.cached_property
    def _model_files(self) -> dict[str, bytes]:
        """The model serialised once (its files and its size both need the bytes)."""
        return self.model.files()


def evaluation_json(evaluation: Evaluation) -> bytes:
    return json.dumps(as_dict(evaluation)).encode()


def run_metrics(
    evaluation: Evaluation, training_time_s: float, model_size_bytes: int
) -> dict[str, float]:
    return {
        **evaluation.overall,
        **evaluation.latency,
        "training_time_s": training_time_s,
        "model_size_bytes": float(model_size_bytes),
    }


def fit_and_evaluate(
    spec: ProjectSpec,
    train_part: LabeledRows,
    test_part: LabeledRows,
    *,
    trainer: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    dask_address: str | None = None,
    progress: Progress | None = None,
) -> Fitted:
    """Train on ``train_part`` (on this machine, or on the Dask cluster at ``dask_address``) and
    evaluate on ``test_part`` here, overall and per slice."""
    report = progress or (lambda stage, fraction: None)
    where = f" on Dask at {dask_address}" if dask_address else ""
    report(f"training {trainer} on {len(train_part.frame):,} items{where}", 0.15)
    started = time.perf_counter()
    model = _fit(spec, train_part, trainer, params, seed, dask_address)
    training_time = time.perf_counter() - started
    report(f"evaluating on {len(test_part.frame):,} test items", 0.6)
    evaluation = evaluate(
        model,
        test_part.frame,
        list(test_part.labels),
        test_part.spans,
        spec,
        ids=test_part.frame[spec.id_column].astype(str).tolist(),
    )
    logged = {
        "trainer": trainer,
        "seed": seed,
        **model.manifest["params"],
        "train_items": len(train_part.frame),
        "test_items": len(test_part.frame),
    }
    return Fitted(model, evaluation, logged, training_time)


def _fit(
    spec: ProjectSpec,
    rows: LabeledRows,
    trainer: str,
    params: Mapping[str, Any] | None,
    seed: int,
    dask_address: str | None,
) -> Model:
    chosen = dict(params or {})
    if not dask_address:
        return train_model(
            spec, rows.frame, rows.labels, rows.spans, trainer=trainer, params=chosen, seed=seed
        )
    from dask.distributed import Client

    with Client(dask_address, timeout="30s") as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(1, timeout=60)
        future = client.submit(
            train_model,
            spec,
            rows.frame,
            rows.labels,
            rows.spans,
            trainer=trainer,
            params=chosen,
            seed=seed,
            pure=False,
        )
        model: Model = future.result()
    return model
