"""Re-training a registered model from its recorded inputs and comparing the files' hashes."""

from __future__ import annotations

import json

from core.artifacts.service import get_artifact
from core.data.service import Reproduction
from core.errors import InvalidInput
from core.experiments.service import get_run
from core.ml.data import training_data
from core.ml.form import ROLE as FORM_ROLE
from core.ml.model import TRAINERS, train_model
from core.projects.service import get_project
from core.store import Workspace
from core.store.blobs import sha256_bytes


def reproduce_model(ws: Workspace, ref: int | str) -> Reproduction:
    model = get_artifact(ws, ref)
    if model.kind != "model":
        raise InvalidInput(f"{model.ref} is a {model.kind}; this reproduces models.")
    run = get_run(ws, int(model.metadata["run_id"]))
    manifest = json.loads(ws.blobs.read_bytes(run.files["model.json"]))
    spec = get_project(ws, str(model.project)).spec
    data = training_data(ws, spec, get_artifact(ws, run.inputs["label_set"])).part(test=False)
    params = {
        k: manifest["params"][k]
        for k in manifest["params"]
        if k in TRAINERS[manifest["trainer"]]["defaults"]
    }
    again = train_model(
        spec,
        data.frame,
        data.labels,
        data.spans,
        trainer=manifest["trainer"],
        params=params,
        seed=int(manifest["seed"]),
    )
    recorded = {f.role: f.blob_hash for f in model.files if f.role != "evaluation.json"}
    fresh = {role: sha256_bytes(content) for role, content in again.files().items()}
    if FORM_ROLE not in recorded:  # registered before models carried their serving form
        fresh.pop(FORM_ROLE, None)
    notes = tuple(
        f"{role} differs"
        for role in sorted(set(recorded) | set(fresh))
        if recorded.get(role) != fresh.get(role)
    )
    return Reproduction(model, not notes, _combined(recorded), _combined(fresh), notes)


def _combined(hashes: dict[str, str]) -> str:
    return sha256_bytes("".join(f"{k}:{v}" for k, v in sorted(hashes.items())).encode())
