"""Retraining requests: opened from an alert, picked up by the next ``loopline build``.

The build calls :func:`pending_retrain_request` (in its transaction), records the request's
``trigger`` text as its trigger, :func:`consume_retrain_request` with its build id, and
:func:`link_build_to_request` once its build artifact exists (or passes :func:`retrain_inputs` as
the artifact's inputs), so lineage reads alert → build → model.
"""

from __future__ import annotations

from typing import Any

from core.accounts.audit import record
from core.actor import Actor
from core.errors import InvalidInput
from core.monitoring.alerts import get_alert
from core.monitoring.models import RetrainRequest
from core.store import Tx, Workspace, utcnow


def link(tx: Tx, src: int, relation: str, dst: int) -> None:
    """A lineage edge added after both artifacts exist (idempotent)."""
    tx.execute(
        "INSERT OR IGNORE INTO edges (src_id, relation, dst_id) VALUES (?, ?, ?)",
        [src, relation, dst],
    )


_REQUEST_COLUMNS = (
    "r.request_id, r.project, r.alert_id, r.reason, r.status, r.requested_at, r.requested_by, "
    "r.build_id, r.consumed_at, a.artifact_id"
)


def _requests(tx: Tx, where: str, params: list[Any]) -> list[RetrainRequest]:
    rows = tx.rows(
        f"SELECT {_REQUEST_COLUMNS} FROM retrain_requests r LEFT JOIN alerts a USING (alert_id) "
        f"{where} ORDER BY r.request_id",
        params,
    )
    return [RetrainRequest(*row) for row in rows]


def request_retraining(
    ws: Workspace, alert_id: int, actor: Actor, reason: str = ""
) -> RetrainRequest:
    """Ask for a retraining build because of an alert; the next ``loopline build`` picks it up."""
    alert = get_alert(ws, alert_id)
    with ws.store.transaction() as tx:
        pending = pending_retrain_request(tx, alert.project)
        if pending is not None:
            if pending.alert_id == alert.alert_id:
                return pending
            raise InvalidInput(
                f"Retraining of {alert.project} is already requested (request #{pending.request_id}"
                f" from alert #{pending.alert_id}).",
                hint="the next `loopline build` picks it up; acknowledge this alert with a note that says so",
            )
        request_id = int(tx.scalar("SELECT nextval('retrain_request_ids')"))
        text = reason.strip() or alert.describe()
        tx.execute(
            "INSERT INTO retrain_requests (request_id, project, alert_id, reason, status, "
            "requested_at, requested_by, build_id, consumed_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?, NULL, NULL)",
            [request_id, alert.project, alert.alert_id, text, utcnow(), actor.name],
        )
        record(
            tx,
            actor,
            "retrain.request",
            project=alert.project,
            target=f"alert #{alert.alert_id}",
            details={"request_id": request_id, "reason": text},
        )
        found = _requests(tx, "WHERE r.request_id = ?", [request_id])
    return found[0]


def pending_retrain_request(tx: Tx, project: str) -> RetrainRequest | None:
    """The oldest retraining request of the project no build has consumed yet."""
    found = _requests(tx, "WHERE r.project = ? AND r.status = 'pending'", [project])
    return found[0] if found else None


def consume_retrain_request(tx: Tx, request_id: int, build_id: int) -> RetrainRequest:
    """Mark the request as answered by ``build_id`` (in the build's transaction)."""
    found = _requests(tx, "WHERE r.request_id = ?", [int(request_id)])
    if not found:
        raise InvalidInput(f"No retraining request #{request_id}.")
    if found[0].status != "pending":
        number = tx.scalar(  # the build's number in its project, as people see it
            "SELECT coalesce((SELECT number FROM builds WHERE build_id = ?), ?)",
            [found[0].build_id, found[0].build_id],
        )
        raise InvalidInput(
            f"Retraining request #{request_id} was already answered by build #{number}."
        )
    tx.execute(
        "UPDATE retrain_requests SET status = 'consumed', build_id = ?, consumed_at = ? "
        "WHERE request_id = ?",
        [int(build_id), utcnow(), int(request_id)],
    )
    return _requests(tx, "WHERE r.request_id = ?", [int(request_id)])[0]


def retrain_inputs(tx: Tx, request_id: int) -> list[tuple[str, int]]:
    """Lineage inputs for the build artifact a request triggered: ``triggered_by`` its alert."""
    found = _requests(tx, "WHERE r.request_id = ?", [int(request_id)])
    return (
        [("triggered_by", found[0].alert_artifact_id)]
        if found and found[0].alert_artifact_id
        else []
    )


def link_build_to_request(tx: Tx, request_id: int, build_artifact_id: int) -> None:
    """Add the lineage edge build → triggered_by → alert after the build artifact exists."""
    for relation, target in retrain_inputs(tx, request_id):
        link(tx, int(build_artifact_id), relation, target)


def list_retrain_requests(ws: Workspace, project: str) -> list[RetrainRequest]:
    with ws.store.read() as tx:
        return _requests(tx, "WHERE r.project = ?", [project])
