"""Labeling tasks: which items of a dataset version, how many annotators each, in what order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.accounts.access import visible_tasks
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.data.service import dataset_rows_path, latest_dataset, load_rows
from core.errors import InvalidInput, NotFound, expected_one_of
from core.labeling.models import ORDERINGS, UNCERTAINTY, Task, TaskFilter
from core.projects.service import Project, get_project
from core.store import Tx, Workspace, utcnow

_TASK_COLUMNS = (
    "t.task_id, t.project, t.name, t.dataset_id, t.filter, t.overlap, t.ordering, t.uncertainty, "
    "t.model_id, t.lease_seconds, t.instructions, t.status, t.trigger_id, t.created_at, t.created_by"
)


def uncertainty_scores(probabilities: np.ndarray, method: str) -> np.ndarray:
    """0 = the model is sure, 1 = it cannot tell the classes apart."""
    if method not in UNCERTAINTY:
        raise InvalidInput(expected_one_of("uncertainty measure", method, UNCERTAINTY))
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    k = p.shape[1]
    if method == "least_confident":
        return np.asarray((1.0 - p.max(axis=1)) * k / (k - 1), dtype=float)
    if method == "margin":
        top = np.sort(p, axis=1)[:, ::-1]
        return np.asarray(1.0 - (top[:, 0] - top[:, 1]), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(p), 0.0)
    return np.asarray(-(p * logs).sum(axis=1) / np.log(k), dtype=float)


def _stable_rank(ids: Sequence[str], seed: int) -> np.ndarray:
    """A deterministic shuffle: order by a hash of (seed, id)."""
    keys = [hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest() for i in ids]
    return np.argsort(np.array(keys, dtype=object), kind="stable")


def _hash_fraction(item_id: str, seed: int) -> float:
    digest = hashlib.blake2b(f"agreement:{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def select_items(project: Project, rows: pd.DataFrame, task_filter: TaskFilter) -> pd.DataFrame:
    """Apply the filter's column, date and id conditions to a dataset's rows."""
    spec = project.spec
    keep = np.ones(len(rows), dtype=bool)
    for column, values in task_filter.equals.items():
        if column not in spec.column_names:
            raise InvalidInput(f"Filter: {expected_one_of('column', column, spec.column_names)}")
        keep &= rows[column].astype("string").isin([str(v) for v in values]).to_numpy(dtype=bool)
    for bound, compare in (
        (task_filter.date_from, np.greater_equal),
        (task_filter.date_to, np.less_equal),
    ):
        if bound is None:
            continue
        if not spec.time_column:
            raise InvalidInput(
                f"Filter: project {spec.name!r} has no time column to filter dates on."
            )
        try:
            stamp = pd.Timestamp(bound)
        except ValueError as exc:
            raise InvalidInput(
                f"Filter: {bound!r} is not a date. Expected e.g. 2026-08-01."
            ) from exc
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        if compare is np.less_equal and len(str(bound)) <= 10:
            stamp = (
                stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
            )  # the whole last day
        times = rows[spec.time_column].to_numpy(dtype="datetime64[us]")
        keep &= compare(times, stamp.to_datetime64().astype("datetime64[us]")) & ~np.isnat(times)
    if task_filter.item_ids is not None:
        keep &= rows[spec.id_column].isin(list(task_filter.item_ids)).to_numpy(dtype=bool)
    return rows[keep]


def create_task(
    ws: Workspace,
    project_name: str,
    actor: Actor,
    *,
    name: str,
    dataset: int | str | None = None,
    task_filter: TaskFilter | None = None,
    overlap: int = 1,
    agreement_sample: float = 0.0,
    agreement_overlap: int = 2,
    ordering: str = "random",
    uncertainty: str = "least_confident",
    probabilities: pd.DataFrame | None = None,
    model_id: int | None = None,
    lease_seconds: int = 900,
    instructions: str = "",
    trigger_id: int | None = None,
) -> Task:
    """Create a task; ``probabilities`` (index: item id, columns: classes) give suggestions and order."""
    task_filter = task_filter or TaskFilter()
    project = get_project(ws, project_name)
    spec = project.spec
    if not name.strip():
        raise InvalidInput("A task needs a name, e.g. 'August sample'.")
    if not 1 <= overlap <= 5:
        raise InvalidInput(f"Overlap must be 1 to 5 annotators per item, got {overlap}.")
    if not 0.0 <= agreement_sample <= 1.0:
        raise InvalidInput(
            f"The agreement sample is a fraction from 0 to 1, got {agreement_sample}."
        )
    if agreement_sample and not overlap < agreement_overlap <= 5:
        raise InvalidInput(
            f"The agreement sample's overlap must be above {overlap} and at most 5, got {agreement_overlap}."
        )
    if ordering not in ORDERINGS:
        raise InvalidInput(expected_one_of("queue order", ordering, ORDERINGS))
    if ordering == "uncertainty" and probabilities is None:
        raise InvalidInput(
            "Uncertainty order needs a model's predictions.",
            hint="pick a model, or use random order",
        )
    if lease_seconds < 10:
        raise InvalidInput(f"The lease must last at least 10 seconds, got {lease_seconds}.")
    source = get_artifact(ws, dataset) if dataset is not None else latest_dataset(ws, project_name)
    if source is None or source.kind != "dataset" or source.project != project_name:
        raise NotFound(
            f"Project {project_name!r} has no such dataset version to label.",
            hint=f"ingest data first: `loopline ingest {project_name} FILE`",
        )
    rows = select_items(project, load_rows(ws, source), task_filter)
    ids = rows[spec.id_column].astype(str).to_numpy()
    if task_filter.untasked_only:
        with ws.store.read() as tx:
            tasked = {
                r[0]
                for r in tx.rows(
                    "SELECT DISTINCT i.item_id FROM task_items i JOIN tasks t USING (task_id) WHERE t.project = ?",
                    [project_name],
                )
            }
        ids = ids[~np.isin(ids, np.array(sorted(tasked), dtype=object))] if tasked else ids
    scores = suggestion = confidence = None
    if probabilities is not None:
        scores, suggestion, confidence = _score(
            probabilities, ids, spec.labels.classes, uncertainty
        )
        keep = np.ones(len(ids), dtype=bool)
        if task_filter.score_min is not None:
            keep &= scores >= task_filter.score_min
        if task_filter.score_max is not None:
            keep &= scores <= task_filter.score_max
        ids, scores, suggestion, confidence = (
            ids[keep],
            scores[keep],
            suggestion[keep],
            confidence[keep],
        )
    order = _stable_rank(list(ids), task_filter.seed)
    if task_filter.limit is not None:
        if task_filter.limit < 1:
            raise InvalidInput(f"The item limit must be positive, got {task_filter.limit}.")
        pick = (
            np.argsort(-scores, kind="stable")
            if ordering == "uncertainty" and scores is not None
            else order
        )
        chosen = np.sort(pick[: task_filter.limit])
        ids = ids[chosen]
        scores, suggestion, confidence = (
            None if a is None else a[chosen] for a in (scores, suggestion, confidence)
        )
        order = _stable_rank(list(ids), task_filter.seed)
    if len(ids) == 0:
        raise InvalidInput(
            "No item matches this filter; nothing was created.", hint="widen the filter"
        )
    positions = np.empty(len(ids), dtype=np.int64)
    positions[order] = np.arange(len(ids))
    required = [
        agreement_overlap
        if agreement_sample and _hash_fraction(i, task_filter.seed) < agreement_sample
        else overlap
        for i in ids
    ]
    with ws.store.transaction() as tx:
        task_id = int(tx.scalar("SELECT nextval('task_ids')"))
        tx.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            [
                task_id,
                project_name,
                name.strip(),
                source.artifact_id,
                json.dumps(task_filter.as_dict()),
                overlap,
                ordering,
                uncertainty if probabilities is not None else None,
                model_id,
                lease_seconds,
                instructions,
                trigger_id,
                utcnow(),
                actor.name,
            ],
        )
        tx.execute(
            "INSERT INTO task_items SELECT ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::INTEGER[]), "
            "unnest(?::DOUBLE[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), NULL",
            [
                task_id,
                list(ids),
                positions.tolist(),
                required,
                [None] * len(ids) if scores is None else scores.tolist(),
                [None] * len(ids) if suggestion is None else list(suggestion),
                [None] * len(ids) if confidence is None else confidence.tolist(),
            ],
        )
        record(
            tx,
            actor,
            "task.create",
            project=project_name,
            target=f"task #{task_id}",
            details={"name": name, "items": len(ids), "overlap": overlap, "dataset": source.ref},
        )
    return get_task(ws, task_id)


def _score(
    probabilities: pd.DataFrame, ids: np.ndarray, classes: Sequence[str], method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in classes if c not in probabilities.columns]
    if missing:
        raise InvalidInput(
            f"The predictions lack the class(es) {missing}; expected columns {list(classes)}."
        )
    aligned = probabilities.reindex([str(i) for i in ids])[list(classes)]
    if aligned.isna().any(axis=None):
        raise InvalidInput(
            f"The predictions miss {int(aligned.isna().any(axis=1).sum())} of the task's items."
        )
    matrix = aligned.to_numpy(dtype=float)
    best = matrix.argmax(axis=1)
    labels = np.array(list(classes), dtype=object)[best]
    return uncertainty_scores(matrix, method), labels, matrix.max(axis=1)


_ITEMS_PER_TASK = "(SELECT count(*) FROM task_items i WHERE i.task_id = t.task_id)"


def _task_row(tx: Tx, where: str, params: list[Any], items: str = _ITEMS_PER_TASK) -> list[Task]:
    rows = tx.rows(
        f"SELECT {_TASK_COLUMNS}, {items} FROM tasks t {where} ORDER BY t.task_id DESC", params
    )
    return [Task(*[*row[:4], json.loads(row[4]), *row[5:]]) for row in rows]


def get_task(ws: Workspace, task_id: int) -> Task:
    with ws.store.read() as tx:
        found = _task_row(  # counting one task's items, not every task's (3 ms at 100,000)
            tx,
            "WHERE t.task_id = ?",
            [int(task_id), int(task_id)],
            items="(SELECT count(*) FROM task_items WHERE task_id = ?)",
        )
    if not found:
        raise NotFound(
            f"No labeling task #{task_id}.", hint="list them with `loopline tasks PROJECT`"
        )
    return found[0]


def list_tasks(ws: Workspace, project: str | None = None) -> list[Task]:
    """The project's tasks (every project's without one) that the acting user may see."""
    with ws.store.read() as tx:
        found = _task_row(
            tx, "WHERE t.project = ?" if project else "", [project] if project else []
        )
        return visible_tasks(tx, None, found)


def set_task_status(ws: Workspace, task_id: int, status: str, actor: Actor) -> Task:
    if status not in ("open", "closed"):
        raise InvalidInput(expected_one_of("task status", status, ("open", "closed")))
    task = get_task(ws, task_id)
    with ws.store.transaction() as tx:
        tx.execute("UPDATE tasks SET status = ? WHERE task_id = ?", [status, task_id])
        record(tx, actor, f"task.{status}", project=task.project, target=f"task #{task_id}")
    return get_task(ws, task_id)


def item_fields(
    ws: Workspace, dataset: Artifact, item_ids: Sequence[str], id_column: str
) -> dict[str, dict[str, Any]]:
    """The dataset rows of some items, read from its Parquet file by id."""
    path = str(dataset_rows_path(ws, dataset))
    one = len(item_ids) == 1  # a constant lets DuckDB skip every row group but the item's own
    with ws.store.read() as tx:
        cursor = tx.execute(
            f'SELECT * FROM read_parquet(?) WHERE "{id_column}" '
            + ("= ?" if one else "IN (SELECT unnest(?::VARCHAR[]))"),
            [path, item_ids[0] if one else list(item_ids)],
        ).cursor
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    return {
        str(row[columns.index(id_column)]): dict(zip(columns, row, strict=True)) for row in rows
    }
