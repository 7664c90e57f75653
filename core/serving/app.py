"""The prediction service's HTTP surface (FastAPI): /predict, /feedback, /health, /model.

Endpoints are ``async`` and do their small CPU work on the event loop: a single prediction is a
fraction of a millisecond on the lean path (less than a hand-off to the thread pool), and
predictions that arrive together are computed as one matrix (:mod:`core.serving.batching`).
Batches larger than ``INLINE_ITEMS`` or with more text than ``INLINE_TEXT`` characters (span
detectors, TF-IDF), token checks (:mod:`core.serving.auth`) and feedback's audit rows (which open
the workspace, one short unit per request) run in the thread pool. Bodies are read with a byte
limit before anything parses them (:mod:`core.serving.http`); nothing on the event loop waits
for the disk.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from core.errors import CoreError
from core.serving.auth import Authenticate, BearerAuth
from core.serving.batching import MicroBatcher
from core.serving.http import (
    MAX_BODY_BYTES,
    Refused,
    bad_request,
    json_response,
    read_body,
    refusal,
)
from core.serving.items import parsed_items, refused_items
from core.serving.log import logged_request_ids
from core.serving.requests import MAX_BATCH, BadRequest, Schemas, naive_utc, parse
from core.serving.service import (
    POLL_SECONDS,
    ModelWatcher,
    PredictionLog,
    ServedModel,
    inline,
    predict_items,
    record_feedback,
)
from core.store import Workspace, utcnow


def create_app(
    ws: Workspace,
    project: str,
    *,
    authenticate: Authenticate | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    poll_seconds: float = POLL_SECONDS,
    flush_seconds: float = 1.0,
) -> FastAPI:
    """The service for ``project``'s production model. Raises NotFound when there is none.

    ``authenticate(token)`` returns the actor a bearer token belongs to, or raises Forbidden;
    without it ``/feedback`` answers 503.
    """
    watcher = ModelWatcher(ws, project, poll_seconds=poll_seconds)
    logs = PredictionLog(ws, watcher.current.spec, flush_seconds=flush_seconds)
    schemas = Schemas(watcher.current.spec)

    def switched(previous: ServedModel, current: ServedModel) -> None:
        nonlocal schemas
        if current.spec != schemas.spec:  # the project definition changed with the model
            schemas = Schemas(current.spec)
            logs.follow(current.spec)

    watcher.on_switch = switched
    batcher = MicroBatcher(watcher)
    authenticated = BearerAuth(authenticate)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.start()
        watcher.start()
        # The model, pandas and the web stack are loaded and live for the whole service: move
        # them out of the collector's sight, so a full collection does not walk them (it cost
        # p99 ≈ 120 ms under load: every request in flight waits out the pause).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            watcher.stop()
            logs.close()

    app = FastAPI(
        title=f"Loopline prediction service: {project}",
        description="Predictions from the project's production model; every one is logged.",
        lifespan=lifespan,
    )
    app.state.watcher = watcher
    app.state.logs = logs

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        return JSONResponse(error.payload, status_code=error.status, headers=error.headers)

    @app.get("/health")
    async def health() -> Response:
        served = watcher.current
        stats = logs.predictions.stats()
        problems = [p for p in (stats.last_error, watcher.last_poll_error) if p]
        return json_response(
            {
                "status": "degraded" if problems else "ok",
                "project": project,
                "model": {
                    "artifact_id": served.artifact.artifact_id,
                    "version": served.artifact.version,
                },
                "uptime_s": round(time.time() - started, 1),
                "log": asdict(stats),
                "quarantined": logs.quarantined,
                "alias_check_error": watcher.last_poll_error,
            }
        )

    @app.get("/model")
    async def model() -> Response:
        served = watcher.current
        spec = served.spec
        return json_response(
            {
                "project": project,
                "alias": watcher.alias,
                "model": served.describe(),
                "kind": spec.kind,
                "classes": served.predictor.classes,
                "features": list(spec.inputs),
                "fields": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "input": c.name in spec.inputs,
                        "required": c.name in spec.inputs and c.required,
                        **({"values": list(c.values)} if c.values else {}),
                        **({"min": c.min} if c.min is not None else {}),
                        **({"max": c.max} if c.max is not None else {}),
                    }
                    for c in spec.columns
                ],
                "spans": list(spec.labels.spans.types) if spec.labels.spans else [],
                "switches": watcher.switches,
                "max_batch": MAX_BATCH,
            }
        )

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas.predict.model_json_schema()}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        received = utcnow()
        body = await read_body(request, max_body_bytes)
        served, current = watcher.current, schemas
        try:
            parsed = parse(current.predict, body, current.allowed)
        except BadRequest as bad:
            logs.failed(served, refused_items(body, bad, received, served.spec.id_column), received)
            return bad_request(bad)
        base, items = parsed_items(parsed, served, received)
        try:
            if inline(served, items):
                served, per_item = await batcher.predict(items)
            else:
                per_item = await run_in_threadpool(predict_items, served, items)
        except Exception as error:
            message = f"internal error: {type(error).__name__}: {error}"
            logs.failed(served, [(i.request_id, i.ts, i.item_id, message) for i in items], received)
            raise
        logs.predicted(served, items, received, per_item)
        head = {
            "model": {
                "artifact_id": served.artifact.artifact_id,
                "version": served.artifact.version,
            }
        }
        if parsed.inputs is not None:
            return json_response({**items[0].result, **head})
        return json_response({"request_id": base, **head, "items": [i.result for i in items]})

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        received = utcnow()
        actor = await authenticated(request)
        body = await read_body(request, max_body_bytes)
        current = schemas
        try:
            parsed = parse(current.feedback, body, current.feedback_allowed)
        except BadRequest as bad:
            return bad_request(bad)
        entries = parsed.items if parsed.items is not None else [parsed]
        answers = [
            {
                "ts": naive_utc(entry.time) or received,
                "received_at": received,
                "request_id": entry.request_id,
                "label": entry.label,
                "actor": actor.name,
            }
            for entry in entries
        ]
        ids = [str(a["request_id"]) for a in answers]
        try:  # the audit row first: feedback is logged only once it is recorded
            await run_in_threadpool(record_feedback, ws, actor, project, ids)
        except CoreError as error:
            raise refusal(error) from None
        logs.answered(answers)
        # kept either way (the prediction may come from another replica's unflushed log), but
        # the caller learns at once which request ids no prediction of ours carries
        pending = logs.predictions.pending_values("request_id")
        unknown = sorted(set(ids) - pending)
        if unknown:
            found = await run_in_threadpool(logged_request_ids, ws, project, unknown)
            unknown = [i for i in unknown if i not in found]
        payload: dict[str, Any] = {"accepted": len(answers), "actor": actor.name}
        if unknown:
            payload["unknown_request_ids"] = unknown[:20]
            payload["warning"] = (
                f"{len(unknown)} of {len(ids)} request id(s) match no logged prediction: "
                "monitoring cannot pair that feedback with a prediction (check the ids)"
            )
        return json_response(payload)

    return app
