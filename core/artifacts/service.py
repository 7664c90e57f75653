"""Registering artifacts (versions assigned by the store), reading them, and walking lineage."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.accounts.access import check_action, readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import (
    KINDS,
    NAME_PATTERN,
    RELATIONS,
    Artifact,
    ArtifactFile,
    NewArtifact,
)
from core.errors import Immutable, InvalidInput, NotFound, expected_one_of
from core.store import Tx, Workspace, chain, utcnow

_COLUMNS = (
    "artifact_id, kind, name, version, project, content_hash, metadata, created_at, created_by"
)
_REF = re.compile(r"^(?P<kind>[a-z_]+):(?P<name>[^@]+?)(?:@v?(?P<version>\d+))?$")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def default_content_hash(new: NewArtifact, blob_hashes: Mapping[str, str]) -> str:
    """Hash of the files' hashes and the metadata, for artifacts with no domain-specific hash."""
    body = canonical_json({"files": dict(sorted(blob_hashes.items())), "metadata": new.metadata})
    return hashlib.sha256(body.encode()).hexdigest()


def validate(new: NewArtifact) -> None:
    if new.kind not in KINDS:
        raise InvalidInput(expected_one_of("artifact kind", new.kind, KINDS))
    if not NAME_PATTERN.match(new.name):
        raise InvalidInput(
            f"Invalid artifact name {new.name!r}. Expected letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)."
        )
    for relation, target in new.inputs:
        if relation not in RELATIONS:
            raise InvalidInput(expected_one_of("relation", relation, RELATIONS))
        if not isinstance(target, int) or isinstance(target, bool):
            raise InvalidInput(
                f"Input of {new.kind}:{new.name} must be an artifact id, got {target!r}."
            )


def register(
    ws: Workspace,
    new: NewArtifact,
    actor: Actor,
    *,
    reuse: bool = False,
    checks: Sequence[str] = (),
) -> Artifact:
    """Register one artifact. With ``reuse``, an identical latest version is returned instead."""
    return register_many(ws, [new], actor, reuse=reuse, checks=checks)[0]


def register_many(
    ws: Workspace,
    news: Sequence[NewArtifact],
    actor: Actor,
    *,
    reuse: bool = False,
    checks: Sequence[str] = (),
) -> list[Artifact]:
    """Register a batch in one transaction: blobs first (written once, while other processes may
    use the workspace file: a 5 MB batch held it for a second), then the rows.

    The actor's right to register (and to do ``checks``, the actions the caller records with
    this registration, e.g. ``freeze``) is checked before any blob is written, so a refusal
    leaves nothing in ``objects/``; the transaction checks "register" again."""
    for new in news:
        validate(new)
    check_first(ws, actor, [new.project for new in news], checks)
    blob_maps = _store_files(ws, news)  # without the workspace file: other processes go on
    hashes = [
        new.content_hash or default_content_hash(new, {r: d for r, (d, _) in blobs.items()})
        for new, blobs in zip(news, blob_maps, strict=True)
    ]
    return ws.store.write(lambda tx: _insert(tx, news, blob_maps, hashes, actor, reuse))  # type: ignore[no-any-return]


def _store_files(ws: Workspace, news: Sequence[NewArtifact]) -> list[dict[str, tuple[str, int]]]:
    """Each artifact's files as blobs: role → (hash, size)."""
    blob_maps: list[dict[str, tuple[str, int]]] = []
    for new in news:
        blobs: dict[str, tuple[str, int]] = {}
        for role, content in new.files.items():
            if isinstance(content, Path):
                digest = ws.blobs.put_file(content)
                blobs[role] = (digest, content.stat().st_size)
            else:
                blobs[role] = (ws.blobs.put_bytes(content), len(content))
        blob_maps.append(blobs)
    return blob_maps


def check_first(
    ws: Workspace, actor: Actor, projects: Sequence[str | None], checks: Sequence[str] = ()
) -> None:
    """Refuse (Forbidden) before any work unless ``actor`` may register in every project and do
    each of ``checks`` there."""
    with ws.store.read() as tx:
        for project in dict.fromkeys(projects):
            for action in (*checks, "register"):
                check_action(tx, actor, action, project=project, target=None)


