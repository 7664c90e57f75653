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
"""

from __future__ import annotations

import json
import platform
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from core.accounts.access import authorize
from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.experiments.tracking_store import write_runs
from core.store import Tx, Workspace, utcnow

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
    metrics: dict[tuple[str, str], float] = field(default_factory=dict)
    history: list[tuple[str, int, float, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, int]] = field(default_factory=list)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)


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
                    self._state.metrics[(_key(key), slice)] = number  # type: ignore[assignment]
                else:
                    self._state.history.append((_key(key), int(step), number, now))  # type: ignore[arg-type]
                    self._state.metrics[(_key(key), slice)] = number  # type: ignore[assignment]

    def set_tag(self, key: str, value: Any) -> None:
        with self._tracker._lock:
            self._state.tags[_key(key)] = _text(value)

    def log_artifact(self, role: str, content: bytes | Path) -> str:
        """Store a file with the run (content-addressed); returns its hash."""
        blobs = self._tracker.ws.blobs
        if isinstance(content, Path):
            digest, size = blobs.put_file(content), content.stat().st_size
        else:
            digest, size = blobs.put_bytes(content), len(content)
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
        self, ws: Workspace, actor: Actor | None = None, *, flush_interval: float = 0.5
    ) -> None:
        self.ws = ws
        self.actor = actor or Actor.from_env()
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        self._open: dict[int, _Buffered] = {}
        self._done: list[_Buffered] = []
        self._ids: list[int] = []
        self._block = 0
        self._known_inputs: set[int] = set()
        self._may_train: set[str] = set()  # projects where the actor's role was checked
        self._environment = environment()
        self._commit, self._dirty = code_state()
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
        if project not in self._may_train:
            authorize(self.ws, self.actor, "train", project)
            self._may_train.add(project)
        for role in inputs or {}:
            if role not in INPUT_ROLES:
                raise InvalidInput(
                    f"Unknown input role {role!r}. Expected one of: {', '.join(INPUT_ROLES)}."
                )
        self._check_inputs([int(v) for v in (inputs or {}).values()])
        run_id = self._next_id()
        state = _Buffered(
            run_id,
            project,
            experiment or project,
            name or f"run-{run_id}",
            utcnow(),
            self.actor.name,
            inputs=[(r, int(a)) for r, a in (inputs or {}).items()],
            tags={k: _text(v) for k, v in (tags or {}).items()},
        )
        with self._lock:
            self._open[run_id] = state
        self._ensure_flusher()
        return Run(self, state)

    def _check_inputs(self, ids: list[int]) -> None:
        unknown = [i for i in ids if i not in self._known_inputs]
        if not unknown:
            return
        with self.ws.store.read() as tx:
            found = {
                r[0]
                for r in tx.rows(
                    "SELECT artifact_id FROM artifacts WHERE artifact_id IN "
                    "(SELECT unnest(?::BIGINT[]))",
                    [unknown],
                )
            }
        missing = [i for i in unknown if i not in found]
        if missing:
            raise NotFound(f"Run inputs {missing} are not artifacts of this workspace.")
        self._known_inputs |= found

    def _next_id(self) -> int:
        with self._lock:
            if self._ids:
                return self._ids.pop(0)
        with self.ws.store.transaction() as tx:  # only when the reserve ran dry
            ids = self._reserve(tx)
        with self._lock:
            self._ids.extend(ids)
            return self._ids.pop(0)

    def _reserve(self, tx: Tx) -> list[int]:
        """Run ids in growing blocks (1, 4, 16, … 200): few gaps, few round trips."""
        self._block = min(200, max(1, self._block * 4))
        return [r[0] for r in tx.rows("SELECT nextval('run_ids') FROM range(?)", [self._block])]

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
        the workspace is busy; a failed write gives the batch back and raises."""
        with self._writing:
            batch = self._take()
            if batch is None:
                return 0
            fresh, done = batch
            snapshots = [snapshot for snapshot, _ in fresh]
            try:
                with self.ws.store.transaction() as tx:
                    write_runs(
                        tx,
                        self.actor,
                        snapshots,
                        done,
                        self._environment,
                        self._commit,
                        self._dirty,
                    )
                    reserved = self._reserve(tx) if self._running_low() else []
            except BaseException:
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
