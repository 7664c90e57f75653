"""`loopline build` on a CI runner: train here, let the server gate and record.

With ``LOOPLINE_URL`` and ``LOOPLINE_TOKEN`` set, ``loopline build PROJECT`` runs this instead of
a local build:

1. ``builds.start_remote`` opens the build on the server (its row says ``running`` under a lease)
   and answers with a plan: the project file and the files to download by SHA-256;
2. a thread renews the lease every third of its length while the runner works;
3. the files are downloaded (hash-checked), and ``Builds.train_plan`` trains and evaluates here,
   on this machine's CPUs or on a Dask cluster (``dask_address``), with no workspace and without
   DuckDB;
4. ``builds.finish_remote`` uploads the model's files as one zip with the evaluations; the server
   checks them, runs the gate and records everything in one transaction, and answers the build.

Whatever stops the runner before the end closes the build as aborted (``builds.abort_remote``),
a cancelled CI job too (SIGINT or SIGTERM); a runner that is killed cannot, and the server closes
the build once its lease lapses.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from core.api import CoreError, InvalidInput
from core.api.builds import Builds, RemoteBuildPlan
from core.api.types import Build
from core.remote.client import RemoteClient

Progress = Callable[[str, float], None]


class Terminated(KeyboardInterrupt):
    """The runner got SIGTERM (a CI job cancelled): the build is aborted, then the process ends."""


class _Cancel:
    """SIGTERM while a build runs: ``Terminated`` in the main thread once the build is known
    (``arm``), so that it can be aborted; one that came earlier waits for ``arm``."""

    def __init__(self) -> None:
        self.armed = False
        self.pending = False

    def handle(self, number: int, frame: object) -> None:
        if self.armed:
            raise Terminated("SIGTERM")
        self.pending = True

    def arm(self) -> None:
        self.armed = True
        if self.pending:
            raise Terminated("SIGTERM")


@contextlib.contextmanager
def _sigterm_aborts() -> Iterator[_Cancel]:
    """While a build runs in the main thread, SIGTERM is handled by the yielded ``_Cancel``."""
    cancel = _Cancel()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = signal.signal(signal.SIGTERM, cancel.handle)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGTERM, previous)


class LeaseKeeper:
    """Renews a remote build's lease in a thread until stopped; remembers a refused renewal."""

    def __init__(self, api: RemoteClient, plan: RemoteBuildPlan) -> None:
        self._api = api
        self._plan = plan
        self._stop = threading.Event()
        self.refused: CoreError | None = None  # the server said the build is no longer running
        self._thread = threading.Thread(target=self._loop, daemon=True, name="loopline-lease")

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        interval = max(0.3, self._plan.lease_s / 3)
        while not self._stop.wait(interval):
            try:
                self._api.builds.renew_remote(self._plan.build_id)
            except CoreError as error:
                if error.message.startswith("Cannot reach"):
                    continue  # the server is away for a moment: the lease may still hold
                self.refused = error
                return


def run_remote_build(
    api: RemoteClient,
    project: str,
    *,
    label_set: int | str | None = None,
    trainer: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    gate: Path | None = None,
    promote: bool = False,
    trigger: str | None = None,
    dask_address: str | None = None,
    lease_s: float = 120.0,
    progress: Progress | None = None,
) -> Build:
    """A build trained here and recorded by the server at ``api``; the build as recorded."""
    report = progress or (lambda stage, fraction: None)
    report("asking the server for a build", 0.01)
    with _sigterm_aborts() as cancel:
        plan = api.builds.start_remote(
            project,
            label_set=label_set,
            trainer=trainer,
            params=dict(params or {}),
            seed=seed,
            gate=_gate_text(gate),
            gate_name=gate.name if gate else "gate file",
            promote=promote,
            trigger=trigger,
            lease_s=lease_s,
        )
        if plan.status != "running":  # it ended at once (a bad gate file, no label set…)
            return api.builds.get(plan.build_id)
        with LeaseKeeper(api, plan) as lease, tempfile.TemporaryDirectory() as folder:
            try:
                cancel.arm()
                return _train_and_finish(api, plan, Path(folder), lease, dask_address, report)
            except BaseException as error:
                build = _abort(api, plan, error)
                if build is None or not isinstance(error, Exception):
                    raise
                return build


def _gate_text(gate: Path | None) -> str | None:
    if gate is None:
        return None
    if not gate.is_file():
        raise InvalidInput(f"No gate file at {gate}.")
    return gate.read_text(encoding="utf-8")


def _train_and_finish(
    api: RemoteClient,
    plan: RemoteBuildPlan,
    folder: Path,
    lease: LeaseKeeper,
    dask_address: str | None,
    report: Progress,
) -> Build:
    wanted = Builds.files_needed(plan)
    paths = {}
    for index, sha in enumerate(wanted):
        report(f"downloading {index + 1} of {len(wanted)} files", 0.02 + 0.08 * index / len(wanted))
        paths[sha] = api.download(sha, folder / sha)
    result = Builds.train_plan(
        plan,
        paths,
        dask_address=dask_address,
        progress=lambda stage, f: report(stage, 0.1 + 0.75 * f),
    )
    if lease.refused is not None:
        raise lease.refused
    bundle = folder / "model.zip"
    bundle.write_bytes(result.bundle)
    report("sending the model and its evaluation", 0.9)
    build: Build = api.builds.finish_remote(
        plan.build_id,
        model=bundle,
        files=result.files,
        evaluation=result.evaluation,
        baseline=result.baseline,
        params=result.params,
        training_time_s=result.training_time_s,
        started_at=result.started_at,
        duration_s=result.duration_s,
        environment=result.environment,
        code_commit=result.code_commit,
        code_dirty=result.code_dirty,
        log=result.log,
    )
    report("done", 1.0)
    return build


def _abort(api: RemoteClient, plan: RemoteBuildPlan, error: BaseException) -> Build | None:
    """Close the build as aborted by ``error`` (None: the server could not be told; the lease
    lapses and the server closes it)."""
    if isinstance(error, CoreError):
        reason, hint = error.message, error.hint
    elif isinstance(error, Exception):
        reason, hint = f"{type(error).__name__} on the runner: {error}", None
    elif isinstance(error, Terminated):
        reason, hint = "the runner was stopped (SIGTERM: a cancelled job?)", None
    else:
        reason, hint = f"the runner was interrupted ({type(error).__name__})", None
    try:
        build: Build = api.builds.abort_remote(plan.build_id, reason, hint)
    except CoreError:
        try:
            return api.builds.get(plan.build_id)  # closed already (the lease lapsed)
        except CoreError:
            return None
    return build