def _insert(
    tx: Tx,
    news: Sequence[NewArtifact],
    blob_maps: Sequence[Mapping[str, tuple[str, int]]],
    hashes: Sequence[str],
    actor: Actor,
    reuse: bool,
) -> list[Artifact]:
    targets = sorted({dst for new in news for _, dst in new.inputs})
    if targets:
        found = {
            row[0]
            for row in tx.rows(
                "SELECT artifact_id FROM artifacts WHERE artifact_id IN (SELECT unnest(?::BIGINT[]))",
                [targets],
            )
        }
        missing = [t for t in targets if t not in found]
        if missing:
            raise NotFound(
                f"Cannot link to artifact(s) {missing}: no such artifact in this workspace."
            )
    keys = sorted({(new.kind, new.name) for new in news})
    latest: dict[tuple[str, str], tuple[int, int, str]] = {}
    for kind, name, version, artifact_id, content_hash in tx.rows(
        """
        SELECT a.kind, a.name, a.version, a.artifact_id, a.content_hash
        FROM artifacts a
        JOIN (SELECT unnest(?::VARCHAR[]) AS kind, unnest(?::VARCHAR[]) AS name) q
          ON a.kind = q.kind AND a.name = q.name
        QUALIFY row_number() OVER (PARTITION BY a.kind, a.name ORDER BY a.version DESC) = 1
        """,
        [[k for k, _ in keys], [n for _, n in keys]],
    ):
        latest[(kind, name)] = (version, artifact_id, content_hash)

    results: list[Artifact | int] = []
    fresh: list[int] = []
    for index, (new, content_hash) in enumerate(zip(news, hashes, strict=True)):
        previous = latest.get((new.kind, new.name))
        if (
            reuse
            and previous
            and previous[2] == content_hash
            and _same_inputs(tx, previous[1], new)
        ):
            results.append(previous[1])
        else:
            results.append(index)
            fresh.append(index)
    if fresh:
        ids = [
            row[0] for row in tx.rows("SELECT nextval('artifact_ids') FROM range(?)", [len(fresh)])
        ]
        now = utcnow()
        counters = {key: value[0] for key, value in latest.items()}
        rows: dict[str, list[Any]] = {
            c: [] for c in ("id", "kind", "name", "ver", "proj", "hash", "meta")
        }
        files: dict[str, list[Any]] = {"id": [], "role": [], "blob": [], "size": []}
        edges: dict[str, list[Any]] = {"src": [], "rel": [], "dst": []}
        for artifact_id, index in zip(ids, fresh, strict=True):
            new = news[index]
            version = counters.get((new.kind, new.name), 0) + 1
            counters[(new.kind, new.name)] = version
            for column, value in zip(
                rows,
                (
                    artifact_id,
                    new.kind,
                    new.name,
                    version,
                    new.project,
                    hashes[index],
                    canonical_json(new.metadata),
                ),
                strict=True,
            ):
                rows[column].append(value)
            for role, (digest, size) in sorted(blob_maps[index].items()):
                for column, value in zip(files, (artifact_id, role, digest, size), strict=True):
                    files[column].append(value)
            for relation, dst in sorted(set(new.inputs)):
                for column, value in zip(edges, (artifact_id, relation, dst), strict=True):
                    edges[column].append(value)
            results[index] = artifact_id
        stored = tx.rows(
            f"""
            INSERT INTO artifacts ({_COLUMNS})
            SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                   unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                   unnest(?::JSON[]), ?::TIMESTAMP, ?
            RETURNING {_COLUMNS}
            """,
            [*rows.values(), now, actor.name],
        )
        if files["id"]:
            tx.execute(
                "INSERT INTO artifact_files (artifact_id, role, blob_hash, size_bytes) "
                "SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                list(files.values()),
            )
        if edges["src"]:
            tx.execute(
                "INSERT INTO edges (src_id, relation, dst_id) SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                list(edges.values()),
            )
        refs = [
            f"{k}:{n}@{v}" for k, n, v in zip(rows["kind"], rows["name"], rows["ver"], strict=True)
        ]
        # the rows are appended in bulk (one per artifact), so the check ``record`` makes is made
        # here, once per project; a refusal rolls the whole batch back
        for project in dict.fromkeys(rows["proj"]):
            resolved = check_action(tx, actor, "register", project=project, target=None)
        chain.append(
            tx,
            "artifacts",
            ids,
            _chained(stored, news, dict(zip(ids, fresh, strict=True)), blob_maps),
        )
        audit_rows = tx.rows(
            """
            INSERT INTO audit_log (audit_id, "at", actor, via, action, project, target, details)
            SELECT nextval('audit_ids'), ?::TIMESTAMP, ?, ?, 'register', p, t, ?::JSON
            FROM (SELECT unnest(?::VARCHAR[]) AS p, unnest(?::VARCHAR[]) AS t)
            RETURNING audit_id, "at", actor, via, action, project, target, details
            """,
            [
                now,
                resolved.name or actor.name,
                actor.via,
                json.dumps(resolved.details, sort_keys=True, default=str),
                rows["proj"],
                refs,
            ],
        )
        chain.append(
            tx,
            "audit_log",
            [int(row[0]) for row in audit_rows],
            {int(row[0]): chain.from_row("audit_log", row) for row in audit_rows},
        )
    wanted = [r for r in results if isinstance(r, int)]
    by_id = {
        a.artifact_id: a
        for a in select_artifacts(tx, "WHERE artifact_id IN (SELECT unnest(?::BIGINT[]))", [wanted])
    }
    return [by_id[r] for r in results if isinstance(r, int)]


