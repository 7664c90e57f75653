"""Creating, updating and reading projects; each version of the file is a `project` artifact."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import canonical_json, get_artifact, read_file, register
from core.errors import CoreError, InvalidInput, NotFound
from core.projects.spec import ProjectSpec, parse_spec
from core.store import Tx, Workspace, utcnow

MAX_PROJECT_FILE = 1 << 20


@dataclass(frozen=True)
class Project:
    name: str
    title: str
    kind: str
    spec: ProjectSpec
    spec_artifact_id: int
    spec_version: int
    created_at: datetime
    created_by: str


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


def load_spec_text(text: str, source: str = "project file") -> ProjectSpec:
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{source}: {where}: {problem}.", hint="fix the YAML syntax") from exc
    return parse_spec(data, source)


def load_spec_file(path: Path) -> tuple[ProjectSpec, bytes]:
    if not path.is_file():
        raise InvalidInput(
            f"No project file at {path}.", hint="pass the path of a project YAML file"
        )
    raw = path.read_bytes()
    if len(raw) > MAX_PROJECT_FILE:
        raise InvalidInput(
            f"{path.name}: {len(raw)} bytes is too large for a project file (limit 1 MiB)."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name}: not UTF-8 text (byte {exc.start}).", hint="save it as UTF-8"
        ) from exc
    return load_spec_text(text, path.name), raw


def spec_hash(spec: ProjectSpec) -> str:
    return hashlib.sha256(canonical_json(spec.to_dict()).encode()).hexdigest()


def create_project(ws: Workspace, path: Path, actor: Actor, *, update: bool = False) -> Project:
    """Register the file as a project version; ``update`` allows a new version of an existing one."""
    spec, raw = load_spec_file(path)
    existing = find_project(ws, spec.name)
    if existing and not update:
        if spec_hash(existing.spec) == spec_hash(spec):
            return existing
        raise CoreError(
            f"Project {spec.name!r} already exists with a different definition.",
            hint=f"use `loopline project update {path}` to register a new version",
        )
    if update and existing is None:
        raise NotFound(
            f"No project {spec.name!r} to update.", hint=f"use `loopline project create {path}`"
        )
    if existing and existing.kind != spec.kind:
        raise InvalidInput(
            f"{path.name}: kind: cannot change a project's kind ({existing.kind} → {spec.kind}).",
            hint="create a project with another name",
        )
    with ws.store.transaction() as tx:
        artifact = register(
            ws,
            NewArtifact(
                "project",
                spec.name,
                project=spec.name,
                files={"spec": raw},
                metadata={"title": spec.title, "kind": spec.kind, "file": path.name},
                content_hash=spec_hash(spec),
            ),
            actor,
            reuse=True,
        )
        _upsert(tx, spec, artifact.artifact_id, actor)
        record(
            tx,
            actor,
            "project.update" if existing else "project.create",
            project=spec.name,
            target=artifact.ref,
        )
    return get_project(ws, spec.name)


def _upsert(tx: Tx, spec: ProjectSpec, artifact_id: int, actor: Actor) -> None:
    tx.execute(
        """
        INSERT INTO projects (name, title, kind, spec_artifact_id, created_at, created_by)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET title = excluded.title, spec_artifact_id = excluded.spec_artifact_id
        """,
        [spec.name, spec.title, spec.kind, artifact_id, utcnow(), actor.name],
    )


PROJECT_COLUMNS = {  # a Project's stored fields (all but its parsed spec) and where each is read
    "name": "p.name",
    "title": "p.title",
    "kind": "p.kind",
    "spec_artifact_id": "p.spec_artifact_id",
    "spec_version": "a.version",
    "created_at": "p.created_at",
    "created_by": "p.created_by",
}


# what a query joining projects p and their spec artifacts a selects for project_of_row
PROJECT_SELECT = ", ".join([*PROJECT_COLUMNS.values(), "a.content_hash"])
PROJECT_JOIN = "projects p JOIN artifacts a ON a.artifact_id = p.spec_artifact_id"


def _rows(tx: Tx, where: str = "", params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return tx.rows(
        f"SELECT {PROJECT_SELECT} FROM {PROJECT_JOIN} {where} ORDER BY p.name", params or []
    )


_SPECS: dict[str, ProjectSpec] = {}  # content hash -> parsed spec; stored specs never change


def project_of_row(ws: Workspace, values: Sequence[Any]) -> Project:
    """A Project from the ``PROJECT_SELECT`` columns of a row. The spec is parsed once per
    process: its content hash, read in the same row, keys the parsed copy."""
    *fields, content_hash = values
    row = dict(zip(PROJECT_COLUMNS, fields, strict=True))
    spec = _SPECS.get(content_hash)
    if spec is None:
        artifact = get_artifact(ws, row["spec_artifact_id"])
        text = read_file(ws, artifact, "spec").decode("utf-8")
        spec = load_spec_text(text, f"{row['name']} (stored)")
        _SPECS[artifact.content_hash] = spec
    return Project(spec=spec, **row)


def find_project(ws: Workspace, name: str) -> Project | None:
    with ws.store.read() as tx:
        rows = _rows(tx, "WHERE p.name = ?", [name])
        return project_of_row(ws, rows[0]) if rows else None


def get_project(ws: Workspace, name: str) -> Project:
    found = find_project(ws, name)
    if found is None:
        names = [p.name for p in list_projects(ws)]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        raise NotFound(
            f"No project {name!r} in this workspace."
            + (f" Did you mean {close[0]!r}?" if close else "")
            + (f" Projects here: {', '.join(names)}." if names else " There are no projects yet."),
            hint=f"use `{close[0]}`" if close else "create one with `loopline project create FILE`",
        )
    return found


def list_projects(ws: Workspace) -> list[Project]:
    with ws.store.read() as tx:
        return [project_of_row(ws, row) for row in _rows(tx)]
