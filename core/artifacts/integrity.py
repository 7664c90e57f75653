"""Tamper evidence: the hash chain's findings in words, aliases against their history, and the
check that refuses a damaged model before it is promoted, rolled back or served.

The chain itself (what is hashed, how rows are linked) is ``core/store/chain.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from core.artifacts.models import Artifact, Problem
from core.errors import Immutable
from core.store import Tx, Workspace, chain
from core.store.blobs import sha256_bytes

VERIFY_HINT = (
    "run `loopline verify` to list every damaged file and row; promote another version, or "
    "register this one again from its run"
)

_WHEN = {
    "artifacts": "after registration",
    "alias_history": "after the move was recorded",
    "audit_log": "after it was written",
}


def chain_problems(tx: Tx) -> list[Problem]:
    """Every break in the three chains, naming the row and what changed."""
    problems: list[Problem] = []
    for name in chain.CHAINS:
        findings = chain.check(tx, name)
        if findings:
            names = _row_names(tx, name, [f.row_id for f in findings])
            problems.extend(_problem(tx, f, names.get(f.row_id)) for f in findings)
    return problems


def _row_names(tx: Tx, name: str, ids: Sequence[int]) -> dict[int, str]:
    """How a row is named in a problem: ``artifact #12 dataset:ooo-replies@1``,
    ``audit row #45 (promote model:hw-triage@2 by maria, 2026-03-01 10:00)``."""
    queries = {
        "artifacts": "SELECT artifact_id, 'artifact #' || artifact_id || ' ' || kind || ':' || "
        "name || '@' || version FROM artifacts",
        "alias_history": "SELECT entry_id, 'alias move #' || entry_id || ' (' || project || '/' "
        "|| alias || ' to #' || coalesce(CAST(artifact_id AS VARCHAR), 'nothing') || ')' "
        "FROM alias_history",
        "audit_log": "SELECT audit_id, 'audit row #' || audit_id || ' (' || action || "
        "coalesce(' ' || target, '') || ' by ' || actor || ', ' || "
        "strftime(\"at\", '%Y-%m-%d %H:%M') || ')' FROM audit_log",
    }
    column = chain.COLUMNS[name][0]
    rows = tx.rows(f"{queries[name]} WHERE {column} IN (SELECT unnest(?::BIGINT[]))", [list(ids)])
    return {int(row_id): str(text) for row_id, text in rows}


def _problem(tx: Tx, finding: chain.Finding, name: str | None) -> Problem:
    label = {"artifacts": "artifact", "alias_history": "alias move", "audit_log": "audit row"}
    what = name or f"{label[finding.chain]} #{finding.row_id}"
    if finding.problem == "edited":
        changed = _changed(tx, finding)
        return Problem(
            what,
            f"row hash does not match its content: {changed} changed {_WHEN[finding.chain]}",
        )
    if finding.problem == "deleted":
        return Problem(what, "deleted from the database (its hash-chain entry remains)")
    if finding.problem == "unchained":
        return Problem(
            what,
            "not in the hash chain: written into the database by hand (or its chain entry "
            "was deleted)",
        )
    return Problem(
        what,
        "the hash chain breaks before it: the row chained before it is missing or was "
        "rewritten (rows deleted from the middle, or a chain entry edited)",
    )


def _changed(tx: Tx, finding: chain.Finding) -> str:
    if not finding.fields:
        return "its content (the recorded field digests were edited too)"
    parts = []
    for field in finding.fields:
        if field.startswith("file ") and finding.chain == "artifacts":
            parts.append(_file_change(tx, finding.row_id, field.removeprefix("file ")))
        else:
            parts.append({"inputs": "lineage inputs"}.get(field, field))
    return ", ".join(parts)


def _file_change(tx: Tx, artifact_id: int, role: str) -> str:
    """``file 'model.joblib' (now blob 3f2a…, the file of model:hw-triage@1)``."""
    row = tx.one(
        "SELECT blob_hash FROM artifact_files WHERE artifact_id = ? AND role = ?",
        [artifact_id, role],
    )
    if row is None:
        return f"file {role!r} (its row was deleted)"
    owner = tx.one(
        "SELECT a.kind || ':' || a.name || '@' || a.version FROM artifact_files f "
        "JOIN artifacts a USING (artifact_id) "
        "WHERE f.blob_hash = ? AND f.artifact_id <> ? ORDER BY a.artifact_id LIMIT 1",
        [row[0], artifact_id],
    )
    also = f", the file of {owner[0]}" if owner else ""
    return f"file {role!r} (now blob {str(row[0])[:12]}…{also})"


