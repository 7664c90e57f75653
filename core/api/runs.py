"""Runs: searching and comparing tracked runs, training one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.api.area import Area, Progress
from core.experiments.search import RunTable, search_runs
from core.experiments.service import RunDetail, get_run, train
from core.experiments.sweep import sweep
from core.registry.compare import Comparison, compare_runs


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

    def get(self, run_id: int) -> RunDetail:
        return get_run(self._ws, run_id)

    def compare(self, run_ids: Sequence[int], slice_metric: str = "accuracy") -> Comparison:
        """Metrics, slices, confusion matrices, params and history of the runs, against the
        production model (its tables are DataFrames)."""
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
    ) -> RunDetail:
        """Train on a label set (the latest by default), evaluate on the test set, track it;
        the run as recorded (the in-memory model stays in the process that trained it)."""
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