def _chained(
    stored: Sequence[Sequence[Any]],
    news: Sequence[NewArtifact],
    indexes: Mapping[int, int],
    blob_maps: Sequence[Mapping[str, tuple[str, int]]],
) -> dict[int, dict[str, Any]]:
    """What the hash chain covers of each new artifact: its row as stored, its files and its
    lineage inputs (as ``core.store.chain.contents`` reads them back)."""
    found = {int(row[0]): chain.from_row("artifacts", row) for row in stored}
    for artifact_id, index in indexes.items():
        found[artifact_id]["files"] = {
            role: [digest, int(size)] for role, (digest, size) in sorted(blob_maps[index].items())
        }
        found[artifact_id]["inputs"] = [
            [relation, int(dst)]
            for relation, dst in sorted(set(news[index].inputs))
            if relation not in chain.LATE_RELATIONS
        ]
    return found


def _same_inputs(tx: Tx, artifact_id: int, new: NewArtifact) -> bool:
    existing = {
        (r, d)
        for r, d in tx.rows("SELECT relation, dst_id FROM edges WHERE src_id = ?", [artifact_id])
    }
    return existing == set(new.inputs)


def select_artifacts(tx: Tx, where: str, params: Sequence[Any] = ()) -> list[Artifact]:
    rows = tx.rows(f"SELECT {_COLUMNS} FROM artifacts {where}", list(params))
    if not rows:
        return []
    ids = [row[0] for row in rows]
    files: dict[int, list[ArtifactFile]] = {}
    for artifact_id, role, blob_hash, size in tx.rows(
        "SELECT artifact_id, role, blob_hash, size_bytes FROM artifact_files "
        "WHERE artifact_id IN (SELECT unnest(?::BIGINT[])) ORDER BY role",
        [ids],
    ):
        files.setdefault(artifact_id, []).append(ArtifactFile(role, blob_hash, size))
    return [
        Artifact(
            artifact_id=row[0],
            kind=row[1],
            name=row[2],
            version=row[3],
            project=row[4],
            content_hash=row[5],
            metadata=json.loads(row[6]),
            created_at=row[7],
            created_by=row[8],
            files=tuple(files.get(row[0], ())),
        )
        for row in rows
    ]


def get_artifact(ws: Workspace, ref: int | str) -> Artifact:
    """By id (``42``, ``#42``) or reference (``dataset:ooo-replies@2``; no version = latest)."""
    with ws.store.read() as tx:
        found = _find(tx, ref)
    if found is None:
        text = str(ref)
        if text.startswith("model:"):
            project = text.removeprefix("model:").partition("@")[0]
            hint = f"`loopline models {project}` lists its model versions"
        else:
            hint = (
                "list them with `loopline artifacts`; refer to one by id (42) or kind:name@version"
            )
        raise NotFound(f"No artifact {text!r} in this workspace.", hint=hint)
    return found


