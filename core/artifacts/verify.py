"""`loopline verify`: re-hash every blob, check every edge and alias, and walk the hash chain of
artifact rows, alias moves and audit rows (core/artifacts/integrity.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.accounts.access import check_action
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.integrity import alias_problems, chain_problems, promoted_model_problems
from core.artifacts.models import Problem, VerifyReport
from core.store import Tx, Workspace


def verify_workspace(
    ws: Workspace, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Read what the store says (one read), re-hash every blob it names, then name what is wrong:
    chains and aliases, damaged files, rows pointing nowhere, blobs and temp files left over."""
    with ws.store.read() as tx:
        rows = _read_rows(tx)
        problems = [*chain_problems(tx), *alias_problems(tx)]
    blobs = _Blobs(ws)
    problems += _artifact_file_problems(rows.files, blobs, progress)
    problems += _run_file_problems(rows.run_files, blobs)
    with ws.store.read() as tx:
        problems += promoted_model_problems(tx, blobs.verify)
    problems += _dangling_problems(rows)
    problems += _leftover_warnings(ws, set(blobs.checked))
    return VerifyReport(tuple(problems), rows.artifacts, len(blobs.checked), rows.edges)


@dataclass(frozen=True)
class _Rows:
    files: list[tuple[Any, ...]]  # artifact_id, ref (None: no such artifact), role, blob_hash
    run_files: list[tuple[Any, ...]]  # run_id, role, blob_hash
    dangling_edges: list[tuple[Any, ...]]  # src_id, relation, dst_id, no_src, no_dst
    dangling_aliases: list[tuple[Any, ...]]  # project, alias, artifact_id
    artifacts: int
    edges: int


def _read_rows(tx: Tx) -> _Rows:
    return _Rows(
        files=tx.rows(
            "SELECT f.artifact_id, a.kind || ':' || a.name || '@' || a.version, f.role, "
            "f.blob_hash FROM artifact_files f LEFT JOIN artifacts a USING (artifact_id) "
            "ORDER BY f.artifact_id, f.role"
        ),
        run_files=tx.rows("SELECT run_id, role, blob_hash FROM run_files ORDER BY run_id, role"),
        dangling_edges=tx.rows(
            """
            SELECT e.src_id, e.relation, e.dst_id,
                   s.artifact_id IS NULL AS no_src, d.artifact_id IS NULL AS no_dst
            FROM edges e
            LEFT JOIN artifacts s ON s.artifact_id = e.src_id
            LEFT JOIN artifacts d ON d.artifact_id = e.dst_id
            WHERE s.artifact_id IS NULL OR d.artifact_id IS NULL
            """
        ),
        dangling_aliases=tx.rows(
            "SELECT l.project, l.alias, l.artifact_id FROM aliases l "
            "LEFT JOIN artifacts a USING (artifact_id) WHERE a.artifact_id IS NULL"
        ),
        artifacts=int(tx.scalar("SELECT count(*) FROM artifacts") or 0),
        edges=int(tx.scalar("SELECT count(*) FROM edges") or 0),
    )


class _Blobs:
    """Each blob re-hashed once: digest → problem (None: intact)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.checked: dict[str, str | None] = {}

    def verify(self, digest: str) -> str | None:
        if digest not in self.checked:
            self.checked[digest] = self.ws.blobs.verify(digest)
        return self.checked[digest]


def _artifact_file_problems(
    files: list[tuple[Any, ...]], blobs: _Blobs, progress: Callable[[int, int], None] | None
) -> list[Problem]:
    problems = []
    for index, (artifact_id, ref, role, digest) in enumerate(files, start=1):
        problem = blobs.verify(digest)
        if problem:
            problems.append(
                Problem(f"#{artifact_id} {ref}", f"file {role!r} ({digest[:12]}…): {problem}")
            )
        if progress:
            progress(index, len(files))
    return problems


def _run_file_problems(run_files: list[tuple[Any, ...]], blobs: _Blobs) -> list[Problem]:
    problems = []
    for run_id, role, digest in run_files:
        problem = blobs.verify(digest)
        if problem:
            problems.append(Problem(f"run #{run_id}", f"file {role!r} ({digest[:12]}…): {problem}"))
    return problems


def _dangling_problems(rows: _Rows) -> list[Problem]:
    """File rows, edges and aliases that point to no artifact."""
    problems = [
        Problem(f"file row of #{artifact_id}", f"{role!r} belongs to no artifact")
        for artifact_id, ref, role, _ in rows.files
        if ref is None
    ]
    for src, relation, dst, no_src, no_dst in rows.dangling_edges:
        missing = ", ".join(n for n, gone in (("source", no_src), ("target", no_dst)) if gone)
        problems.append(Problem(f"edge #{src} {relation} #{dst}", f"points to a missing {missing}"))
    for project, alias, artifact_id in rows.dangling_aliases:
        problems.append(
            Problem(f"alias {project}/{alias}", f"points to missing artifact #{artifact_id}")
        )
    return problems


def _leftover_warnings(ws: Workspace, referenced: set[str]) -> list[Problem]:
    """Blobs nothing refers to and temporary files: harmless, worth a look."""
    problems = []
    orphans = [d for d in ws.blobs.iter_digests() if d not in referenced]
    if orphans:
        problems.append(
            Problem(
                f"{len(orphans)} unreferenced blob(s)",
                "left by an interrupted or refused registration; harmless "
                "(`loopline verify --prune` deletes them)",
                severity="warning",
            )
        )
    leftovers = ws.blobs.leftover_temp_files()
    if leftovers:
        problems.append(
            Problem(
                f"{len(leftovers)} temporary file(s) in objects/",
                "left by an interrupted write; harmless, safe to delete",
                severity="warning",
            )
        )
    return problems


PRUNE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class PruneReport:
    """What `loopline verify --prune` found and removed."""

    removed: int
    freed_bytes: int
    recent: int  # unreferenced, but younger than the grace period: a registration may be under way
    dry_run: bool


def prune_blobs(
    ws: Workspace, actor: Actor, *, older_than: timedelta = PRUNE_AFTER, dry_run: bool = False
) -> PruneReport:
    """Delete the blobs no artifact or run refers to, like `git gc`: a registration refused or
    interrupted after its files were stored leaves them behind.

    Inside one write transaction, so no registration commits a new reference meanwhile; a blob
    touched within ``older_than`` is kept (a registration in another process stores its files
    before it takes the lock, and touches a blob it reuses)."""
    removed = freed = recent = 0
    with ws.store.transaction() as tx:
        check_action(tx, actor, "blobs.prune", project=None, target="objects/")  # before deleting
        referenced = {
            str(row[0])
            for row in tx.rows(
                "SELECT blob_hash FROM artifact_files UNION SELECT blob_hash FROM run_files"
            )
        }
        for digest in ws.blobs.iter_digests():
            if digest in referenced:
                continue
            if ws.blobs.age_seconds(digest) < older_than.total_seconds():
                recent += 1
                continue
            removed += 1
            if not dry_run:
                freed += ws.blobs.remove(digest)
        if removed and not dry_run:
            record(
                tx,
                actor,
                "blobs.prune",
                target="objects/",
                details={"removed": removed, "freed_bytes": freed, "kept_recent": recent},
            )
    return PruneReport(removed, freed, recent, dry_run)
