"""Statuses from evidence, recomputed in one set-based query whenever evidence arrives.

An ML requirement is checked against the first source in its ``evidence`` list that speaks about
the model in production (else the first that has anything):

- **no evidence**: no source has anything, or the metric was not measured on every slice;
- **suspect**: the evidence is about a model that is no longer in production (or a verification
  run on a test set that has changed since), or it passes but was measured before the
  requirement's check last changed;
- **violated**: the check fails (a failure measured before an edit still stands);
- **met**: otherwise.

A system requirement takes the worst status of the ML requirements derived from it and from its
descendants: violated > suspect > no evidence > met. An ML requirement refined by other ML
requirements (derived from it) takes the worst of its own and theirs, ``via`` the one that decided
(one without a check of its own: theirs only). Statuses are derived data: the current ones
are replaced on each recomputation, and only changes go to the history, with their cause.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.accounts.access import readable
from core.errors import NotFound
from core.requirements.confidence import metric_facts, requirement_metrics, run_intervals
from core.requirements.models import HistoryEntry, Status
from core.requirements.status_sql import (
    GRAIN_RANK,
    PRODUCTION_ALIAS,
    PRODUCTION_CANDIDATE,
    STATUS_SQL,
)
from core.store import BlobStore, Tx, Workspace, utcnow

STATUS_COLUMNS = (
    "project, requirement_id, level, requirement_version, status, value, threshold, comparator, "
    "slice, estimated, n, source, model_id, model_version, run_id, dataset_id, label_set_id, "
    "build_id, verification_id, window_from, window_to, measured_at, via, failing, missing, "
    "evidence_ref, computed_at, lower, upper, interval_method, min_n, alert_id"
)
HISTORY_COLUMNS = (
    "project, requirement_id, level, status, previous_status, value, threshold, slice, source, "
    'evidence_ref, model_id, model_version, via, cause, "at", n, lower, upper, alert_id'
)


@dataclass(frozen=True)
class Recomputed:
    statuses: int
    changes: int


@dataclass(frozen=True)
class Candidate:
    """What would be in production instead (impact analysis): a model version or a build's run."""

    project: str
    label: str
    model_id: int | None
    model_name: str | None
    model_version: int | None
    run_id: int | None
    dataset_id: int | None
    label_set_id: int | None


def status_query(candidate: Candidate | None = None) -> str:
    return STATUS_SQL.format(
        production=PRODUCTION_CANDIDATE if candidate else PRODUCTION_ALIAS, GRAIN_RANK=GRAIN_RANK
    )


def query_params(tx: Tx, project: str | None, candidate: Candidate | None = None) -> dict[str, Any]:
    datasets, metrics, values, sizes = data_metrics(tx, project, candidate)
    blobs = BlobStore(workspace_root(tx) / "objects")
    runs = run_intervals(tx, blobs, evidence_runs(tx, project, candidate))
    params: dict[str, Any] = {
        "project": project,
        "now": utcnow(),
        "dm_dataset": datasets,
        "dm_metric": metrics,
        "dm_value": values,
        "dm_n": sizes,
        "alerts": candidate is None,
        **metric_facts(requirement_metrics(tx, project)).params(),
        **{f"ri_{key}": value for key, value in runs.items()},
    }
    if candidate is not None:
        params.update(
            c_model_id=candidate.model_id,
            c_model_name=candidate.model_name,
            c_model_version=candidate.model_version,
            c_run_id=candidate.run_id,
            c_dataset_id=candidate.dataset_id,
            c_label_set_id=candidate.label_set_id,
        )
    return params


def slice_query() -> str:
    """The status query up to its per-slice verdicts, ending in every slice of one ML
    requirement (and its reference slice): what the Evidence tab shows, judged where the status
    is judged."""
    full = status_query()
    head = full[: full.index("closure(project, anc, des) AS (")].rstrip().rstrip(",")
    return (
        head
        + """
SELECT slice, value, limit_value, verdict, estimated, n, lower, upper, method, false
FROM judged WHERE requirement_id = $requirement_id
UNION ALL
SELECT slice, value, NULL, NULL, estimated, n, lower, upper, method, true
FROM vals_ci WHERE requirement_id = $requirement_id AND is_base
ORDER BY 10, 1
"""
    )


def slice_verdicts(tx: Tx, project: str, requirement_id: str) -> list[tuple[Any, ...]]:
    """(slice, value, threshold, verdict, estimated, n, lower, upper, method, reference) per
    slice of an ML requirement, from the status query itself."""
    params = {**query_params(tx, project), "requirement_id": requirement_id}
    return tx.rows(slice_query(), params)


