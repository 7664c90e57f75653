"""What the prediction service does, apart from HTTP: the served model, predicting, logging.

The service serves the model under the ``production`` alias. A watcher thread reads the alias
every ``poll_seconds`` in a short read unit (the workspace file is never kept open between polls:
while one process holds it, no other process can open it) and swaps in a newly promoted model
without a restart; requests pick up the served model once, so a request never mixes two models.

With a :class:`Placement` the watcher follows the ``acceptance`` alias too: that model is the
candidate beside production, scored on every request and never answered (shadow), or answering
a sticky share of the keys (canary). When the alias goes (or points at the production model
again, as a rolled-back canary's does), the candidate is dropped at the next poll. Without one,
it can follow the project's candidate mode (``follow``: read at every poll, see
:mod:`core.serving.placements`), so one command starts or stops a candidate on every service.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.errors import CoreError, InvalidInput, NotFound, expected_one_of
from core.ml.form import FormModel, FormPredictor
from core.ml.model import Model
from core.ml.row import RowPredictor
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import load_model
from core.serving.log import (
    FEEDBACK,
    FEEDBACK_SCHEMA,
    PREDICTIONS,
    SHADOW,
    SegmentWriter,
    class_column,
    input_column,
    log_folder,
    logged_fields,
    prediction_schema,
)
from core.serving.requests import naive_utc
from core.store import Workspace, utcnow

ALIAS = "production"
CANDIDATE_ALIAS = "acceptance"  # the model a shadow or canary runs beside production
MODES = ("shadow", "canary")
AUDITED_IDS = 20  # a feedback audit row lists this many request ids
POLL_SECONDS = 2.0
INLINE_ITEMS = 8  # batches up to this size are predicted on the event loop, larger ones in a thread
# text models read their text fields (TF-IDF, span detectors and the span models' features) at a
# few milliseconds per 1,000 characters, more for a long line full of span candidates: a request
# with more text than this is predicted in a thread, so a long one does not hold up /health and
# the short requests behind it
INLINE_TEXT = 1_000
log = logging.getLogger("loopline.serving")


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version, ready to predict."""

    artifact: Artifact
    model: Model | FormModel  # a serving host's model loaded from its serving form: FormModel
    predictor: RowPredictor | FormPredictor
    spec: ProjectSpec
    loaded_at: datetime
    promoted_at: datetime | None

    @property
    def model_id(self) -> str:
        return str(self.artifact.artifact_id)

    def describe(self) -> dict[str, Any]:
        return {
            "artifact_id": self.artifact.artifact_id,
            "name": self.artifact.name,
            "version": self.artifact.version,
            "ref": self.artifact.ref,
            "trainer": self.model.manifest.get("trainer"),
            "registered_at": self.artifact.created_at.isoformat(),
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "loaded_at": self.loaded_at.isoformat(),
        }


def _alias_row(ws: Workspace, project: str, alias: str) -> tuple[int, datetime] | None:
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT artifact_id, updated_at FROM aliases WHERE project = ? AND alias = ?",
            [project, alias],
        )
    return None if row is None else (int(row[0]), row[1])


def load_served(ws: Workspace, project: str, artifact_id: int, promoted_at: Any) -> ServedModel:
    """Read the model's record and spec in one unit of work, then its files (no store needed)."""
    with ws.store.read():
        artifact = get_artifact(ws, artifact_id)
        spec = get_project(ws, project).spec
    model = load_model(ws, artifact)
    predictor = model.row_predictor(spec).for_serving()
    return ServedModel(artifact, model, predictor, spec, utcnow(), promoted_at)


Found = tuple[int, Any]  # the aliased model's artifact id, and when the alias last moved


class ModelSource(Protocol):
    """Where the served model comes from: the workspace here, or a Loopline server
    (``core.remote.serving``). ``find`` reads the alias (None: no model under it), ``load``
    loads the model it names; both raise CoreError when they cannot (the watcher keeps serving)."""

    def find(self, project: str, alias: str) -> Found | None: ...

    def load(self, project: str, found: Found) -> ServedModel: ...

    def missing(self, project: str, alias: str) -> CoreError: ...


