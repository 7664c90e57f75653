"""The tracking API for training scripts, in the spirit of MLflow's, but buffered.

    with Tracker(ws) as tracker:
        with tracker.start_run("hw-triage", inputs={"label_set": 12}) as run:
            run.log_params({"model": "xgb", "max_depth": 6})
            for step, loss in enumerate(losses):
                run.log_metric("loss", loss, step=step)
            run.log_metrics({"f1": 0.91})

A run is kept in memory and written with others in one short transaction (at most every half
second, and when the tracker closes), so logging a thousand runs opens the workspace a handful of
times and other processes can use it in between. An exception inside ``start_run`` marks the run
failed and keeps everything logged before it.

Where the runs go is the tracker's ``sink``: the workspace (``LocalSink``, when given a
``Workspace``) or a Loopline server (``core.remote.tracking.Tracker``, which sends the same
batches over HTTP). Each buffered run carries a client-side ``uuid`` and each piece of it sent
(``segment``) a number, so that a batch written twice (a retry after a lost response) is
written once.
"""

from __future__ import annotations

import json
import math
import platform
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from core.actor import Actor
from core.errors import InvalidInput
from core.experiments.tracking_store import LocalSink
from core.store import Workspace, utcnow

PACKAGES = (
    "duckdb",
    "pandas",
    "numpy",
    "scikit-learn",
    "xgboost",
    "xgboost-cpu",
    "skops",
    "loopline",
)
INPUT_ROLES = ("dataset", "label_set", "model", "params", "code", "other")


def environment() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def code_state(directory: Path | None = None) -> tuple[str | None, bool | None]:
    """Git commit and dirty flag of the repository the training runs from."""
    where = str(directory or Path.cwd())
    try:
        commit = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        status = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    if commit.returncode != 0:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


@dataclass(frozen=True)
class Origin:
    """Where a tracker's runs come from: its environment and the code's git commit."""

    environment: dict[str, Any]
    commit: str | None
    dirty: bool | None


@dataclass
class _Buffered:
    run_id: int
    project: str
    experiment: str
    name: str
    started_at: Any
    created_by: str
    status: str = "running"
    ended_at: Any = None
    duration_s: float | None = None
    error: str | None = None
    written: bool = False  # the run row exists in the store
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[tuple[str, str], float | None] = field(default_factory=dict)
    history: list[tuple[str, int, float | None, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, int]] = field(default_factory=list)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))  # the run, client-side
    segment: int = 0  # the number of the piece of the run sent next


class Sink(Protocol):
    """Where a tracker writes: the workspace (``LocalSink``) or a server (core.remote.tracking).

    ``keeps_failed`` is True when a failed ``write`` keeps the batch itself (to send it again,
    unchanged, with the next one); otherwise the tracker takes it back into its buffers."""

    keeps_failed: bool
    min_block: int  # the fewest run ids to reserve at a time (more for a far-away store)

    @property
    def actor_name(self) -> str: ...

    def check(self, project: str | None, inputs: Sequence[int]) -> None:
        """Forbidden unless the actor may train in ``project`` (when given); NotFound unless
        every id in ``inputs`` is an artifact."""

    def reserve(self, count: int) -> list[int]:
        """``count`` fresh run ids."""

    def write(
        self, fresh: list[_Buffered], done: list[_Buffered], origin: Origin, reserve: int
    ) -> list[int]:
        """Write a batch (open runs not written yet, finished runs); ``reserve`` fresh ids."""

    def put(self, project: str, content: bytes | Path) -> tuple[str, int]:
        """Store a file of a run in ``project`` (content-addressed): its SHA-256 and size."""

    def pending(self) -> bool:
        """Whether failed batches wait to be sent again (with the next write)."""

    def tidy(self) -> None:
        """After the tracker's last write: keep the store's run tables in search order (a
        server does it as it writes)."""


