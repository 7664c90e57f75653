"""Labeling tasks: which items of a dataset version, how many annotators each, in what order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
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
from core.labeling.rows import rows_by_id
from core.projects.service import (
    PROJECT_COLUMNS,
    PROJECT_JOIN,
    PROJECT_SELECT,
    Project,
    get_project,
    project_of_row,
)
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
    _check_settings(
        name, overlap, agreement_sample, agreement_overlap, ordering, probabilities, lease_seconds
    )
    source = _dataset_to_label(ws, project_name, dataset)
    ids = _matching_ids(ws, project, source, task_filter)
    items = _suggested(ids, probabilities, project.spec.labels.classes, uncertainty, task_filter)
    items = _limited(items, task_filter, ordering)
    required = _required(items.ids, task_filter.seed, overlap, agreement_sample, agreement_overlap)
    with ws.store.transaction() as tx:
        task_id = int(tx.scalar("SELECT nextval('task_ids')"))
        tx.execute(
            f"INSERT INTO tasks ({_TASK_INSERT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
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
        _insert_items(tx, task_id, items, required, task_filter.seed, ordering)
        record(
            tx,
            actor,
            "task.create",
            project=project_name,
            target=f"task #{task_id}",
            details={
                "name": name,
                "items": len(items.ids),
                "overlap": overlap,
                "dataset": source.ref,
            },
        )
    return get_task(ws, task_id)


_TASK_INSERT_COLUMNS = _TASK_COLUMNS.replace("t.", "")


def _check_settings(
    name: str,
    overlap: int,
    agreement_sample: float,
    agreement_overlap: int,
    ordering: str,
    probabilities: pd.DataFrame | None,
    lease_seconds: int,
) -> None:
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


def _dataset_to_label(ws: Workspace, project_name: str, dataset: int | str | None) -> Artifact:
    """The named dataset version of the project, or its latest."""
    source = get_artifact(ws, dataset) if dataset is not None else latest_dataset(ws, project_name)
    if source is None or source.kind != "dataset" or source.project != project_name:
        raise NotFound(
            f"Project {project_name!r} has no such dataset version to label.",
            hint=f"ingest data first: `loopline ingest {project_name} FILE`",
        )
    return source


def _matching_ids(
    ws: Workspace, project: Project, source: Artifact, task_filter: TaskFilter
) -> np.ndarray:
    """The ids of the dataset's rows the filter keeps (without those in another task, if asked)."""
    rows = select_items(project, load_rows(ws, source), task_filter)
    ids = rows[project.spec.id_column].astype(str).to_numpy()
    if not task_filter.untasked_only:
        return ids
    with ws.store.read() as tx:
        tasked = {
            r[0]
            for r in tx.rows(
                "SELECT DISTINCT i.item_id FROM task_items i JOIN tasks t USING (task_id) WHERE t.project = ?",
                [project.name],
            )
        }
    return ids[~np.isin(ids, np.array(sorted(tasked), dtype=object))] if tasked else ids


@dataclass(frozen=True)
class _Items:
    """A task's items in dataset order, with the model's score, suggestion and its confidence."""

    ids: np.ndarray
    scores: np.ndarray | None = None
    suggestion: np.ndarray | None = None
    confidence: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> _Items:
        """The items ``keep`` (a mask or positions) picks."""
        return _Items(
            self.ids[keep],
            *(
                None if a is None else a[keep]
                for a in (self.scores, self.suggestion, self.confidence)
            ),
        )


def _suggested(
    ids: np.ndarray,
    probabilities: pd.DataFrame | None,
    classes: Sequence[str],
    uncertainty: str,
    task_filter: TaskFilter,
) -> _Items:
    """The items with the model's suggestions, kept within the filter's score bounds."""
    if probabilities is None:
        return _Items(ids)
    scores, suggestion, confidence = _score(probabilities, ids, classes, uncertainty)
    keep = np.ones(len(ids), dtype=bool)
    if task_filter.score_min is not None:
        keep &= scores >= task_filter.score_min
    if task_filter.score_max is not None:
        keep &= scores <= task_filter.score_max
    return _Items(ids, scores, suggestion, confidence).take(keep)


