"""Serving hosts of a Loopline server, the server's side: what a host needs to serve (the
production model's record, files and project definition; with it, what runs beside production:
the ``acceptance`` model and the project's candidate mode) and the prediction-log segments it
ships back (answers, the shadow scores of the model that did not answer, feedback).

A shipped segment lands beside the segments a local service writes, as
``<workspace>/logs/<project>/<kind>/<name stem>.<host>.parquet`` (a host's segment names are
``seg-<utc epoch ms>-<pid>-<counter>.parquet``, unique on the host; the host id keeps two hosts'
names apart), so monitoring reads it as it reads a local segment. The stored name is the
idempotency key: the same (project, host, kind, name) again is counted once. The file is copied
under a temporary name, fsync'ed and linked to its final name (a link never replaces an existing
file), so a reader sees the whole segment or none, and a segment that is not a readable Parquet
file of the log's columns is refused before anything is stored.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.integrity import ensure_intact
from core.artifacts.service import get_artifact
from core.errors import InvalidInput, expected_one_of
from core.projects.service import get_project
from core.serving.log import FEEDBACK_SCHEMA, KINDS, PREDICTIONS, SHADOW, log_folder
from core.serving.placements import read_or_none
from core.serving.service import ALIAS, CANDIDATE_ALIAS, WorkspaceSource
from core.store import Workspace

HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SEGMENT_NAME = re.compile(r"^seg-\d{13}-\d{1,10}-\d{6}\.parquet$")
HOST_HINT = "a host id is 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
_PREDICTED = ("ts", "received_at", "request_id", "model_id", "model_version", "prediction")
REQUIRED = {
    PREDICTIONS: _PREDICTED,
    SHADOW: _PREDICTED,
    "feedback": tuple(FEEDBACK_SCHEMA.names),
}
SERVING_HOST = "monitor.record"  # the permission a serving host's token needs (role service)


@dataclass(frozen=True)
class ModelFile:
    role: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Beside:
    """What runs beside production, as a serving host polls it: the ``acceptance`` model (None:
    nothing in acceptance but production's own model) and the project's candidate mode (None:
    no candidate runs, unless the host was started with its own ``--shadow``/``--canary``)."""

    artifact_id: int | None
    promoted_at: datetime | None
    mode: str | None
    share: float | None


@dataclass(frozen=True)
class ProductionModel:
    """What a serving host needs to serve the model under an alias: its record, its files (each
    fetched by hash from ``GET /api/v1/objects/{sha256}``) and the project definition."""

    project: str
    alias: str
    artifact_id: int
    name: str
    version: int
    content_hash: str
    created_at: datetime
    created_by: str
    promoted_at: datetime
    files: list[ModelFile]
    metadata: dict[str, Any]
    spec: dict[str, Any]  # the project file as read (ProjectSpec.raw), for parse_spec
    beside: Beside | None = None  # with the production alias: the candidate and its mode

    @property
    def ref(self) -> str:
        return f"model:{self.name}@{self.version}"


@dataclass(frozen=True)
class ReceivedSegment:
    """A shipped segment as the server keeps it; ``duplicate``: it was already there."""

    project: str
    host: str
    kind: str
    stored_as: str
    records: int
    duplicate: bool


def production_model(
    ws: Workspace, project: str, actor: Actor, alias: str = ALIAS, serving: int | None = None
) -> ProductionModel:
    """The model under ``alias`` as a serving host fetches it; a damaged one is refused. When it
    is ``serving`` (the artifact id the host serves now: its files were checked when it pulled
    them), only the record is read: a poll does not re-hash the model's files. With the
    production alias, ``beside`` says what runs beside it (the acceptance model and the
    project's candidate mode), so one poll tells a host both."""
    authorize(ws, actor, SERVING_HOST, project)
    source = WorkspaceSource(ws)
    found = source.find(project, alias)
    if found is None:
        raise source.missing(project, alias)
    artifact_id, promoted_at = found
    with ws.store.read():
        artifact = get_artifact(ws, artifact_id)
        spec = get_project(ws, project).spec
        beside = _beside(source, ws, project, artifact_id) if alias == ALIAS else None
    if artifact.artifact_id != serving:
        ensure_intact(ws, artifact, "serve")
    return ProductionModel(
        project=project,
        alias=alias,
        artifact_id=artifact.artifact_id,
        name=artifact.name,
        version=artifact.version,
        content_hash=artifact.content_hash,
        created_at=artifact.created_at,
        created_by=artifact.created_by,
        promoted_at=promoted_at,
        files=[ModelFile(f.role, f.blob_hash, f.size_bytes) for f in artifact.files],
        metadata=dict(artifact.metadata),
        spec=dict(spec.raw),
        beside=beside,
    )


def _beside(source: WorkspaceSource, ws: Workspace, project: str, production_id: int) -> Beside:
    candidate = source.find(project, CANDIDATE_ALIAS)
    if candidate is not None and candidate[0] == production_id:
        candidate = None  # a rolled-back canary (or a promoted one): nothing beside production
    mode = read_or_none(ws, project)  # a damaged mode file never stops production's polls
    return Beside(
        artifact_id=candidate[0] if candidate else None,
        promoted_at=candidate[1] if candidate else None,
        mode=mode.mode if mode else None,
        share=mode.share if mode else None,
    )


def check_host_id(host: str) -> str:
    if not isinstance(host, str) or not HOST_ID.match(host):
        raise InvalidInput(f"Invalid serving host id {host!r}.", hint=HOST_HINT)
    return host


def receive_segment(
    ws: Workspace, project: str, actor: Actor, host: str, kind: str, name: str, path: Path
) -> ReceivedSegment:
    """Store a segment a serving host shipped, once: the same (host, kind, name) again is a
    duplicate and changes nothing."""
    check_host_id(host)
    if kind not in KINDS:
        raise InvalidInput(expected_one_of("log", kind, KINDS))
    if not SEGMENT_NAME.match(name):
        raise InvalidInput(
            f"Invalid segment name {name!r}.",
            hint="a serving host ships its segments as seg-<epoch ms>-<pid>-<counter>.parquet",
        )
    get_project(ws, project)  # an unknown project says so
    authorize(ws, actor, SERVING_HOST, project)
    records = _check_segment(path, kind, name)
    folder = log_folder(ws, project, kind)
    stored = folder / f"{name.removesuffix('.parquet')}.{host}.parquet"
    duplicate = not _store_once(path, stored)
    return ReceivedSegment(project, host, kind, stored.name, records, duplicate)


def _check_segment(path: Path, kind: str, name: str) -> int:
    """The segment's record count; InvalidInput when it is not a Parquet file of the log."""
    try:
        meta = pq.ParquetFile(path)
        columns = set(meta.schema_arrow.names)
        records = meta.metadata.num_rows
    except Exception as error:
        raise InvalidInput(
            f"Segment {name} is not a readable Parquet file ({type(error).__name__}).",
            hint="ship the segments the serving host wrote, unchanged",
        ) from None
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        raise InvalidInput(
            f"Segment {name} is not a {kind} log segment: it has no column "
            + ", ".join(missing)
            + ".",
            hint="ship the segments the serving host wrote, unchanged",
        )
    return int(records)


def _store_once(source: Path, final: Path) -> bool:
    """Copy ``source`` to ``final`` atomically unless ``final`` exists; whether it was stored."""
    if final.exists():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(source, "rb") as reader, open(temporary, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        try:
            os.link(temporary, final)  # never replaces: a concurrent twin is counted once
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(final.parent)
    return True


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