def alias_problems(tx: Tx) -> list[Problem]:
    """Each alias must point where its last recorded move put it."""
    rows = tx.rows(
        """
        WITH last AS (
            SELECT project, alias, artifact_id, entry_id FROM alias_history
            QUALIFY row_number() OVER (PARTITION BY project, alias ORDER BY entry_id DESC) = 1)
        SELECT coalesce(a.project, l.project), coalesce(a.alias, l.alias), a.artifact_id,
               l.artifact_id, l.entry_id
        FROM aliases a FULL OUTER JOIN last l ON a.project = l.project AND a.alias = l.alias
        WHERE a.artifact_id IS DISTINCT FROM l.artifact_id
        ORDER BY 1, 2
        """
    )
    problems = []
    for project, alias, now, recorded, entry_id in rows:
        if entry_id is None:
            detail = f"points at #{now}, but no recorded move put it there (set by hand)"
        elif now is None:
            detail = f"is gone, but its last recorded move (#{entry_id}) set it to #{recorded}"
        else:
            detail = (
                f"points at #{now}, but its last recorded move (#{entry_id}) set it to "
                f"#{recorded}: moved without a promotion"
            )
        problems.append(Problem(f"alias {project}/{alias}", detail))
    return problems


def promoted_model_problems(tx: Tx, verify_blob: Callable[[str], str | None]) -> list[Problem]:
    """Every model that is or was promoted: its files must match their hashes (serving and
    rollback would refuse it)."""
    rows = tx.rows(
        """
        WITH moves AS (
            SELECT project, alias, artifact_id FROM alias_history WHERE artifact_id IS NOT NULL
            UNION SELECT project, alias, previous_artifact_id FROM alias_history
                  WHERE previous_artifact_id IS NOT NULL
            UNION SELECT project, alias, artifact_id FROM aliases)
        SELECT DISTINCT m.artifact_id, a.kind || ':' || a.name || '@' || a.version,
               m.project || '/' || m.alias
               || CASE WHEN l.artifact_id = m.artifact_id THEN '' ELSE ' (before)' END
        FROM moves m
        JOIN artifacts a ON a.artifact_id = m.artifact_id
        LEFT JOIN aliases l ON l.project = m.project AND l.alias = m.alias
        ORDER BY 1, 3
        """
    )
    promoted: dict[int, tuple[str, list[str]]] = {}
    for artifact_id, ref, alias in rows:
        promoted.setdefault(int(artifact_id), (str(ref), []))[1].append(str(alias))
    files = tx.rows(
        "SELECT artifact_id, role, blob_hash FROM artifact_files "
        "WHERE artifact_id IN (SELECT unnest(?::BIGINT[])) ORDER BY artifact_id, role",
        [list(promoted)],
    )
    problems = []
    for artifact_id, role, digest in files:
        problem = verify_blob(digest)
        if problem:
            ref, aliases = promoted[int(artifact_id)]
            problems.append(
                Problem(
                    f"model #{artifact_id} {ref}, promoted as {', '.join(aliases)}",
                    f"file {role!r} does not match its hash ({problem}); promote, rollback and "
                    "serve refuse it",
                )
            )
    return problems


def ensure_intact(
    ws: Workspace, artifact: Artifact, doing: str, files: Mapping[str, bytes] | None = None
) -> None:
    """Refuse (Immutable) to ``doing`` an artifact whose registry row fails its hash or whose
    files do not match theirs. ``files``: contents already read (each is hashed, not re-read)."""
    with ws.store.read() as tx:
        findings = chain.check_row(tx, "artifacts", artifact.artifact_id)
        if findings:
            reason = _refusal_reason(tx, findings[0])
            raise Immutable(
                f"Refusing to {doing} {artifact.ref} (#{artifact.artifact_id}): {reason}.",
                hint=VERIFY_HINT,
            )
    for item in artifact.files:
        if files is not None and item.role in files:
            actual = sha256_bytes(files[item.role])
            problem = (
                None
                if actual == item.blob_hash
                else f"content changed (now hashes to {actual[:12]}…)"
            )
        else:
            problem = ws.blobs.verify(item.blob_hash)
        if problem:
            raise Immutable(
                f"Refusing to {doing} {artifact.ref} (#{artifact.artifact_id}): its file "
                f"{item.role!r} does not match its hash ({problem}).",
                hint=VERIFY_HINT,
            )


def _refusal_reason(tx: Tx, finding: chain.Finding) -> str:
    if finding.problem == "edited":
        return f"its registry row does not match its hash ({_changed(tx, finding)} changed after registration)"
    if finding.problem == "unchained":
        return "its registry row is not in the hash chain (written by hand)"
    return "the hash chain around its registry row is broken (rows deleted or rewritten)"