def _limited(items: _Items, task_filter: TaskFilter, ordering: str) -> _Items:
    """At most the filter's limit of items (the least sure ones in uncertainty order, else a
    stable random sample); refused when none is left."""
    if task_filter.limit is not None:
        if task_filter.limit < 1:
            raise InvalidInput(f"The item limit must be positive, got {task_filter.limit}.")
        pick = (
            np.argsort(-items.scores, kind="stable")
            if ordering == "uncertainty" and items.scores is not None
            else _stable_rank(list(items.ids), task_filter.seed)
        )
        items = items.take(np.sort(pick[: task_filter.limit]))
    if len(items.ids) == 0:
        raise InvalidInput(
            "No item matches this filter; nothing was created.", hint="widen the filter"
        )
    return items


def _required(
    ids: np.ndarray, seed: int, overlap: int, agreement_sample: float, agreement_overlap: int
) -> list[int]:
    """Annotators each item needs: the agreement sample's overlap for a stable share of items."""
    return [
        agreement_overlap
        if agreement_sample and _hash_fraction(i, seed) < agreement_sample
        else overlap
        for i in ids
    ]


def _insert_items(
    tx: Tx, task_id: int, items: _Items, required: list[int], seed: int, ordering: str
) -> None:
    """The task's items, each at its place in the queue: a stable random order, or in
    uncertainty order the least sure first (ties in that random order). The queue reads its head
    as a range of positions (m0017)."""
    n = len(items.ids)
    positions = np.empty(n, dtype=np.int64)
    positions[_stable_rank(list(items.ids), seed)] = np.arange(n)
    if ordering == "uncertainty" and items.scores is not None:
        place = np.lexsort((positions, -items.scores))  # score descending, then the random rank
        positions[place] = np.arange(n)
    tx.execute(
        "INSERT INTO task_items (task_id, item_id, position, required, score, suggestion, "
        "suggestion_probability, suggested_spans) "
        "SELECT ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::INTEGER[]), "
        "unnest(?::DOUBLE[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), NULL",
        [
            task_id,
            list(items.ids),
            positions.tolist(),
            required,
            [None] * n if items.scores is None else items.scores.tolist(),
            [None] * n if items.suggestion is None else list(items.suggestion),
            [None] * n if items.confidence is None else items.confidence.tolist(),
        ],
    )


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
    return [_task_of(row) for row in rows]


_TASK_NAMES = [c.strip().removeprefix("t.") for c in _TASK_COLUMNS.split(",")] + ["items"]


def _task_of(row: Sequence[Any]) -> Task:
    """A Task from a row of ``_TASK_COLUMNS`` and the item count."""
    fields = dict(zip(_TASK_NAMES, row, strict=True))
    return Task(**{**fields, "filter": json.loads(fields["filter"])})


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


@dataclass(frozen=True)
class OpenTask:
    """A task read with its project and its dataset version in one query (the queue's calls)."""

    task: Task
    project: Project
    dataset: Artifact
    has_item: bool  # whether the item asked about is one of the task's


_ARTIFACTS: dict[tuple[str, int, str], Artifact] = {}  # (file, id, content hash): never changes


@dataclass(frozen=True)
class _Opened:
    """What :func:`open_task` read of a task in full: everything but its status and its project's
    title and spec can never change (a task's items are inserted once, with the task; its dataset
    version and an artifact are immutable). ``created_at`` tells the task apart from one that had
    the same id in an earlier workspace at the same path."""

    created_at: Any
    task_row: tuple[Any, ...]  # _TASK_NAMES, the item count included
    project_row: tuple[Any, ...]  # PROJECT_SELECT
    dataset: Artifact


