"""Promotion and rollback: one transaction moves the alias, records its history in the hash
chain, writes the audit row and recomputes the requirement statuses that read production."""

from __future__ import annotations

from collections.abc import Sequence

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.integrity import ensure_intact
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.errors import InvalidInput
from core.registry.service import ALIASES, ENVIRONMENTS, find_alias, unservable
from core.requirements.status import recompute
from core.store import Workspace, chain, utcnow


def promote(
    ws: Workspace,
    project: str,
    model: int | str,
    actor: Actor,
    *,
    alias: str = "production",
    reason: str = "",
    build_id: int | None = None,
    forced: Sequence[str] = (),
    action: str = "promote",
) -> Artifact:
    """Point ``alias`` at a registered model version; rolling back is promoting an older one.
    ``forced``: the release conditions an admin promoted past (kept in the audit row);
    ``action``: what the audit row calls it (``canary.rollback`` when Loopline itself moves a
    failing canary back)."""
    if alias not in ALIASES:
        raise InvalidInput(f"Unknown alias {alias!r}. Expected one of: {', '.join(ALIASES)}.")
    artifact = get_artifact(ws, model)
    if artifact.kind != "model" or artifact.project != project:
        raise InvalidInput(f"{artifact.ref} is not a registered model of {project!r}.")
    if not reason.strip():
        raise InvalidInput("Say why (a reason is kept in the promotion history).")
    why_not = unservable(artifact) if alias in ENVIRONMENTS else None
    if why_not is not None:
        raise InvalidInput(
            f"Cannot promote {artifact.ref} to {alias}: {why_not}.",
            hint="retrain it in Loopline (`loopline train` or `loopline build`) and promote "
            "that version",
        )
    ensure_intact(ws, artifact, "promote")  # rolling back is promoting an older version
    previous = find_alias(ws, project, alias)
    now = utcnow()
    with ws.store.transaction() as tx:
        tx.execute(
            "INSERT OR REPLACE INTO aliases (project, alias, artifact_id, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?)",
            [project, alias, artifact.artifact_id, now, actor.name],
        )
        entry_id = tx.scalar(
            "INSERT INTO alias_history (entry_id, project, alias, artifact_id, "
            'previous_artifact_id, "at", actor, reason, build_id) '
            "VALUES (nextval('alias_history_ids'), ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
            [
                project,
                alias,
                artifact.artifact_id,
                previous.artifact_id if previous else None,
                now,
                actor.name,
                reason,
                build_id,
            ],
        )
        chain.append(tx, "alias_history", [int(entry_id)])
        record(
            tx,
            actor,
            action,
            project=project,
            target=artifact.ref,
            details={
                "alias": alias,
                "previous": previous.ref if previous else None,
                "reason": reason,
                "build_id": build_id,
                **({"forced_past": list(forced)} if forced else {}),
            },
        )
        if alias == "production":
            recompute(tx, project, cause=f"{artifact.ref} promoted: {reason}")
    return artifact


def rollback(
    ws: Workspace, project: str, model: int | str, actor: Actor, *, reason: str
) -> Artifact:
    """Serve an earlier version again: a promotion of that version, recorded as any other."""
    return promote(ws, project, model, actor, reason=reason)