class Run:
    """A run being logged. Use through ``Tracker.start_run`` as a context manager."""

    def __init__(self, tracker: Tracker, state: _Buffered) -> None:
        self._tracker = tracker
        self._state = state
        self._clock = time.monotonic()

    @property
    def run_id(self) -> int:
        return self._state.run_id

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        with self._tracker._lock:
            for key, value in params.items():
                self._state.params[_key(key)] = _text(value)

    def log_metric(self, key: str, value: float, step: int | None = None, slice: str = "") -> None:
        self.log_metrics({key: value}, step=step, slice=slice)

    def log_metrics(
        self, metrics: Mapping[str, float | None], step: int | None = None, slice: str = ""
    ) -> None:
        now = utcnow()
        with self._tracker._lock:
            for key, value in metrics.items():
                number = None if value is None else float(value)
                if step is None:
                    self._state.metrics[(_key(key), slice)] = number
                else:
                    self._state.history.append((_key(key), int(step), number, now))
                    self._state.metrics[(_key(key), slice)] = number

    def set_tag(self, key: str, value: Any) -> None:
        with self._tracker._lock:
            self._state.tags[_key(key)] = _text(value)

    def log_artifact(self, role: str, content: bytes | Path) -> str:
        """Store a file with the run (content-addressed); returns its hash."""
        digest, size = self._tracker.sink.put(self._state.project, content)
        with self._tracker._lock:
            self._state.files[_key(role)] = (digest, size)
        return digest

    def log_model(self, model: Any) -> dict[str, str]:
        """Store a model's files with the run (anything with ``files() -> {role: bytes}``, such as a
        Loopline ``Model``); ``loopline register RUN`` then makes it a model version."""
        files = model.files()
        if "model.json" not in files:
            raise InvalidInput("A model's files must include model.json (its manifest).")
        return {role: self.log_artifact(role, content) for role, content in files.items()}

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._tracker._lock:
            self._state.status = "failed" if error is not None else "finished"
            self._state.error = None if error is None else f"{type(error).__name__}: {error}"[:2000]
            self._state.ended_at = utcnow()
            self._state.duration_s = round(time.monotonic() - self._clock, 6)
        self._tracker._finished(self._state)


# --- the wire form of a buffered run (a remote tracker sends it; the server reads it back) -------

WIRE_FIELDS = (
    "uuid",
    "segment",
    "run_id",
    "project",
    "experiment",
    "name",
    "status",
    "started_at",
    "ended_at",
    "duration_s",
    "error",
    "params",
    "metrics",
    "history",
    "tags",
    "inputs",
    "files",
)
STATUSES = ("running", "finished", "failed")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def to_wire(state: _Buffered) -> dict[str, Any]:
    """A buffered run (or a piece of one) as JSON-ready values."""
    return {
        "uuid": state.uuid,
        "segment": state.segment,
        "run_id": state.run_id,
        "project": state.project,
        "experiment": state.experiment,
        "name": state.name,
        "status": state.status,
        "started_at": state.started_at.isoformat(),
        "ended_at": None if state.ended_at is None else state.ended_at.isoformat(),
        "duration_s": state.duration_s,
        "error": state.error,
        "params": state.params,
        "metrics": [[key, slice_, _wire_number(v)] for (key, slice_), v in state.metrics.items()],
        "history": [
            [key, step, _wire_number(value), at.isoformat()]
            for key, step, value, at in state.history
        ],
        "tags": state.tags,
        "inputs": [[role, artifact] for role, artifact in state.inputs],
        "files": {role: [digest, size] for role, (digest, size) in state.files.items()},
    }


def from_wire(item: Mapping[str, Any], created_by: str) -> _Buffered:
    """A run sent by ``to_wire``, checked; InvalidInput naming the first thing wrong."""
    if not isinstance(item, Mapping) or set(item) != set(WIRE_FIELDS):
        got = sorted(item) if isinstance(item, Mapping) else type(item).__name__
        raise InvalidInput(
            f"A run must have exactly the fields {', '.join(WIRE_FIELDS)}; got {got}.",
            hint="send runs as core.experiments.tracking.to_wire writes them",
        )
    try:
        state = _Buffered(
            run_id=_integer(item["run_id"]),
            project=str(item["project"]),
            experiment=str(item["experiment"]),
            name=str(item["name"]),
            started_at=_time(item["started_at"]),
            created_by=created_by,
            status=str(item["status"]),
            ended_at=None if item["ended_at"] is None else _time(item["ended_at"]),
            duration_s=None if item["duration_s"] is None else float(item["duration_s"]),
            error=None if item["error"] is None else str(item["error"])[:2000],
            params={_key(k): str(v) for k, v in dict(item["params"]).items()},
            metrics={(_key(k), str(sl)): _number(v) for k, sl, v in item["metrics"]},
            history=[
                (_key(k), _integer(st), _number(v), _time(at)) for k, st, v, at in item["history"]
            ],
            tags={_key(k): str(v) for k, v in dict(item["tags"]).items()},
            inputs=[(str(role), _integer(a)) for role, a in item["inputs"]],
            files={_key(r): (str(d), _integer(n)) for r, (d, n) in dict(item["files"]).items()},
            uuid=str(uuid.UUID(str(item["uuid"]))),
            segment=_integer(item["segment"]),
        )
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            f"Run {str(item.get('uuid'))[:40]!r} is malformed: {error}.",
            hint="send runs as core.experiments.tracking.to_wire writes them",
        ) from None
    _check_wire(state)
    return state