_OPENED: dict[tuple[str, int], _Opened] = {}  # (file, task id) -> the task as last read in full
# what may change: checked on every call against the cached copy, in one small query
_CHANGING = "t.status, t.created_at, p.title, p.spec_artifact_id"
_HAS_ITEM = "EXISTS (SELECT 1 FROM task_items WHERE task_id = ? AND item_id = ?)"


def open_task(ws: Workspace, task_id: int, item_id: str | None = None) -> OpenTask:
    """The task, its project and dataset (and whether ``item_id`` is one of its items). Once a
    process has read a task in full, a call reads only what can change (the task's status, its
    project's title and spec) in one small query: joining the artifacts for the spec and the
    dataset cost three times as much. Only a call that names an item looks it up."""
    key = (str(ws.store.db_path), int(task_id))
    known = _OPENED.get(key)
    with ws.store.read() as tx:
        if known is not None:
            row = tx.one(
                f"SELECT {_CHANGING}, "
                + ("false " if item_id is None else f"{_HAS_ITEM} ")
                + "FROM tasks t JOIN projects p ON p.name = t.project WHERE t.task_id = ?",
                [*([] if item_id is None else [int(task_id), item_id]), int(task_id)],
            )
            if row is not None and _still(known, row):
                return _reopened(ws, known, row)
        return _open_in_full(ws, tx, key, item_id)


def _still(known: _Opened, row: Sequence[Any]) -> bool:
    """Whether the cached task is this one (same creation) with the same project spec and title."""
    project = dict(zip(PROJECT_COLUMNS, known.project_row, strict=False))
    return bool(
        row[1] == known.created_at
        and row[2] == project["title"]
        and row[3] == project["spec_artifact_id"]
    )


def _reopened(ws: Workspace, known: _Opened, row: Sequence[Any]) -> OpenTask:
    status = _TASK_NAMES.index("status")
    task_row = (*known.task_row[:status], row[0], *known.task_row[status + 1 :])
    project = project_of_row(ws, known.project_row)
    return OpenTask(_task_of(task_row), project, known.dataset, bool(row[4]))


def _open_in_full(ws: Workspace, tx: Tx, key: tuple[str, int], item_id: str | None) -> OpenTask:
    """The task, its item count, project and dataset in one query; remembered for the next call."""
    task_id = key[1]
    row = tx.one(
        f"SELECT {_TASK_COLUMNS}, (SELECT count(*) FROM task_items WHERE task_id = ?), "
        f"{PROJECT_SELECT}, d.content_hash, "
        + ("false " if item_id is None else f"{_HAS_ITEM} ")
        + f"FROM tasks t JOIN {PROJECT_JOIN} ON p.name = t.project "
        "JOIN artifacts d ON d.artifact_id = t.dataset_id WHERE t.task_id = ?",
        [task_id, *([] if item_id is None else [task_id, item_id]), task_id],
    )
    if row is None:
        raise NotFound(
            f"No labeling task #{task_id}.", hint="list them with `loopline tasks PROJECT`"
        )
    width = len(_TASK_NAMES)
    task = _task_of(row[:width])
    project = project_of_row(ws, row[width:-2])
    dataset = _dataset(ws, task.dataset_id, row[-2])
    if len(_OPENED) >= 1024:
        _OPENED.clear()
    _OPENED[key] = _Opened(task.created_at, tuple(row[:width]), tuple(row[width:-2]), dataset)
    return OpenTask(task, project, dataset, bool(row[-1]))


def _dataset(ws: Workspace, artifact_id: int, content_hash: str) -> Artifact:
    key = (str(ws.store.db_path), artifact_id, content_hash)
    found = _ARTIFACTS.get(key)
    if found is None:
        if len(_ARTIFACTS) >= 256:
            _ARTIFACTS.clear()
        found = _ARTIFACTS[key] = get_artifact(ws, artifact_id)
    return found


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
    kept = rows_by_id(path, id_column, item_ids)  # a process reading the version again
    if kept is not None:
        columns, rows = kept
    else:
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
