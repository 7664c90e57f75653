"""A remote build's training on the runner: files of the plan in, what the server records out.

Store-free (it opens no workspace and never imports DuckDB): it reads the Parquet files the plan
named (downloaded by SHA-256), joins labels as the workspace does (core/ml/labeled.py), trains and
evaluates with ``fit_and_evaluate`` (core/ml/fit.py) on the same seed, evaluates the production
model on the same test set, and packs the model's files as one zip for ``finish_remote``.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.builds.remote import RemoteBuildPlan
from core.errors import InvalidInput
from core.experiments.tracking import code_state, environment
from core.ml.evaluate import evaluate
from core.ml.fit import Fitted, evaluation_json, fit_and_evaluate
from core.ml.labeled import Labeled, project_test_rows, training_rows
from core.ml.model import Model
from core.projects.service import load_spec_text
from core.projects.spec import ProjectSpec
from core.store import utcnow

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class RunnerResult:
    """What a runner sends back to ``finish_remote`` (and shows on its console)."""

    bundle: bytes  # a zip of the model's files
    files: dict[str, str]  # role -> SHA-256 of each file in the bundle
    evaluation: str  # the evaluation as evaluation.json holds it
    baseline: str | None  # the production model's evaluation on the same test set
    params: dict[str, Any]
    metrics: dict[str, float]
    training_time_s: float
    started_at: datetime
    duration_s: float
    environment: dict[str, Any]
    code_commit: str | None
    code_dirty: bool | None
    log: list[str]


def files_needed(plan: RemoteBuildPlan) -> list[str]:
    """The SHA-256 of every file the plan's training reads, each once."""
    wanted = [
        plan.dataset_sha,
        plan.label_set_sha,
        plan.test_dataset_sha,
        *plan.test_label_set_shas,
        *plan.production_files.values(),
    ]
    return list(dict.fromkeys(wanted))


def train_plan(
    plan: RemoteBuildPlan,
    paths: Mapping[str, Path],
    *,
    dask_address: str | None = None,
    progress: Progress | None = None,
) -> RunnerResult:
    """Train and evaluate as ``loopline build`` does, on the downloaded files (``paths``: SHA-256
    -> local file)."""
    report = progress or (lambda stage, fraction: None)
    started, clock = utcnow(), time.monotonic()
    spec = load_spec_text(plan.spec, f"{plan.project}'s project file")
    report("reading the label set", 0.05)
    train_part = _training_rows(plan, spec, paths).part(test=False)
    test_part = _test_rows(plan, spec, paths)
    fitted = fit_and_evaluate(
        spec,
        train_part,
        test_part,
        trainer=plan.trainer,
        params=plan.params,
        seed=plan.seed,
        dask_address=dask_address,
        progress=lambda stage, f: report(stage, 0.8 * f),
    )
    log = [_trained_line(plan, fitted, dask_address)]
    baseline = _baseline(plan, spec, test_part, paths, report)
    if baseline is not None:
        log.append(f"production {plan.production_ref} evaluated on the same test set")
    files = fitted.model.files()
    commit, dirty = code_state()
    return RunnerResult(
        bundle=_zip(files),
        files={role: hashlib.sha256(c).hexdigest() for role, c in files.items()},
        evaluation=evaluation_json(fitted.evaluation).decode(),
        baseline=baseline,
        params=fitted.params,
        metrics=fitted.metrics(),
        training_time_s=fitted.training_time_s,
        started_at=started,
        duration_s=round(time.monotonic() - clock, 6),
        environment=environment(),
        code_commit=commit,
        code_dirty=dirty,
        log=log,
    )


def _parquet(paths: Mapping[str, Path], sha: str) -> pd.DataFrame:
    if sha not in paths:
        raise InvalidInput(f"The file {sha[:16]}… of the plan was not downloaded.")
    return pd.read_parquet(paths[sha])


def _training_rows(plan: RemoteBuildPlan, spec: ProjectSpec, paths: Mapping[str, Path]) -> Labeled:
    return training_rows(
        _parquet(paths, plan.dataset_sha),
        _parquet(paths, plan.label_set_sha),
        spec,
        label_set=plan.label_set_ref,
        dataset=plan.dataset_ref,
    )


def _test_rows(plan: RemoteBuildPlan, spec: ProjectSpec, paths: Mapping[str, Path]) -> Labeled:
    label_sets = [_parquet(paths, sha) for sha in plan.test_label_set_shas]
    return project_test_rows(_parquet(paths, plan.test_dataset_sha), label_sets, spec)


def _baseline(
    plan: RemoteBuildPlan,
    spec: ProjectSpec,
    test_part: Labeled,
    paths: Mapping[str, Path],
    report: Progress,
) -> str | None:
    """The production model on the same test set, as the local build evaluates it."""
    if not plan.production_files:
        return None
    report(f"evaluating production {plan.production_ref} on the same test set", 0.85)
    contents = {role: paths[sha].read_bytes() for role, sha in plan.production_files.items()}
    model = Model.from_files({r: c for r, c in contents.items() if r != "evaluation.json"})
    evaluation = evaluate(model, test_part.frame, list(test_part.labels), test_part.spans, spec)
    return evaluation_json(evaluation).decode()


def _trained_line(plan: RemoteBuildPlan, fitted: Fitted, dask_address: str | None) -> str:
    overall = fitted.evaluation.overall
    where = f" on Dask at {dask_address}" if dask_address else ""
    return f"trained {plan.trainer} on {plan.label_set_ref}{where}: " + ", ".join(
        f"{k} {overall[k]:.3f}" for k in ("accuracy", "f1_macro") if k in overall
    )


def _zip(files: Mapping[str, bytes]) -> bytes:
    """The model's files as a zip (stored, not compressed: model files compress poorly)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for role, content in sorted(files.items()):
            archive.writestr(role, content)
    return out.getvalue()