def recompute(tx: Tx, project: str | None = None, *, cause: str) -> Recomputed:
    """Recompute every status of ``project`` (None: all projects) inside the caller's transaction;
    history rows are written only for requirements whose status (or evidence model) changed."""
    scope = [project, project]
    tx.execute("DELETE FROM requirement_status_next")
    tx.execute(
        f"INSERT INTO requirement_status_next ({STATUS_COLUMNS}) {status_query()}",
        query_params(tx, project),
    )
    now = utcnow()
    changed = tx.execute(
        f"""
        INSERT INTO requirement_status_history (entry_id, {HISTORY_COLUMNS})
        SELECT nextval('requirement_status_ids'), n.project, n.requirement_id, n.level, n.status,
               o.status, n.value, n.threshold, n.slice, n.source, n.evidence_ref, n.model_id,
               n.model_version, n.via, ?, ?, n.n, n.lower, n.upper, n.alert_id
        FROM requirement_status_next n
        LEFT JOIN requirement_status o
          ON o.project = n.project AND o.requirement_id = n.requirement_id
        WHERE o.status IS DISTINCT FROM n.status OR o.model_version IS DISTINCT FROM n.model_version
        """,
        [cause, now],
    ).fetchone()
    removed = tx.execute(
        f"""
        INSERT INTO requirement_status_history (entry_id, {HISTORY_COLUMNS})
        SELECT nextval('requirement_status_ids'), o.project, o.requirement_id, o.level, 'removed',
               o.status, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?, ?, NULL, NULL, NULL,
               NULL
        FROM requirement_status o
        WHERE (CAST(? AS VARCHAR) IS NULL OR o.project = ?)
          AND NOT EXISTS (SELECT 1 FROM requirement_status_next n
                          WHERE n.project = o.project AND n.requirement_id = o.requirement_id)
        """,
        [cause, now, *scope],
    ).fetchone()
    tx.execute(
        "DELETE FROM requirement_status WHERE CAST(? AS VARCHAR) IS NULL OR project = ?", scope
    )
    count = tx.execute(
        f"INSERT INTO requirement_status ({STATUS_COLUMNS}) "
        f"SELECT {STATUS_COLUMNS} FROM requirement_status_next"
    ).fetchone()
    tx.execute("DELETE FROM requirement_status_next")
    return Recomputed(
        int(count[0]) if count else 0,
        (int(changed[0]) if changed else 0) + (int(removed[0]) if removed else 0),
    )


def recompute_statuses(ws: Workspace, project: str | None = None, *, cause: str) -> Recomputed:
    """Recompute in a transaction of its own (after a monitoring window, or on request)."""
    with ws.store.transaction() as tx:
        return recompute(tx, project, cause=cause)


def _status(row: Sequence[Any]) -> Status:
    return Status(*row)


def select_statuses(tx: Tx, project: str) -> dict[str, Status]:
    rows = tx.rows(f"SELECT {STATUS_COLUMNS} FROM requirement_status WHERE project = ?", [project])
    return {row[1]: _status(row) for row in rows}


def current_statuses(ws: Workspace, project: str) -> dict[str, Status]:
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        return select_statuses(tx, project)


def get_status(ws: Workspace, project: str, requirement_id: str) -> Status:
    found = current_statuses(ws, project).get(requirement_id)
    if found is None:
        raise NotFound(
            f"No status for {requirement_id!r} in {project!r}.",
            hint=f"list requirements with `loopline requirements list {project}`",
        )
    return found


def status_summary(ws: Workspace, project: str) -> dict[str, dict[str, int]]:
    """Counts per level and status, e.g. ``{"system": {"met": 3, "violated": 1}, "ml": {…}}``."""
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        rows = tx.rows(
            "SELECT level, status, count(*) FROM requirement_status WHERE project = ? GROUP BY ALL",
            [project],
        )
    out: dict[str, dict[str, int]] = {"system": {}, "ml": {}}
    for level, status, count in rows:
        out.setdefault(level, {})[status] = int(count)
    return out


def status_history(
    ws: Workspace, project: str, requirement_id: str | None = None, *, limit: int = 5000
) -> list[HistoryEntry]:
    """Status changes, newest first."""
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        rows = tx.rows(
            f"SELECT {HISTORY_COLUMNS} FROM requirement_status_history WHERE project = ? "
            "AND (CAST(? AS VARCHAR) IS NULL OR requirement_id = ?) "
            'ORDER BY "at" DESC, entry_id DESC LIMIT ?',
            [project, requirement_id, requirement_id, limit],
        )
    return [HistoryEntry(*row) for row in rows]


