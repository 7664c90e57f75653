"""Writing buffered runs: one transaction, a few bulk statements (columns bound as lists), and
one audit row (``run.log``) per project of the batch, which is also where the role is checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.accounts.audit import record
from core.actor import Actor
from core.store import Tx

SHOWN_IDS = 20  # an audit row's target names this many runs; details list them all
if TYPE_CHECKING:
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
    new_rows = [s for s in fresh + done if not s.written]
    if new_rows:
        columns = list(
            zip(
                *[
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
                    for s in new_rows
                ],
                strict=True,
            )
        )
        tx.execute(
            """
            INSERT INTO runs SELECT i, p, e, n, st, sa, ea, d, ?, ?, ?::JSON, err, cb
            FROM (SELECT unnest(?::BIGINT[]) i, unnest(?::VARCHAR[]) p, unnest(?::VARCHAR[]) e,
                         unnest(?::VARCHAR[]) n, unnest(?::VARCHAR[]) st, unnest(?::TIMESTAMP[]) sa,
                         unnest(?::TIMESTAMP[]) ea, unnest(?::DOUBLE[]) d, unnest(?::VARCHAR[]) err,
                         unnest(?::VARCHAR[]) cb)
            """,
            [commit, dirty, json.dumps(env), *[list(c) for c in columns]],
        )
    for s in done:
        if s.written:
            tx.execute(
                "UPDATE runs SET status = ?, ended_at = ?, duration_s = ?, error = ? WHERE run_id = ?",
                [s.status, s.ended_at, s.duration_s, s.error, s.run_id],
            )
    everything = fresh + done
    for (
        s
    ) in everything:  # a key logged again after the run was first written replaces the old value
        if s.written and s.params:
            tx.execute(
                "DELETE FROM run_params WHERE run_id = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
                [s.run_id, list(s.params)],
            )
        if s.written and s.metrics:
            tx.execute(
                "DELETE FROM run_metrics WHERE run_id = ? AND key || chr(31) || slice IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [s.run_id, [f"{k}\x1f{sl}" for k, sl in s.metrics]],
            )
    _bulk(
        tx,
        "run_params",
        [(s.run_id, k, v) for s in everything for k, v in s.params.items()],
        ("BIGINT", "VARCHAR", "VARCHAR"),
    )
    _bulk(
        tx,
        "run_metrics",
        [(s.run_id, k, sl, v) for s in everything for (k, sl), v in s.metrics.items()],
        ("BIGINT", "VARCHAR", "VARCHAR", "DOUBLE"),
    )
    _bulk(
        tx,
        "metric_history",
        [(s.run_id, *h) for s in everything for h in s.history],
        ("BIGINT", "VARCHAR", "INTEGER", "DOUBLE", "TIMESTAMP"),
    )
    _bulk(
        tx,
        "run_tags",
        [(s.run_id, k, v) for s in everything for k, v in s.tags.items()],
        ("BIGINT", "VARCHAR", "VARCHAR"),
    )
    _bulk(
        tx,
        "run_inputs",
        [(s.run_id, r, a) for s in everything for r, a in s.inputs],
        ("BIGINT", "VARCHAR", "BIGINT"),
    )
    _bulk(
        tx,
        "run_files",
        [(s.run_id, r, d, n) for s in everything for r, (d, n) in s.files.items()],
        ("BIGINT", "VARCHAR", "VARCHAR", "BIGINT"),
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


def _bulk(tx: Tx, table: str, rows: list[tuple[Any, ...]], types: tuple[str, ...]) -> None:
    """Insert many rows in one statement (columns bound as lists); replaces earlier values of a key."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    select = ", ".join(f"unnest(?::{t}[])" for t in types)
    tx.execute(f"INSERT INTO {table} SELECT {select}", columns)
