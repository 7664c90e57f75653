"""Runs: searching and comparing tracked runs, training one, and the writes of a remote tracker
(``core.remote.tracking.Tracker``: a notebook logging to the team server)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.accounts.access import authorize
from core.api.area import Area, OnUse, Progress
from core.errors import InvalidInput
from core.experiments.search import RunTable, search_runs
from core.experiments.tracking import Origin, from_wire
from core.experiments.tracking_store import LocalSink, log_segments

if TYPE_CHECKING:
    import core.experiments.service as experiments_service
    import core.registry.compare as registry_compare
else:  # training, sweeps and comparisons pull in datasets, label sets and models: on use
    experiments_service = OnUse("core.experiments.service")
    registry_compare = OnUse("core.registry.compare")


class Runs(Area):
    def search(
        self,
        project: str | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 10_000,
    ) -> RunTable:
        """Runs matching ``filter`` (``metrics.f1_macro > 0.8 and params.trainer = 'x'``); its
        ``frame`` is a DataFrame (JSON records over a remote transport)."""
        return search_runs(self._ws, project, filter, order_by, limit)

    def get(self, run_id: int) -> experiments_service.RunDetail:
        from core.experiments.service import get_run

        return get_run(self._ws, run_id)

    def compare(
        self, run_ids: Sequence[int], slice_metric: str = "accuracy"
    ) -> registry_compare.Comparison:
        """Metrics, slices, confusion matrices, params and history of the runs, against the
        production model (its tables are DataFrames)."""
        from core.registry.compare import compare_runs

        return compare_runs(self._ws, run_ids, slice_metric)

    def train(
        self,
        project: str,
        *,
        label_set: int | str | None = None,
        trainer: str | None = None,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> experiments_service.RunDetail:
        """Train on a label set (the latest by default), evaluate on the test set, track it;
        the run as recorded (the in-memory model stays in the process that trained it)."""
        from core.experiments.service import get_run, train

        result = train(
            self._ws,
            project,
            self._actor,
            label_set=label_set,
            trainer=trainer,
            params=params,
            seed=seed,
            name=name,
            tags=tags,
            progress=progress,
        )
        return get_run(self._ws, result.run_id)

    def sweep(
        self,
        project: str,
        grid: Mapping[str, Sequence[Any]],
        *,
        trainer: str | None = None,
        label_set: int | str | None = None,
        seed: int = 0,
        n_jobs: int = 2,
        dask_address: str | None = None,
        progress: Progress | None = None,
    ) -> list[int]:
        """One tracked run per combination of the grid's values (on ``n_jobs`` local workers, or
        on the Dask scheduler at ``dask_address``); the runs' ids."""
        from core.experiments.sweep import sweep

        return sweep(
            self._ws,
            project,
            self._actor,
            grid,
            trainer=trainer,
            label_set=label_set,
            seed=seed,
            n_jobs=n_jobs,
            dask_address=dask_address,
            progress=progress,
        )

    # what a remote tracker calls (a tracker on the workspace writes directly)
    def check_logging(self, project: str | None = None, inputs: Sequence[int] = ()) -> None:
        """Forbidden unless the client's user may train in ``project`` (when given); NotFound
        unless every id in ``inputs`` is an artifact."""
        LocalSink(self._ws, self._actor).check(project, [int(i) for i in inputs])

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` (1 to 1,000) fresh run ids for runs a tracker is about to log."""
        return LocalSink(self._ws, self._actor).reserve(_reserve_count(count, least=1))

    def put_file(self, project: str, content: bytes | Path) -> str:
        """Store a run's file (content-addressed) for a run in ``project``; its SHA-256 (a run
        then names it in ``log_batch``)."""
        authorize(self._ws, self._actor, "train", project)
        digest, _ = LocalSink(self._ws, self._actor).put(project, content)
        return digest

    def log_batch(
        self,
        runs: Sequence[Mapping[str, Any]],
        *,
        environment: Mapping[str, Any] | None = None,
        code_commit: str | None = None,
        code_dirty: bool | None = None,
        reserve: int = 0,
    ) -> dict[str, list[int]]:
        """Write the runs a tracker buffered (pieces of runs in the form of
        ``core.experiments.tracking.to_wire``) as the client's user, in one transaction; a piece
        already written (same run uuid and segment: a retried batch) is not written again.
        ``{"run_ids": the runs' ids in order, "reserved": reserve fresh run ids}``."""
        pieces = [from_wire(item, self._actor.name) for item in runs]
        if environment is not None and not isinstance(environment, Mapping):
            raise InvalidInput(
                f"environment must be a JSON object; got {type(environment).__name__}."
            )
        origin = Origin(dict(environment or {}), code_commit, code_dirty)
        ids, reserved = log_segments(
            self._ws, self._actor, pieces, origin, _reserve_count(reserve, least=0)
        )
        return {"run_ids": ids, "reserved": reserved}


def _reserve_count(count: int, *, least: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not least <= count <= 1000:
        raise InvalidInput(f"Reserve {least} to 1000 run ids at a time; got {count!r}.")
    return count