class WorkspaceSource:
    """The model under the alias in the workspace (a short read unit per poll)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def find(self, project: str, alias: str) -> Found | None:
        return _alias_row(self.ws, project, alias)

    def load(self, project: str, found: Found) -> ServedModel:
        return load_served(self.ws, project, *found)

    def missing(self, project: str, alias: str) -> CoreError:
        get_project(self.ws, project)  # an unknown project says so
        return no_model(project, alias)


def no_model(project: str, alias: str) -> NotFound:
    return NotFound(
        f"Project {project!r} has no {alias} model to serve.",
        hint=f"promote one: `loopline promote {project} MODEL --reason …` "
        "(or `loopline build PROJECT --promote`)",
    )


@dataclass(frozen=True)
class Placement:
    """How the candidate (the ``acceptance`` model) runs beside production: ``shadow`` (scored on
    every request, logged, never answered) or ``canary`` (answers ``share`` percent of the keys,
    the same keys every time; production is scored beside it in the shadow log)."""

    mode: str
    share: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInput(expected_one_of("candidate mode", self.mode, MODES))
        if self.mode == "canary" and not 0 < self.share <= 100:
            raise InvalidInput(
                f"A canary answers a share of the requests between 0 and 100 percent, got "
                f"{self.share:g}.",
                hint="e.g. --canary 10 answers one key in ten with the acceptance model",
            )

    def answers(self, key: str) -> bool:
        """Whether the canary answers ``key`` (sticky: the same key always goes the same way)."""
        if self.mode != "canary":
            return False
        return zlib.crc32(key.encode("utf-8")) % 10_000 < round(self.share * 100)

    def describe(self) -> str:
        return "shadow" if self.mode == "shadow" else f"canary {self.share:g}%"


class ModelWatcher:
    """Holds the served model (and the candidate, with a placement) and follows the aliases from
    a background thread."""

    def __init__(
        self,
        source: Workspace | ModelSource,
        project: str,
        *,
        alias: str = ALIAS,
        poll_seconds: float = POLL_SECONDS,
        on_switch: Callable[[ServedModel, ServedModel], None] | None = None,
        placement: Placement | None = None,
        follow: Callable[[], Placement | None] | None = None,
    ) -> None:
        """``placement``: how the candidate runs, fixed; else ``follow`` (when given) says it
        at every poll (the project's candidate mode: None runs no candidate)."""
        self.source: ModelSource = (
            WorkspaceSource(source) if isinstance(source, Workspace) else source
        )
        self.project = project
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.on_switch = on_switch
        self.switches = 0
        self.last_poll_error: str | None = None
        found = self.source.find(project, alias)
        if found is None:
            raise self.source.missing(project, alias)
        self.current = self.source.load(project, found)
        self.placement = placement
        self.follow = follow if placement is None else None
        self.candidate: ServedModel | None = None
        if self.follow is not None:
            try:  # a candidate that cannot be read or loaded never keeps production from serving
                self._follow()
                if self.placement is not None:
                    self.check_candidate(quiet=True)
            except CoreError as error:
                self.last_poll_error = error.message
                log.warning("%s: the candidate beside production: %s", project, error)
        elif placement is not None:
            self.check_candidate(quiet=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_candidate(self, *, quiet: bool = False) -> bool:
        """Read the candidate's alias once; load, swap or drop the candidate if it moved."""
        found = self.source.find(self.project, CANDIDATE_ALIAS)
        if found is not None and found[0] == self.current.artifact.artifact_id:
            found = None  # the production model itself (a rolled-back canary): no candidate
        had = self.candidate.artifact.artifact_id if self.candidate is not None else None
        if (found[0] if found else None) == had:
            return False
        self.candidate = self.source.load(self.project, found) if found is not None else None
        if quiet:
            return True
        log.warning(
            "%s: candidate now %s (was %s)",
            self.project,
            self.candidate.artifact.ref if self.candidate else "none",
            had,
        )
        return True

    def check(self) -> bool:
        """Read the alias once; load and swap in the model it names if it moved (then the
        candidate's alias, with a placement). Whether production moved."""
        moved = self._check_production()
        if self.follow is not None:
            self._follow()
        if self.placement is not None:
            self.check_candidate()
        return moved

    def _follow(self) -> None:
        """Read the project's candidate mode; without one, drop the candidate."""
        assert self.follow is not None
        placement = self.follow()
        if placement != self.placement:
            log.warning(
                "%s: candidate mode now %s (was %s)",
                self.project,
                placement.describe() if placement else "off",
                self.placement.describe() if self.placement else "off",
            )
            self.placement = placement
        if placement is None:
            self.candidate = None

    def _check_production(self) -> bool:
        found = self.source.find(self.project, self.alias)
        if found is None or found[0] == self.current.artifact.artifact_id:
            return False
        previous = self.current
        self.current = self.source.load(self.project, found)
        self.switches += 1
        log.warning(
            "%s: now serving %s (was %s)",
            self.project,
            self.current.artifact.ref,
            previous.artifact.ref,
        )
        if self.on_switch is not None:
            self.on_switch(previous, self.current)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alias-watcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check()
                self.last_poll_error = None
            except CoreError as error:  # busy workspace, a damaged file: keep serving, try again
                self.last_poll_error = error.message
                log.warning("%s: checking the %s alias failed: %s", self.project, self.alias, error)
            except Exception as error:  # a bug: keep serving the loaded model, say so in /health
                self.last_poll_error = f"{type(error).__name__}: {error}"
                log.exception("%s: checking the alias failed", self.project)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@dataclass
class Item:
    """One item of a request, validated: its inputs as plain values."""

    request_id: str
    inputs: dict[str, Any]
    ts: datetime
    item_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def twin(self) -> Item:
        """The same item without a result: what the model that does not answer scores."""
        return Item(self.request_id, self.inputs, self.ts, self.item_id)


def request_ids(given: str | None, count: int, single: bool) -> tuple[str, list[str]]:
    """The request's id (the client's or a new one) and one per item (``<id>:<index>``)."""
    base = given or uuid.uuid4().hex
    return base, [base] if single else [f"{base}:{index}" for index in range(count)]


def inline(served: ServedModel, items: Sequence[Item]) -> bool:
    """Whether ``items`` are cheap enough to predict on the event loop."""
    if len(items) > INLINE_ITEMS:
        return False
    if not served.predictor.text:
        return True
    fields = served.spec.text_fields
    text = 0
    for item in items:
        for name in fields:
            value = item.inputs.get(name)
            text += len(value) if isinstance(value, str) else 0
    return text <= INLINE_TEXT


def predict_items(served: ServedModel, items: Sequence[Item]) -> float:
    """Fill each item's ``result``; returns the model time per item in milliseconds."""
    started = time.perf_counter()
    rows = [item.inputs for item in items]
    probabilities = served.predictor.predict_proba(rows)
    spans = served.predictor.extract(rows) if served.predictor.text else None
    per_item = (time.perf_counter() - started) * 1000 / max(1, len(items))
    classes = served.predictor.classes
    for index, item in enumerate(items):
        row = probabilities[index]
        best = int(row.argmax())
        item.result = {
            "request_id": item.request_id,
            "prediction": classes[best],
            "confidence": float(row[best]),
            "probabilities": {name: float(p) for name, p in zip(classes, row, strict=True)},
        }
        if item.item_id is not None:
            item.result["item_id"] = item.item_id
        if spans is not None and served.spec.labels.spans is not None:
            item.result["spans"] = [
                {**s.as_dict(), "score": round(s.score, 4)} for s in spans[index]
            ]
    return per_item


def record_feedback(ws: Workspace, actor: Actor, project: str, request_ids: Sequence[str]) -> None:
    """The audit row of one feedback request, in its own short transaction (feedback is rare next
    to predictions; the workspace is not held open in between). ``record`` checks the role again,
    so a token revoked since the service cached it is refused here."""
    count = len(request_ids)
    first, last = request_ids[0], request_ids[-1]
    with ws.store.transaction() as tx:
        record(
            tx,
            actor,
            "feedback",
            project=project,
            target=f"request {first}" if count == 1 else f"{count} answers ({first} … {last})",
            details={"answers": count, "request_ids": list(request_ids[:AUDITED_IDS])},
        )


class PredictionLog:
    """The service's logs (predictions, feedback, and the shadow scores of the model that did not
    answer), as records for the segment writers."""

    def __init__(self, root: Workspace | Path, spec: ProjectSpec, *, flush_seconds: float) -> None:
        """``root``: the workspace, or the folder a serving host spools its segments in."""
        self.spec = spec
        self.fields = logged_fields(spec)
        self.predictions = SegmentWriter(
            log_folder(root, spec.name, PREDICTIONS),
            prediction_schema(spec),
            flush_seconds=flush_seconds,
        )
        self.feedback = SegmentWriter(
            log_folder(root, spec.name, FEEDBACK), FEEDBACK_SCHEMA, flush_seconds=flush_seconds
        )
        self.shadow = SegmentWriter(
            log_folder(root, spec.name, SHADOW),
            prediction_schema(spec),
            flush_seconds=flush_seconds,
        )

    @property
    def writers(self) -> tuple[SegmentWriter, ...]:
        return (self.predictions, self.feedback, self.shadow)

    def start(self) -> None:
        for writer in self.writers:
            writer.start()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    @property
    def quarantined(self) -> int:
        """Records this process set aside because the log could not hold them."""
        return sum(writer.stats().quarantined for writer in self.writers)

    def follow(self, spec: ProjectSpec) -> None:
        """A new model came with a changed project definition: new columns from now on."""
        if prediction_schema(spec) != self.predictions.schema:
            self.predictions.flush()
            self.shadow.flush()
            self.spec, self.fields = spec, logged_fields(spec)
            self.predictions.schema = prediction_schema(spec)
            self.shadow.schema = prediction_schema(spec)

    def predicted(
        self,
        served: ServedModel,
        items: Sequence[Item],
        received: datetime,
        latency_ms: float,
        route: str = "production",
    ) -> None:
        """Answers (``route``: ``production`` or ``canary``), or with ``route`` ``shadow`` the
        scores of the model that did not answer, in the shadow log."""
        records = []
        shadow = route == "shadow"  # its inputs are the answer's (same request id): not again
        for item in items:
            result = item.result
            record = self._base(served, item, received, inputs=not shadow)
            record.update(
                prediction=result["prediction"],
                confidence=result["confidence"],
                latency_ms=latency_ms,
                route=route,
                spans=json.dumps(result["spans"], ensure_ascii=False)
                if "spans" in result
                else None,
            )
            for name, p in result["probabilities"].items():
                record[class_column(name)] = p
            records.append(record)
        (self.shadow if route == "shadow" else self.predictions).append(records)

    def failed(
        self,
        served: ServedModel,
        items: Sequence[tuple[str, datetime, str | None, str]],
        received: datetime,
    ) -> None:
        """Items refused after the envelope was read: (request id, event time, item id, error)."""
        self.predictions.append(
            {
                "ts": ts,
                "received_at": received,
                "request_id": request_id,
                "item_id": item_id,
                "model_id": served.model_id,
                "model_version": served.artifact.version,
                "error": error,
                "route": "production",
            }
            for request_id, ts, item_id, error in items
        )

    def _base(
        self, served: ServedModel, item: Item, received: datetime, *, inputs: bool = True
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "ts": item.ts,
            "received_at": received,
            "request_id": item.request_id,
            "item_id": item.item_id,
            "model_id": served.model_id,
            "model_version": served.artifact.version,
        }
        if not inputs:
            return record
        for name in self.fields:
            value = item.inputs.get(name)
            record[input_column(name)] = naive_utc(value) if isinstance(value, datetime) else value
        return record

    def answered(self, answers: Sequence[Mapping[str, Any]]) -> None:
        self.feedback.append(answers)
