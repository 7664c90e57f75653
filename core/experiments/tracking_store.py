"""Writing buffered runs: one transaction, a few bulk statements (columns bound as lists), and
one audit row (``run.log``) per project of the batch, which is also where the role is checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.accounts.audit import record
from core.actor import Actor
from core.store import Tx

SHOWN_IDS = 20  # an audit row's target names this many runs; details list them all
if TYPE_CHECKING:  # tracking imports this module to write its buffer; only the type is needed
    from core.experiments.tracking import _Buffered


def write_runs(
    tx: Tx,
    actor: Actor,
    fresh: list[_Buffered],
    done: list[_Buffered],
    env: dict[str, Any],
    commit: str | None,
    dirty: bool | None,
) -> None:
    _audit(tx, actor, fresh, done)
    everything = fresh + done
    _insert_runs(tx, [s for s in everything if not s.written], env, commit, dirty)
    _finish_written(tx, [s for s in done if s.written])
    _drop_relogged(tx, [s for s in everything if s.written])
    _insert_values(tx, everything)


def _insert_runs(
    tx: Tx, new: list[_Buffered], env: dict[str, Any], commit: str | None, dirty: bool | None
) -> None:
    """The runs not written yet, with the batch's environment and code version."""
    if not new:
        return
    rows = [
        (
            s.run_id,
            s.project,
            s.experiment,
            s.name,
            s.status,
            s.started_at,
            s.ended_at,
            s.duration_s,
            s.error,
            s.created_by,
        )
        for s in new
    ]
    tx.execute(
        """
        INSERT INTO runs (run_id, project, experiment, name, status, started_at, ended_at,
                          duration_s, code_commit, code_dirty, environment, error, created_by)
        SELECT i, p, e, n, st, sa, ea, d, ?, ?, ?::JSON, err, cb
        FROM (SELECT unnest(?::BIGINT[]) i, unnest(?::VARCHAR[]) p, unnest(?::VARCHAR[]) e,
                     unnest(?::VARCHAR[]) n, unnest(?::VARCHAR[]) st, unnest(?::TIMESTAMP[]) sa,
                     unnest(?::TIMESTAMP[]) ea, unnest(?::DOUBLE[]) d, unnest(?::VARCHAR[]) err,
                     unnest(?::VARCHAR[]) cb)
        """,
        [commit, dirty, json.dumps(env), *[list(c) for c in zip(*rows, strict=True)]],
    )


def _finish_written(tx: Tx, finished: list[_Buffered]) -> None:
    """Runs written when they started, now ended."""
    for s in finished:
        tx.execute(
            "UPDATE runs SET status = ?, ended_at = ?, duration_s = ?, error = ? WHERE run_id = ?",
            [s.status, s.ended_at, s.duration_s, s.error, s.run_id],
        )


def _drop_relogged(tx: Tx, written: list[_Buffered]) -> None:
    """A key logged again after the run was first written replaces the old value."""
    for s in written:
        if s.params:
            tx.execute(
                "DELETE FROM run_params WHERE run_id = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
                [s.run_id, list(s.params)],
            )
        if s.metrics:
            tx.execute(
                "DELETE FROM run_metrics WHERE run_id = ? AND key || chr(31) || slice IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [s.run_id, [f"{k}\x1f{sl}" for k, sl in s.metrics]],
            )


def _insert_values(tx: Tx, runs: list[_Buffered]) -> None:
    """The runs' params, metrics, metric history, tags, inputs and files."""
    _bulk(
        tx,
        "run_params",
        [(s.run_id, k, v) for s in runs for k, v in s.params.items()],
        {"run_id": "BIGINT", "key": "VARCHAR", "value": "VARCHAR"},
    )
    _bulk(
        tx,
        "run_metrics",
        [(s.run_id, k, sl, v) for s in runs for (k, sl), v in s.metrics.items()],
        {"run_id": "BIGINT", "key": "VARCHAR", "slice": "VARCHAR", "value": "DOUBLE"},
    )
    _bulk(
        tx,
        "metric_history",
        [(s.run_id, *h) for s in runs for h in s.history],
        {
            "run_id": "BIGINT",
            "key": "VARCHAR",
            "step": "INTEGER",
            "value": "DOUBLE",
            "logged_at": "TIMESTAMP",
        },
    )
    _bulk(
        tx,
        "run_tags",
        [(s.run_id, k, v) for s in runs for k, v in s.tags.items()],
        {"run_id": "BIGINT", "key": "VARCHAR", "value": "VARCHAR"},
    )
    _bulk(
        tx,
        "run_inputs",
        [(s.run_id, r, a) for s in runs for r, a in s.inputs],
        {"run_id": "BIGINT", "role": "VARCHAR", "artifact_id": "BIGINT"},
    )
    _bulk(
        tx,
        "run_files",
        [(s.run_id, r, d, n) for s in runs for r, (d, n) in s.files.items()],
        {"run_id": "BIGINT", "role": "VARCHAR", "blob_hash": "VARCHAR", "size_bytes": "BIGINT"},
    )


def _audit(tx: Tx, actor: Actor, fresh: list[_Buffered], done: list[_Buffered]) -> None:
    """One ``run.log`` row per project: the runs this batch writes (new or finished). ``record``
    refuses the whole batch (Forbidden) when the actor may not train in the project."""
    by_project: dict[str, list[_Buffered]] = {}
    for state in fresh + done:
        by_project.setdefault(state.project, []).append(state)
    for project, states in by_project.items():
        ids = sorted({s.run_id for s in states})
        shown = ", ".join(f"#{i}" for i in ids[:SHOWN_IDS])
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        statuses: dict[str, int] = {}
        for state in states:
            statuses[state.status] = statuses.get(state.status, 0) + 1
        record(
            tx,
            actor,
            "run.log",
            project=project,
            target=f"run {shown}" if len(ids) == 1 else f"runs {shown}{more}",
            details={"runs": len(ids), "run_ids": ids, "status": statuses},
        )


def _bulk(tx: Tx, table: str, rows: list[tuple[Any, ...]], types: dict[str, str]) -> None:
    """Insert many rows in one statement, columns (named, with their types) bound as lists."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    select = ", ".join(f"unnest(?::{t}[])" for t in types.values())
    tx.execute(f"INSERT INTO {table} ({', '.join(types)}) SELECT {select}", columns)