def _check_wire(state: _Buffered) -> None:
    if state.status not in STATUSES:
        raise InvalidInput(
            f"Unknown run status {state.status!r}. Expected one of: {', '.join(STATUSES)}."
        )
    for role, _ in state.inputs:
        if role not in INPUT_ROLES:
            raise InvalidInput(
                f"Unknown input role {role!r}. Expected one of: {', '.join(INPUT_ROLES)}."
            )
    for digest, _ in state.files.values():
        if not _SHA256.fullmatch(digest):
            raise InvalidInput(
                f"Run {state.uuid}: {digest[:80]!r} is not a SHA-256 (64 hex digits)."
            )
    if state.segment < 0 or state.run_id < 1:
        raise InvalidInput(
            f"Run {state.uuid}: segment must be >= 0 and run_id >= 1; got "
            f"{state.segment} and {state.run_id}."
        )


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}"[:120])
    return value


def _wire_number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: they travel as the strings ``float()`` reads back."""
    return value if value is None or math.isfinite(value) else str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}"[:120])
    return float(value)


def _time(value: Any) -> Any:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _key(key: str) -> str:
    text = str(key).strip()
    if not text or len(text) > 250:
        raise InvalidInput(f"Invalid key {key!r}: use 1 to 250 characters.")
    return text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class Tracker:
    """Buffers runs and writes them in few short transactions."""

    def __init__(
        self,
        ws: Workspace | Sink,
        actor: Actor | None = None,
        *,
        flush_interval: float = 0.5,
    ) -> None:
        """``ws``: the workspace to write to (as ``actor``, default ``Actor.from_env()``), or a
        ``Sink`` that knows its own actor (a server acts as the token's user)."""
        if isinstance(ws, Workspace):
            self.sink: Sink = LocalSink(ws, actor or Actor.from_env())
        else:
            self.sink = ws
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        self._open: dict[int, _Buffered] = {}
        self._done: list[_Buffered] = []
        self._ids: list[int] = []
        self._block = 0
        self._known_inputs: set[int] = set()
        self._may_train: set[str] = set()  # projects where the actor's role was checked
        self._origin = Origin(environment(), *code_state())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._writing = threading.Lock()  # one flush at a time; logging never waits for it
        self._flusher: threading.Thread | None = None
        self._last_flush = time.monotonic()
        self.last_error: BaseException | None = None  # the background flush's latest failure

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(
        self,
        project: str,
        *,
        experiment: str | None = None,
        name: str | None = None,
        inputs: Mapping[str, int] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run in ``project``: Forbidden unless the actor may train there (checked once
        per project and tracker, and again when the runs are written)."""
        for role in inputs or {}:
            if role not in INPUT_ROLES:
                raise InvalidInput(
                    f"Unknown input role {role!r}. Expected one of: {', '.join(INPUT_ROLES)}."
                )
        self._check(project, [int(v) for v in (inputs or {}).values()])
        run_id = self._next_id()
        state = _Buffered(
            run_id,
            project,
            experiment or project,
            name or f"run-{run_id}",
            utcnow(),
            self.sink.actor_name,
            inputs=[(r, int(a)) for r, a in (inputs or {}).items()],
            tags={k: _text(v) for k, v in (tags or {}).items()},
        )
        with self._lock:
            self._open[run_id] = state
        self._ensure_flusher()
        return Run(self, state)

    def _check(self, project: str, inputs: list[int]) -> None:
        """The actor's role in ``project`` and the inputs, each checked once per tracker (the
        role again when the runs are written)."""
        unknown = [i for i in inputs if i not in self._known_inputs]
        if project in self._may_train and not unknown:
            return
        self.sink.check(None if project in self._may_train else project, unknown)
        self._may_train.add(project)
        self._known_inputs |= set(unknown)

    def _next_id(self) -> int:
        with self._lock:
            if self._ids:
                return self._ids.pop(0)
        ids = self.sink.reserve(self._grow())  # only when the reserve ran dry
        with self._lock:
            self._ids.extend(ids)
            return self._ids.pop(0)

    def _grow(self) -> int:
        """Run ids come in growing blocks (1, 4, 16, … 200): few gaps, few round trips."""
        self._block = min(200, max(self.sink.min_block, self._block * 4))
        return self._block

    def _running_low(self) -> bool:
        """The flusher tops up the id reserve, so starting runs needs no write of its own."""
        with self._lock:
            return bool(self._block) and len(self._ids) < max(1, self._block // 2)

    def _finished(self, state: _Buffered) -> None:
        with self._lock:
            self._open.pop(state.run_id, None)
            self._done.append(state)
            due = (
                len(self._done) >= 500 or time.monotonic() - self._last_flush > self.flush_interval
            )
        if due:
            self._wake.set()  # the flusher writes; the training loop goes on
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(
                target=self._flush_loop, daemon=True, name="loopline-tracker"
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Write what is buffered every ``flush_interval`` (or when woken) until closed. A busy or
        failing workspace never ends the loop: the batch stays buffered and is tried again."""
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                waiting = bool(self._done) or any(not s.written for s in self._open.values())
            waiting = waiting or self.sink.pending()
            if not waiting:
                continue
            try:
                self.flush()
                self.last_error = None
            except Exception as error:  # kept for close(), which raises if it still fails
                self.last_error = error

    def flush(self) -> int:
        """Write what is buffered in one transaction; returns how many finished runs were written.

        The buffers are taken under the lock and written without it, so logging goes on while
        the workspace is busy; a failed write gives the batch back (or leaves it with a sink
        that ``keeps_failed``, to be sent again first) and raises."""
        with self._writing:
            batch = self._take()
            if batch is None and not self.sink.pending():
                return 0
            fresh, done = batch or ([], [])
            snapshots = [snapshot for snapshot, _ in fresh]
            reserve = self._grow() if self._running_low() else 0
            try:
                reserved = self.sink.write(snapshots, done, self._origin, reserve)
            except BaseException:
                if not self.sink.keeps_failed:
                    self._give_back(fresh, done)
                raise
            with self._lock:
                self._ids.extend(reserved)
                for state in [original for _, original in fresh] + done:
                    state.written = True
                self._last_flush = time.monotonic()
            return len(done)

    def _take(
        self,
    ) -> tuple[list[tuple[_Buffered, _Buffered]], list[_Buffered]] | None:
        """The finished runs, and a snapshot of each open run not yet in the store (its logged
        values move into the snapshot; the run logs on into empty buffers)."""
        with self._lock:
            done, self._done = self._done, []
            fresh = [(_detach(s), s) for s in self._open.values() if not s.written]
            if self.sink.keeps_failed:  # each piece sent is numbered, so the server keeps it once
                for _, state in fresh:
                    state.segment += 1
            if not done and not fresh:
                return None
            return fresh, done

    def _give_back(self, fresh: list[tuple[_Buffered, _Buffered]], done: list[_Buffered]) -> None:
        with self._lock:
            self._done = done + self._done
            for snapshot, original in fresh:
                _merge_back(snapshot, original)

    def close(self) -> None:
        """Stop the flusher and write what is left (raising if the workspace still refuses)."""
        self._stop.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=15)
        self.flush()
        self.sink.tidy()


def _detach(state: _Buffered) -> _Buffered:
    """A copy of ``state`` that takes its logged values; ``state`` keeps empty buffers."""
    snapshot = replace(state)
    state.params, state.metrics, state.history = {}, {}, []
    state.tags, state.inputs, state.files = {}, [], {}
    return snapshot


def _merge_back(snapshot: _Buffered, state: _Buffered) -> None:
    """Undo ``_detach`` after a failed write: what was logged since wins over the snapshot."""
    state.params = {**snapshot.params, **state.params}
    state.metrics = {**snapshot.metrics, **state.metrics}
    state.history = snapshot.history + state.history
    state.tags = {**snapshot.tags, **state.tags}
    state.inputs = snapshot.inputs + state.inputs
    state.files = {**snapshot.files, **state.files}
