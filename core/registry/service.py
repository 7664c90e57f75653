"""Model versions: registering a run's model, loading it, the versions behind aliases and their
history. Moving an alias is a release (core/releases)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.integrity import ensure_intact
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import get_artifact, register
from core.data.service import latest_dataset, load_rows
from core.errors import InvalidInput, NotFound
from core.experiments.service import get_run
from core.ml.model import Model
from core.projects.service import get_project
from core.store import Workspace

ENVIRONMENTS = ("acceptance", "production")  # the pipeline a model goes through, in order
ALIASES = (*ENVIRONMENTS, "candidate")


def register_run_model(
    ws: Workspace, run_id: int, actor: Actor, *, build_artifact: int | None = None
) -> Artifact:
    """The run's model files become model version N of the project (the same blobs, no copy)."""
    run = get_run(ws, run_id)
    authorize(ws, actor, "model.register", run.project)
    if run.status != "finished":
        raise InvalidInput(
            f"Run #{run_id} is {run.status}; only a finished run's model can be registered."
        )
    if "model.json" not in run.files:
        raise NotFound(f"Run #{run_id} logged no model.")

    manifest = json.loads(ws.blobs.read_bytes(run.files["model.json"]))
    inputs = [("trained_on", run.inputs["dataset"]), ("labeled_with", run.inputs["label_set"])]
    if build_artifact is not None:
        inputs.append(("produced_by", build_artifact))
    return register(
        ws,
        NewArtifact(
            "model",
            run.project,
            project=run.project,
            files={role: ws.blobs.path(digest) for role, digest in run.files.items()},
            inputs=inputs,
            metadata={
                "run_id": run_id,
                "trainer": manifest["trainer"],
                "classifier": manifest["trainer"],
                "classes": manifest["classes"],
                "features": manifest["inputs"],
                "params": manifest["params"],
                "dataset_id": run.inputs["dataset"],
                "label_set_id": run.inputs["label_set"],
                "metrics": dict(run.metrics),
                "build_artifact_id": build_artifact,
            },
        ),
        actor,
    )


def load_model(ws: Workspace, artifact: Artifact) -> Model:
    """The model's files, each read once and checked against its hash, after its registry row
    is checked against the hash chain: a damaged or spliced model is refused, not served."""
    if artifact.kind != "model":
        raise InvalidInput(f"{artifact.ref} is a {artifact.kind}, not a model.")
    files = {
        f.role: ws.blobs.read_bytes(f.blob_hash)
        for f in artifact.files
        if ws.blobs.exists(f.blob_hash)
    }
    ensure_intact(ws, artifact, "load", files)
    return Model.from_files(
        {role: data for role, data in files.items() if role != "evaluation.json"}
    )


def unservable(artifact: Artifact) -> str | None:
    """Why Loopline cannot serve this model version (None when it can): an MLflow model keeps its
    MLflow files, not the Loopline manifest (``model.json``) the service loads."""
    if any(f.role == "model.json" for f in artifact.files):
        return None
    meta = artifact.metadata
    if meta.get("source") == "mlflow":
        mlflow = meta.get("mlflow") or {}
        return (
            f"{artifact.ref} was imported from MLflow ({mlflow.get('name', artifact.name)} "
            f"version {mlflow.get('version', '?')}, {meta.get('trainer', 'mlflow')}): Loopline "
            "keeps it for comparison and lineage but cannot serve it"
        )
    return f"{artifact.ref} has no model.json: Loopline cannot serve it"


def find_alias(ws: Workspace, project: str, alias: str = "production") -> Artifact | None:
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT artifact_id FROM aliases WHERE project = ? AND alias = ?", [project, alias]
        )
    return get_artifact(ws, row[0]) if row else None


@dataclass(frozen=True)
class Promotion:
    alias: str
    artifact_id: int
    previous_artifact_id: int | None
    at: datetime
    actor: str
    reason: str
    build_id: int | None
    model_text: str = ""  # the promoted version as people name it: ``ooo-replies v2``
    previous_model_text: str | None = None  # the version it replaced, named the same way


_PROMOTION_SELECT = {  # Promotion field -> what alias_history h (a: promoted, p: replaced) gives
    "alias": "h.alias",
    "artifact_id": "h.artifact_id",
    "previous_artifact_id": "h.previous_artifact_id",
    "at": 'h."at"',
    "actor": "h.actor",
    "reason": "h.reason",
    "build_id": "h.build_id",
    "model_text": "coalesce(a.name || ' v' || a.version, '#' || h.artifact_id)",
    "previous_model_text": "p.name || ' v' || p.version",
}
PROMOTION_COLUMNS = ", ".join(_PROMOTION_SELECT.values())


def promotion_history(ws: Workspace, project: str) -> list[Promotion]:
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT {PROMOTION_COLUMNS} "
            "FROM alias_history h LEFT JOIN artifacts a ON a.artifact_id = h.artifact_id "
            "LEFT JOIN artifacts p ON p.artifact_id = h.previous_artifact_id "
            "WHERE h.project = ? ORDER BY h.entry_id DESC",
            [project],
        )
    return [Promotion(**dict(zip(_PROMOTION_SELECT, row, strict=True))) for row in rows]


def predict_dataset(ws: Workspace, model: Artifact, dataset: Artifact | None = None) -> Any:
    """Class probabilities for every item of a dataset version (index: item id, columns: classes),
    e.g. to suggest labels and order a labeling task by the model's uncertainty."""
    project = get_project(ws, str(model.project))
    source = dataset or latest_dataset(ws, project.name)
    if source is None:
        raise NotFound(f"Project {project.name!r} has no dataset to predict on.")
    rows = load_rows(ws, source)
    probabilities = load_model(ws, model).predict_proba(rows, project.spec)
    return pd.DataFrame(
        probabilities,
        columns=list(project.spec.labels.classes),
        index=rows[project.spec.id_column].astype(str),
    )
