"""The prediction service's HTTP surface (FastAPI): /predict, /feedback, /health, /model.

Endpoints are ``async`` and do their small CPU work on the event loop: a single prediction is a
fraction of a millisecond on the lean path (less than a hand-off to the thread pool), and
predictions that arrive together are computed as one matrix (:mod:`core.serving.batching`).
Batches larger than ``INLINE_ITEMS`` or with more text than ``INLINE_TEXT`` characters (span
detectors, TF-IDF), token checks (:mod:`core.serving.auth`) and feedback's audit rows (which open
the workspace, one short unit per request) run in the thread pool. Bodies are read with a byte
limit before anything parses them (:mod:`core.serving.http`); nothing on the event loop waits
for the disk. ``POST /predict`` is answered ahead of FastAPI's routing
(:mod:`core.serving.fastpath`): its per-request machinery cost as much CPU as the prediction.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from core.actor import Actor
from core.errors import CoreError
from core.projects.spec import Column, ProjectSpec
from core.serving.auth import Authenticate, BearerAuth
from core.serving.batching import MicroBatcher, ShadowQueue
from core.serving.fastpath import PredictPath
from core.serving.http import (
    MAX_BODY_BYTES,
    Refused,
    bad_request,
    json_response,
    read_body,
    refusal,
    refused_body,
)
from core.serving.items import parsed_items, refused_items
from core.serving.log import logged_request_ids
from core.serving.placements import read_mode
from core.serving.requests import MAX_BATCH, BadRequest, Schemas, naive_utc, parse
from core.serving.service import (
    POLL_SECONDS,
    Item,
    ModelSource,
    ModelWatcher,
    Placement,
    PredictionLog,
    ServedModel,
    WorkspaceSource,
    inline,
    predict_items,
    record_feedback,
)
from core.store import Workspace, utcnow

log = logging.getLogger("loopline.serving")


@dataclass(frozen=True)
class Backend:
    """Where the service runs: what it serves from, where it logs, how it checks feedback.

    The workspace's (:func:`local_backend`) or a Loopline server's (``core.remote.serving``):
    ``source`` finds and loads the model under the alias; segments are written under
    ``log_root`` (the workspace, or a serving host's spool); ``record_feedback(actor, ids)``
    records (and checks) a feedback request before its answers are logged;
    ``logged_request_ids(ids)`` says which ids a finished segment holds; ``start``/``stop`` run
    with the service (after the log starts, after it is closed) and ``health`` adds to /health;
    ``placement()`` is the project's candidate mode, read at every poll when the service is
    started without a placement of its own.
    """

    source: ModelSource
    log_root: Workspace | Path
    authenticate: Authenticate | None
    record_feedback: Callable[[Actor, Sequence[str]], None]
    logged_request_ids: Callable[[Sequence[str]], set[str]]
    start: Callable[[], None] = lambda: None
    stop: Callable[[], None] = lambda: None
    health: Callable[[], dict[str, Any]] = dict
    placement: Callable[[], Placement | None] | None = None


def local_backend(ws: Workspace, project: str, authenticate: Authenticate | None) -> Backend:
    """The service on the workspace's own machine: model, log and audit rows in the workspace."""
    return Backend(
        source=WorkspaceSource(ws),
        log_root=ws,
        authenticate=authenticate,
        record_feedback=lambda actor, ids: record_feedback(ws, actor, project, ids),
        logged_request_ids=lambda ids: logged_request_ids(ws, project, ids),
        placement=lambda: _mode(ws, project),
    )


def _mode(ws: Workspace, project: str) -> Placement | None:
    found = read_mode(ws, project)
    return found.placement if found is not None else None


def create_app(
    where: Workspace | Backend,
    project: str,
    *,
    authenticate: Authenticate | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    poll_seconds: float = POLL_SECONDS,
    flush_seconds: float = 1.0,
    placement: Placement | None = None,
) -> FastAPI:
    """The service for ``project``'s production model. Raises NotFound when there is none.

    ``where``: the workspace, or a :class:`Backend` (a serving host of a Loopline server).
    ``authenticate(token)`` (for a workspace) returns the actor a bearer token belongs to, or
    raises Forbidden; without it ``/feedback`` answers 503. ``placement``: the ``acceptance``
    model runs beside production in the shadow or as a canary (none while nothing is in
    acceptance); without it, as the project's candidate mode says (``loopline candidate
    PROJECT --shadow | --canary P | --off``), followed at every poll.
    """
    backend = where if isinstance(where, Backend) else local_backend(where, project, authenticate)
    service = Service(
        backend,
        project,
        max_body_bytes=max_body_bytes,
        poll_seconds=poll_seconds,
        flush_seconds=flush_seconds,
        placement=placement,
    )
    app = FastAPI(
        title=f"Loopline prediction service: {project}",
        description="Predictions from the project's production model; every one is logged.",
        lifespan=service.lifespan,
    )
    app.state.watcher = service.watcher
    app.state.logs = service.logs
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.get("/health")(service.health)
    app.get("/model")(service.model)
    body = {"application/json": {"schema": service.schemas.predict.model_json_schema()}}
    app.post("/predict", openapi_extra={"requestBody": {"required": True, "content": body}})(
        service.predict
    )
    app.post("/feedback")(service.feedback)
    app.add_middleware(PredictPath, answer=service.answer, max_body_bytes=max_body_bytes)
    return app


async def _refused(request: Request, error: Refused) -> Response:
    return JSONResponse(error.payload, status_code=error.status, headers=error.headers)


class Service:
    """What the endpoints of one service share: the served model (watched for a new production
    version), its logs, the request schemas of its project definition, the micro-batcher and the
    bearer-token check. Each endpoint is one method."""

    def __init__(
        self,
        backend: Backend,
        project: str,
        *,
        max_body_bytes: int,
        poll_seconds: float,
        flush_seconds: float,
        placement: Placement | None = None,
    ) -> None:
        self.backend, self.project, self.max_body_bytes = backend, project, max_body_bytes
        self.watcher = ModelWatcher(
            backend.source,
            project,
            poll_seconds=poll_seconds,
            placement=placement,
            follow=backend.placement,
        )
        current = self.watcher.current.spec
        self.logs = PredictionLog(backend.log_root, current, flush_seconds=flush_seconds)
        self.schemas = Schemas(current)
        self.watcher.on_switch = self._switched
        self.batcher = MicroBatcher(self.watcher)
        self.shadows = ShadowQueue(self.logs)
        self.authenticated = BearerAuth(backend.authenticate)
        self.started = time.time()

    def _switched(self, previous: ServedModel, current: ServedModel) -> None:
        if current.spec != self.schemas.spec:  # the project definition changed with the model
            self.schemas = Schemas(current.spec)
            self.logs.follow(current.spec)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.logs.start()
        self.backend.start()
        self.watcher.start()
        # The model, pandas and the web stack are loaded and live for the whole service: move
        # them out of the collector's sight, so a full collection does not walk them (it cost
        # p99 ≈ 120 ms under load: every request in flight waits out the pause).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            self.watcher.stop()
            self.shadows.flush(here=True)
            self.logs.close()
            self.backend.stop()

    async def health(self) -> Response:
        served = self.watcher.current
        stats = self.logs.predictions.stats()
        problems = [p for p in (stats.last_error, self.watcher.last_poll_error) if p]
        return json_response(
            {
                "status": "degraded" if problems else "ok",
                "project": self.project,
                "model": _model_ref(served),
                "uptime_s": round(time.time() - self.started, 1),
                "worker": os.getpid(),
                "log": asdict(stats),
                "quarantined": self.logs.quarantined,
                "alias_check_error": self.watcher.last_poll_error,
                "candidate": self._candidate(),
                **self.backend.health(),
            }
        )

    async def model(self) -> Response:
        served = self.watcher.current
        spec = served.spec
        return json_response(
            {
                "project": self.project,
                "alias": self.watcher.alias,
                "model": served.describe(),
                "kind": spec.kind,
                "classes": served.predictor.classes,
                "features": list(spec.inputs),
                "fields": [_field(c, spec) for c in spec.columns],
                "spans": list(spec.labels.spans.types) if spec.labels.spans else [],
                "switches": self.watcher.switches,
                "max_batch": MAX_BATCH,
                "candidate": self._candidate(),
            }
        )

    def _candidate(self) -> dict[str, Any] | None:
        """The candidate beside production and how it runs (None: no placement)."""
        placement, candidate = self.watcher.placement, self.watcher.candidate
        if placement is None:
            return None
        return {
            "mode": placement.mode,
            "share": placement.share if placement.mode == "canary" else None,
            "model": _model_ref(candidate) if candidate is not None else None,
        }

    async def predict(self, request: Request) -> Response:
        """``POST /predict`` as a route (the OpenAPI page lists it); requests reach
        :meth:`answer` through :class:`~core.serving.fastpath.PredictPath` first."""
        received = utcnow()
        body = await read_body(request, self.max_body_bytes)
        status, payload = await self.answer(body, request.headers.get("x-canary-key"), received)
        return json_response(payload, status)

    async def answer(
        self, body: bytes, key: str | None, received: datetime
    ) -> tuple[int, dict[str, Any]]:
        """A ``/predict`` body's status and answer, every item logged once (``key``: the
        ``X-Canary-Key`` header)."""
        served, current = self.watcher.current, self.schemas
        try:
            parsed = parse(current.predict, body, current.allowed)
        except BadRequest as bad:
            refused = refused_items(body, bad, received, served.spec.id_column)
            self.logs.failed(served, refused, received)
            return bad.status, refused_body(bad)
        base, items = parsed_items(parsed, served, received)
        candidate = self.watcher.candidate
        answered, canary = self._route(items, candidate, key)
        try:
            per_item = await self._predict(served, answered) if answered else 0.0
            canary_ms = await self._predict(candidate, canary) if candidate and canary else 0.0
        except Exception as error:
            message = f"internal error: {type(error).__name__}: {error}"
            failed = [(i.request_id, i.ts, i.item_id, message) for i in items]
            self.logs.failed(served, failed, received)
            raise
        self.logs.predicted(served, answered, received, per_item)
        head = {"model": _model_ref(served)}
        if candidate is not None and canary:
            self.logs.predicted(candidate, canary, received, canary_ms, "canary")
            if parsed.inputs is not None:
                head = {"model": _model_ref(candidate)}
            else:
                for item in canary:
                    item.result["model"] = _model_ref(candidate)
        if parsed.inputs is not None:
            payload = {**items[0].result, **head}
        else:
            payload = {"request_id": base, **head, "items": [i.result for i in items]}
        if candidate is not None:  # scored after the answer is sent: the client never waits
            self.shadows.add(candidate, answered, received)
            self.shadows.add(served, canary, received)
        return 200, payload

    def _route(
        self, items: list[Item], candidate: ServedModel | None, key: str | None
    ) -> tuple[list[Item], list[Item]]:
        """The items production answers and those the canary answers (sticky per key: the
        ``X-Canary-Key`` header, else the item's id, else its request id)."""
        placement = self.watcher.placement
        if candidate is None or placement is None or placement.mode != "canary":
            return items, []
        answered: list[Item] = []
        canary: list[Item] = []
        for item in items:
            chosen = key or item.item_id or item.request_id
            (canary if placement.answers(chosen) else answered).append(item)
        return answered, canary

    async def _predict(self, model: ServedModel, items: list[Item]) -> float:
        """Model time per item: on the event loop (micro-batched) when cheap, else in a thread."""
        if inline(model, items):
            return (await self.batcher.predict(items, model))[1]
        return await run_in_threadpool(predict_items, model, items)

    async def feedback(self, request: Request) -> Response:
        received = utcnow()
        actor = await self.authenticated(request)
        body = await read_body(request, self.max_body_bytes)
        current = self.schemas
        try:
            parsed = parse(current.feedback, body, current.feedback_allowed)
        except BadRequest as bad:
            return bad_request(bad)
        entries = parsed.items if parsed.items is not None else [parsed]
        answers = [_answer(entry, received, actor.name) for entry in entries]
        ids = [str(a["request_id"]) for a in answers]
        try:  # the audit row first: feedback is logged only once it is recorded
            await run_in_threadpool(self.backend.record_feedback, actor, ids)
        except CoreError as error:
            raise refusal(error) from None
        self.logs.answered(answers)
        payload: dict[str, Any] = {"accepted": len(answers), "actor": actor.name}
        unknown = await self._unknown(ids)
        if unknown:
            payload["unknown_request_ids"] = unknown[:20]
            payload["warning"] = (
                f"{len(unknown)} of {len(ids)} request id(s) match no logged prediction: "
                "monitoring cannot pair that feedback with a prediction (check the ids)"
            )
        return json_response(payload)

    async def _unknown(self, ids: list[str]) -> list[str]:
        """The request ids no prediction of ours carries. Their feedback is kept either way (the
        prediction may come from another replica's unflushed log), but the caller learns at once."""
        pending = self.logs.predictions.pending_values("request_id")
        unknown = sorted(set(ids) - pending)
        if unknown:
            found = await run_in_threadpool(self.backend.logged_request_ids, unknown)
            unknown = [i for i in unknown if i not in found]
        return unknown


def _model_ref(served: ServedModel) -> dict[str, Any]:
    return {"artifact_id": served.artifact.artifact_id, "version": served.artifact.version}


def _field(column: Column, spec: ProjectSpec) -> dict[str, Any]:
    """One column of the project as ``/model`` describes it."""
    return {
        "name": column.name,
        "type": column.type,
        "input": column.name in spec.inputs,
        "required": column.name in spec.inputs and column.required,
        **({"values": list(column.values)} if column.values else {}),
        **({"min": column.min} if column.min is not None else {}),
        **({"max": column.max} if column.max is not None else {}),
    }


def _answer(entry: Any, received: datetime, actor: str) -> dict[str, Any]:
    """One feedback entry as the feedback log keeps it."""
    return {
        "ts": naive_utc(entry.time) or received,
        "received_at": received,
        "request_id": entry.request_id,
        "label": entry.label,
        "actor": actor,
    }