# -- data-quality figures (read from the quality reports of the datasets evidence points at) -----
def workspace_root(tx: Tx) -> Path:
    path = tx.scalar("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    return Path(str(path)).parent


def evidence_runs(tx: Tx, project: str | None, candidate: Candidate | None) -> list[int]:
    """The runs whose evaluations can be evidence: production's, the latest builds', a
    candidate's."""
    scope = [project, project]
    rows = tx.rows(
        """
        SELECT TRY_CAST(json_extract_string(m.metadata, '$.run_id') AS BIGINT)
        FROM aliases a JOIN artifacts m ON m.artifact_id = a.artifact_id
        WHERE a.alias = 'production' AND (CAST(? AS VARCHAR) IS NULL OR a.project = ?)
        UNION SELECT arg_max(run_id, build_id) FROM builds
        WHERE run_id IS NOT NULL AND (CAST(? AS VARCHAR) IS NULL OR project = ?) GROUP BY project
        """,
        scope * 2,
    )
    found = [int(row[0]) for row in rows if row[0] is not None]
    if candidate is not None and candidate.run_id is not None:
        found.append(candidate.run_id)
    return found


def data_metrics(
    tx: Tx, project: str | None, candidate: Candidate | None = None
) -> tuple[list[int], list[str], list[float], list[float]]:
    """``missing_rate`` (every cell) and ``missing_rate.<column>`` of the datasets that production,
    the latest builds, verification runs (and a candidate) were made from; only when a current
    requirement asks for them."""
    scope = [project, project]
    wanted = tx.scalar(
        "SELECT count(*) FROM requirements WHERE metric LIKE 'missing_rate%' AND NOT deleted "
        "AND (CAST(? AS VARCHAR) IS NULL OR project = ?)",
        scope,
    )
    if not wanted:
        return [], [], [], []
    ids = {
        int(row[0])
        for row in tx.rows(
            """
            SELECT TRY_CAST(json_extract_string(m.metadata, '$.dataset_id') AS BIGINT)
            FROM aliases a JOIN artifacts m ON m.artifact_id = a.artifact_id
            WHERE CAST(? AS VARCHAR) IS NULL OR a.project = ?
            UNION SELECT i.artifact_id FROM builds b
            JOIN run_inputs i ON i.run_id = b.run_id AND i.role = 'dataset'
            WHERE CAST(? AS VARCHAR) IS NULL OR b.project = ?
            UNION SELECT dataset_id FROM verification_runs
            WHERE CAST(? AS VARCHAR) IS NULL OR project = ?
            """,
            scope * 3,
        )
        if row[0] is not None
    }
    if candidate is not None and candidate.dataset_id is not None:
        ids.add(candidate.dataset_id)
    reports = tx.rows(
        """
        SELECT TRY_CAST(json_extract_string(a.metadata, '$.dataset_id') AS BIGINT), f.blob_hash
        FROM artifacts a JOIN artifact_files f ON f.artifact_id = a.artifact_id
        WHERE a.kind = 'report' AND f.role = 'report.json'
          AND json_extract_string(a.metadata, '$.report') = 'data_quality'
          AND TRY_CAST(json_extract_string(a.metadata, '$.dataset_id') AS BIGINT)
              IN (SELECT unnest(?::BIGINT[]))
        """,
        [sorted(ids)],
    )
    blobs = BlobStore(workspace_root(tx) / "objects")
    out: tuple[list[int], list[str], list[float], list[float]] = ([], [], [], [])
    for dataset_id, digest in reports:
        try:
            report = json.loads(blobs.read_bytes(digest))
        except (NotFound, ValueError):
            continue  # a damaged report is no evidence; `loopline verify` names it
        for metric, (value, cells) in missing_rates_with_n(report).items():
            out[0].append(int(dataset_id))
            out[1].append(metric)
            out[2].append(value)
            out[3].append(cells)
    return out


def missing_rates(report: Mapping[str, Any]) -> dict[str, float]:
    return {k: value for k, (value, _) in missing_rates_with_n(report).items()}


def missing_rates_with_n(report: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Each missing rate with the cells it counts over (its n)."""
    columns = report.get("columns") or []
    rows = int(report.get("rows") or 0)
    out = {
        f"missing_rate.{c['column']}": (float(c.get("missing_rate", 0.0)), float(rows))
        for c in columns
    }
    if rows and columns:
        cells = rows * len(columns)
        out["missing_rate"] = (sum(int(c.get("missing", 0)) for c in columns) / cells, float(cells))
    return out
