"""Writing buffered runs: one transaction, a few bulk statements (columns bound as lists), and
one audit row (``run.log``) per project of the batch, which is also where the role is checked.

``LocalSink`` is a tracker's way into its own workspace; ``write_segments`` is the server's side
of a remote tracker: the same batch, sent as numbered pieces of runs (``segment``) under each
run's client-side ``uuid``, kept in ``run_segments`` so that a piece sent twice is written once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.accounts.access import authorize
from core.accounts.audit import record
from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.experiments.layout import LOCAL_SHARE, SERVER_SHARE, due, reorder_due, reorder_if_due
from core.store import Tx, Workspace, utcnow

SHOWN_IDS = 20  # an audit row's target names this many runs; details list them all
if TYPE_CHECKING:  # tracking imports this module to write its buffer; only the types are needed
    from core.experiments.tracking import Origin, _Buffered


class LocalSink:
    """A tracker's runs written straight into the workspace, as ``actor``."""

    keeps_failed = False
    min_block = 1

    def __init__(self, ws: Workspace, actor: Actor) -> None:
        self.ws = ws
        self.actor = actor

    @property
    def actor_name(self) -> str:
        return self.actor.name

    def check(self, project: str | None, inputs: Sequence[int]) -> None:
        if project is not None:
            authorize(self.ws, self.actor, "train", project)
        if inputs:
            with self.ws.store.read() as tx:
                check_inputs(tx, inputs)

    def reserve(self, count: int) -> list[int]:
        with self.ws.store.transaction() as tx:
            return reserve_ids(tx, count)

    def write(
        self, fresh: list[_Buffered], done: list[_Buffered], origin: Origin, reserve: int
    ) -> list[int]:
        with self.ws.store.transaction() as tx:
            write_runs(tx, self.actor, fresh, done, origin)
            return reserve_ids(tx, reserve)

    def put(self, project: str, content: bytes | Path) -> tuple[str, int]:
        if isinstance(content, Path):
            return self.ws.blobs.put_file(content), content.stat().st_size
        return self.ws.blobs.put_bytes(content), len(content)

    def pending(self) -> bool:
        return False

    def tidy(self) -> None:
        reorder_if_due(self.ws, LOCAL_SHARE)


def check_inputs(tx: Tx, ids: Sequence[int]) -> None:
    """NotFound unless every id is an artifact of the workspace."""
    found = {
        r[0]
        for r in tx.rows(
            "SELECT artifact_id FROM artifacts WHERE artifact_id IN (SELECT unnest(?::BIGINT[]))",
            [list(ids)],
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"Run inputs {missing} are not artifacts of this workspace.")


def reserve_ids(tx: Tx, count: int) -> list[int]:
    """``count`` fresh run ids (none for 0)."""
    if count <= 0:
        return []
    return [r[0] for r in tx.rows("SELECT nextval('run_ids') FROM range(?)", [count])]


# --- the server's side of a remote tracker -----------------------------------------------------


def log_segments(
    ws: Workspace, actor: Actor, pieces: list[_Buffered], origin: Origin, reserve: int
) -> tuple[list[int], list[int]]:
    """Write the pieces of runs a remote tracker sent, in one transaction: the run id of each
    piece, in order, and ``reserve`` fresh run ids."""
    _check_files(ws, pieces)
    with ws.store.transaction() as tx:
        ids = write_segments(tx, actor, pieces, origin)
        fresh = reserve_ids(tx, reserve)
        tidy = bool(due(tx, SERVER_SHARE))  # here: a unit of work of its own per batch cost more
    if tidy:
        reorder_due(ws, SERVER_SHARE)
    return ids, fresh


def write_segments(tx: Tx, actor: Actor, pieces: list[_Buffered], origin: Origin) -> list[int]:
    """Each (uuid, segment) once: a piece already kept is skipped, the others are written in
    rounds (a run's pieces in order), as one batch each. The run ids of ``pieces``, in order."""
    kept = _kept_segments(tx, [p.uuid for p in pieces])
    _check_run_ids(tx, pieces, kept)
    todo = [p for p in pieces if (p.uuid, p.segment) not in kept["segments"]]
    written = set(kept["runs"])
    for round_ in _rounds(todo):
        for piece in round_:
            piece.written = piece.uuid in written
        write_runs(
            tx,
            actor,
            [p for p in round_ if p.status == "running"],
            [p for p in round_ if p.status != "running"],
            origin,
        )
        written |= {p.uuid for p in round_}
    _keep_segments(tx, todo)
    return [kept["runs"].get(p.uuid, p.run_id) for p in pieces]


def _kept_segments(tx: Tx, uuids: list[str]) -> dict[str, Any]:
    rows = tx.rows(
        "SELECT run_uuid, segment, run_id FROM run_segments "
        "WHERE run_uuid IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(set(uuids))],
    )
    return {"segments": {(u, s) for u, s, _ in rows}, "runs": {u: r for u, _, r in rows}}


def _check_run_ids(tx: Tx, pieces: list[_Buffered], kept: dict[str, Any]) -> None:
    """A run keeps the id it was first written with; a new run may not take a used id."""
    for piece in pieces:
        first = kept["runs"].get(piece.uuid)
        if first is not None and first != piece.run_id:
            raise InvalidInput(
                f"Run {piece.uuid} was written as run {first}, not {piece.run_id}.",
                hint="send every piece of a run with the run id it started with",
            )
    new = sorted({p.run_id for p in pieces if p.uuid not in kept["runs"]})
    taken = (
        [
            r[0]
            for r in tx.rows(
                "SELECT run_id FROM runs WHERE run_id IN (SELECT unnest(?::BIGINT[]))", [new]
            )
        ]
        if new
        else []
    )
    if taken:
        raise InvalidInput(
            f"Run ids {sorted(taken)} are taken by other runs.",
            hint="take run ids from runs.reserve_ids",
        )


def _check_files(ws: Workspace, pieces: list[_Buffered]) -> None:
    """Every file a run names must be stored already (sent with ``runs.put_file``)."""
    missing = sorted({d for p in pieces for d, _ in p.files.values() if not ws.blobs.exists(d)})
    if missing:
        raise InvalidInput(
            f"Run files {', '.join(m[:80] for m in missing[:5])} are not stored on the server.",
            hint="send each file with runs.put_file before the runs that name it",
        )


def _rounds(pieces: list[_Buffered]) -> list[list[_Buffered]]:
    """Round n holds each run's n-th piece (by segment): usually there is one round."""
    by_run: dict[str, list[_Buffered]] = {}
    for piece in sorted(pieces, key=lambda p: p.segment):
        by_run.setdefault(piece.uuid, []).append(piece)
    depth = max((len(v) for v in by_run.values()), default=0)
    return [[v[n] for v in by_run.values() if len(v) > n] for n in range(depth)]


def _keep_segments(tx: Tx, pieces: list[_Buffered]) -> None:
    now = utcnow()
    _bulk(
        tx,
        "run_segments",
        [(p.uuid, p.segment, p.run_id, now) for p in pieces],
        {"run_uuid": "VARCHAR", "segment": "INTEGER", "run_id": "BIGINT", "kept_at": "TIMESTAMP"},
    )


def write_runs(
    tx: Tx, actor: Actor, fresh: list[_Buffered], done: list[_Buffered], origin: Origin
) -> None:
    _audit(tx, actor, fresh, done)
    everything = fresh + done
    new = [s for s in everything if not s.written]
    _insert_runs(tx, new, origin.environment, origin.commit, origin.dirty)
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
