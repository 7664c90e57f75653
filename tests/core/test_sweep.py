"""Hyper-parameter sweeps with joblib locally and on a real (local) Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from core.errors import InvalidInput
from core.experiments.search import search_runs
from core.experiments.sweep import expand_grid, sweep
from core.store import Workspace


def test_grid_expansion_and_limits() -> None:
    assert expand_grid({"b": [1, 2], "a": ["x"]}) == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]
    with pytest.raises(InvalidInput, match="The grid is empty"):
        expand_grid({})
    with pytest.raises(InvalidInput, match="at most 200 per sweep"):
        expand_grid({"a": list(range(30)), "b": list(range(30))})


def test_sweep_locally_and_on_a_dask_cluster(demo_copy: Path) -> None:
    import dask
    from dask.distributed import LocalCluster

    ws = Workspace.open(demo_copy)
    local = sweep(ws, "ooo-replies", Actor("ds", "cli"), {"C": [0.5, 4.0]}, n_jobs=2)
    assert len(local) == 2
    # Worker processes are forked: a spawned one would re-run this process's __main__, which is
    # the app's main.py once an AppTest has run in the same pytest process.
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": "fork"}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True
        ) as cluster,
    ):
        remote = sweep(
            ws,
            "ooo-replies",
            Actor("ds", "cli"),
            {"C": [0.5, 4.0]},
            dask_address=cluster.scheduler_address,
        )
    table = search_runs(
        ws, "ooo-replies", f"run_id IN ({', '.join(map(str, local + remote))})", ["run_id ASC"]
    )
    assert table.total == 4 and set(table.frame["status"]) == {"finished"}
    by_c = table.frame.groupby("params.C")["metrics.f1_macro"].nunique()
    assert set(by_c) == {1}  # the same trial gives the same result on joblib and on Dask
    with pytest.raises(InvalidInput, match="Unknown parameter 'depth' for tfidf_lr"):
        sweep(ws, "ooo-replies", Actor("ds", "cli"), {"depth": [1]})