def find_artifact(ws: Workspace, ref: int | str) -> Artifact | None:
    with ws.store.read() as tx:
        return _find(tx, ref)


def _find(tx: Tx, ref: int | str) -> Artifact | None:
    text = str(ref).strip().lstrip("#")
    if text.isdigit():
        found = select_artifacts(tx, "WHERE artifact_id = ?", [int(text)])
        return found[0] if found else None
    match = _REF.match(text)
    if not match:
        raise InvalidInput(
            f"Cannot read artifact reference {str(ref)!r}. Expected an id such as 42 or "
            "kind:name@version such as dataset:ooo-replies@2."
        )
    if match["version"]:
        found = select_artifacts(
            tx,
            "WHERE kind = ? AND name = ? AND version = ?",
            [match["kind"], match["name"], int(match["version"])],
        )
    else:
        found = select_artifacts(
            tx,
            "WHERE kind = ? AND name = ? ORDER BY version DESC LIMIT 1",
            [match["kind"], match["name"]],
        )
    return found[0] if found else None


def list_artifacts(
    ws: Workspace,
    *,
    kind: str | None = None,
    project: str | None = None,
    name: str | None = None,
    limit: int = 1000,
) -> list[Artifact]:
    """Newest first."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(expected_one_of("artifact kind", kind, KINDS))
    clauses, params = _filters(kind=kind, project=project, name=name)
    with ws.store.read() as tx:
        scope = readable(tx, None, "data.read", project)
        found = select_artifacts(
            tx, f"{clauses} ORDER BY artifact_id DESC LIMIT ?", [*params, limit]
        )
    return found if scope is None else [a for a in found if a.project in scope or not a.project]


def _filters(**values: str | None) -> tuple[str, list[Any]]:
    parts = [f"{column} = ?" for column, value in values.items() if value is not None]
    params = [value for value in values.values() if value is not None]
    return ("WHERE " + " AND ".join(parts) if parts else ""), params


def count_by_kind(ws: Workspace, project: str | None = None) -> dict[str, int]:
    clauses, params = _filters(project=project)
    with ws.store.read() as tx:
        rows = tx.rows(
            f"SELECT kind, count(*) FROM artifacts {clauses} GROUP BY kind ORDER BY kind", params
        )
    return {kind: count for kind, count in rows}


def read_file(ws: Workspace, artifact: Artifact, role: str) -> bytes:
    """An artifact's file, checked against its hash before it is handed out."""
    item = artifact.file(role)
    problem = ws.blobs.verify(item.blob_hash)
    if problem:
        raise Immutable(
            f"The file {role!r} of {artifact.ref} is damaged ({problem}); refusing to use it.",
            hint="run `loopline verify`; re-register the artifact from its source",
        )
    return ws.blobs.read_bytes(item.blob_hash)


def delete_artifact(ws: Workspace, ref: int | str, actor: Actor) -> None:
    """Refused: registered artifacts are immutable."""
    artifact = get_artifact(ws, ref)
    raise Immutable(
        f"{artifact.ref} is registered and immutable; it cannot be deleted.",
        hint="register a new version instead; aliases such as production can move to another version",
    )


def update_artifact(ws: Workspace, ref: int | str, actor: Actor, **changes: Any) -> None:
    """Refused: registered artifacts are immutable."""
    artifact = get_artifact(ws, ref)
    raise Immutable(
        f"{artifact.ref} is registered and immutable; it cannot be changed ({', '.join(changes) or 'no fields'}).",
        hint="register a new version with the change",
    )


def record_event(ws: Workspace, actor: Actor, action: str, **fields: Any) -> None:
    with ws.store.transaction() as tx:
        record(tx, actor, action, **fields)


def ids(artifacts: Iterable[Artifact]) -> list[int]:
    return [a.artifact_id for a in artifacts]
