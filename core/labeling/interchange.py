"""Moving labels in and out: CSV, JSONL and Label Studio's JSON export format.

Imports are all-or-nothing: every record is checked first, and a file with any problem writes
nothing. CSV cells that a spreadsheet would run as a formula are neutralised on export.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.accounts.access import readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.service import get_artifact
from core.errors import InvalidInput, expected_one_of
from core.labeling.freeze import load_label_set
from core.labeling.models import Task, TaskFilter
from core.labeling.queue import ANNOTATION_COLUMNS, check_answer
from core.labeling.tasks import create_task, get_task, item_fields
from core.projects.service import Project, get_project
from core.safe_csv import safe_cell, to_csv
from core.spans.detect import Span
from core.store import Workspace, utcnow

__all__ = ["safe_cell"]  # re-exported: neutralising formulas lives in core.safe_csv

EXPORT_FORMATS = ("csv", "jsonl", "label-studio")
CSV_COLUMNS = ("item_id", "label", "spans", "source", "annotations")
MAX_IMPORT_BYTES = 200 << 20
MAX_PROBLEMS = 50


def export_label_set(ws: Workspace, ref: int | str, fmt: str) -> bytes:
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(expected_one_of("export format", fmt, EXPORT_FORMATS))
    artifact = get_artifact(ws, ref)
    readable(ws, None, "export", artifact.project)
    labels = load_label_set(ws, artifact)
    if fmt == "csv":
        # RFC 4180: a cell with a line break or carriage return is quoted, never splits its row
        return to_csv(CSV_COLUMNS, labels[list(CSV_COLUMNS)].itertuples(index=False, name=None))
    if fmt == "jsonl":
        lines = [
            json.dumps(
                {
                    "item_id": r["item_id"],
                    "label": r["label"],
                    "spans": json.loads(r["spans"]),
                    "source": r["source"],
                },
                ensure_ascii=False,
            )
            for r in labels.to_dict("records")
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")
    project = get_project(ws, str(artifact.project))
    dataset = get_artifact(ws, artifact.metadata["dataset_ids"][-1])
    fields = item_fields(ws, dataset, labels["item_id"].tolist(), project.spec.id_column)
    shown = [project.spec.id_column, *project.spec.inputs]
    span_field = project.spec.labels.spans.field if project.spec.labels.spans else None
    tasks = []
    for number, row in enumerate(labels.to_dict("records"), start=1):
        data = {
            k: _jsonable(v) for k, v in fields.get(str(row["item_id"]), {}).items() if k in shown
        }
        result: list[dict[str, Any]] = [
            {
                "id": f"{row['item_id']}-label",
                "type": "choices",
                "from_name": "label",
                "to_name": span_field or "item",
                "value": {"choices": [row["label"]]},
            }
        ]
        for index, span in enumerate(json.loads(row["spans"])):
            result.append(
                {
                    "id": f"{row['item_id']}-span{index}",
                    "type": "labels",
                    "from_name": "spans",
                    "to_name": span_field or "item",
                    "value": {
                        "start": span["start"],
                        "end": span["end"],
                        "text": span["text"],
                        "labels": [span["type"]],
                    },
                }
            )
        tasks.append(
            {
                "id": number,
                "data": data,
                "annotations": [
                    {
                        "id": number,
                        "completed_by": {"email": f"{row['source']}@loopline"},
                        "result": result,
                        "was_cancelled": False,
                        "created_at": str(artifact.created_at),
                    }
                ],
                "meta": {"label_set": artifact.ref, "source": row["source"]},
            }
        )
    return json.dumps(tasks, ensure_ascii=False, indent=1).encode("utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class ImportResult:
    task_id: int
    annotations: int
    items: int
    annotators: tuple[str, ...]


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        return str(
            completed_by.get("email")
            or completed_by.get("username")
            or f"ls-user-{completed_by.get('id')}"
        )
    return (
        f"ls-user-{completed_by}"
        if isinstance(completed_by, int)
        else str(completed_by or "label-studio")
    )


def parse_label_studio(raw: bytes, id_column: str) -> pd.DataFrame:
    """Label Studio's JSON export → rows of (item_id, annotator, label, spans)."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"The file is {len(raw) >> 20} MiB; imports take at most {MAX_IMPORT_BYTES >> 20} MiB."
        )
    try:
        tasks = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"Not a Label Studio JSON export: {exc}.",
            hint="export with Label Studio's 'JSON' format",
        ) from exc
    if not isinstance(tasks, list):
        raise InvalidInput("Not a Label Studio JSON export: expected a list of tasks.")
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            problems.append(f"task {index}: no 'data' object")
            continue
        item_id = data.get(id_column, data.get("item_id"))
        if item_id is None:
            problems.append(
                f"task {index}: data has no {id_column!r} (or 'item_id') to name the item"
            )
            continue
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            problems.append(f"task {index} (item {item_id}): 'annotations' is not a list")
            continue
        for number, annotation in enumerate(annotations):
            where = f"task {index} (item {item_id}), annotation {number}"
            if not isinstance(annotation, dict):
                problems.append(f"{where}: not an object")
                continue
            if annotation.get("was_cancelled"):
                continue
            label, spans, bad = _read_results(annotation.get("result") or [], where)
            problems.extend(bad)
            if bad:
                continue
            if label is None:
                problems.append(f"task {index} (item {item_id}): an annotation without a choice")
                continue
            records.append(
                {
                    "item_id": str(item_id),
                    "annotator": _annotator(annotation.get("completed_by")),
                    "label": label,
                    "spans": spans,
                }
            )
    if problems:
        raise InvalidInput(
            f"The Label Studio file has {len(problems)} problem(s); nothing was imported: "
            + "; ".join(problems[:MAX_PROBLEMS])
        )
    return pd.DataFrame(records, columns=["item_id", "annotator", "label", "spans"])


def _read_results(results: Any, where: str) -> tuple[str | None, list[Span], list[str]]:
    """An annotation's ``result`` list → (label, spans, problems), checking every type."""
    if not isinstance(results, list):
        return None, [], [f"{where}: 'result' is not a list"]
    label: str | None = None
    spans: list[Span] = []
    problems: list[str] = []
    for number, result in enumerate(results):
        here = f"{where}, result {number}"
        if not isinstance(result, dict):
            problems.append(f"{here}: not an object")
            continue
        value = result.get("value") or {}
        if not isinstance(value, dict):
            problems.append(f"{here}: 'value' is not an object")
            continue
        kind = result.get("type")
        if kind == "choices" and value.get("choices"):
            choices = value["choices"]
            if not isinstance(choices, list):
                problems.append(f"{here}: 'value.choices' is not a list")
                continue
            label = str(choices[0])
        elif kind == "labels" and value.get("labels"):
            labels = value["labels"]
            if not isinstance(labels, list):
                problems.append(f"{here}: 'value.labels' is not a list")
                continue
            try:
                spans.append(
                    Span(
                        int(value["start"]),
                        int(value["end"]),
                        str(labels[0]),
                        str(value.get("text") or ""),
                    )
                )
            except (KeyError, TypeError, ValueError, OverflowError):
                problems.append(f"{here}: a span without whole-number 'start' and 'end'")
    return label, spans, problems


def import_annotations(
    ws: Workspace,
    project_name: str,
    records: pd.DataFrame,
    actor: Actor,
    *,
    task_id: int | None = None,
    task_name: str = "Imported labels",
    source: str = "import",
) -> ImportResult:
    """Add annotations (item_id, annotator, label, spans[, unsure, note]) to a task, all or nothing.
    Without a task, one is made over the items named (from the latest dataset version)."""
    with ws.store.transaction():  # one unit: a refused import leaves no new task behind
        return _import(ws, project_name, records, actor, task_id, task_name, source)


def _import(
    ws: Workspace,
    project_name: str,
    records: pd.DataFrame,
    actor: Actor,
    task_id: int | None,
    task_name: str,
    source: str,
) -> ImportResult:
    project = get_project(ws, project_name)
    if records.empty:
        raise InvalidInput("The file holds no annotations.")
    ids = sorted(set(records["item_id"].astype(str)))
    if task_id is None:
        task = _task_for_import(ws, project_name, records, actor, task_name, ids)
    else:
        task = get_task(ws, task_id)
        if task.project != project_name:
            raise InvalidInput(f"Task #{task.task_id} belongs to project {task.project!r}.")
    rows = _checked_records(ws, project, task, records, ids)
    columns = list(zip(*rows, strict=True))
    with ws.store.transaction() as tx:
        tx.execute(
            f"""
            INSERT INTO annotations ({ANNOTATION_COLUMNS})
            SELECT nextval('annotation_ids'), ?, i, a, 'labeled', l, s::JSON, u, n, NULL, ?, ?
            FROM (SELECT unnest(?::VARCHAR[]) AS i, unnest(?::VARCHAR[]) AS a, unnest(?::VARCHAR[]) AS l,
                         unnest(?::VARCHAR[]) AS s, unnest(?::BOOLEAN[]) AS u, unnest(?::VARCHAR[]) AS n)
            """,
            [task.task_id, source, utcnow(), *[list(c) for c in columns]],
        )
        record(
            tx,
            actor,
            "annotations.import",
            project=project_name,
            target=f"task #{task.task_id}",
            details={"annotations": len(rows), "source": source},
        )
    return ImportResult(
        task.task_id, len(rows), len(set(columns[0])), tuple(sorted(set(columns[1])))
    )


def _task_for_import(
    ws: Workspace,
    project_name: str,
    records: pd.DataFrame,
    actor: Actor,
    task_name: str,
    ids: list[str],
) -> Task:
    """A new task over the items named; an item several people labeled needs that many answers."""
    task = create_task(
        ws, project_name, actor, name=task_name, task_filter=TaskFilter(item_ids=tuple(ids))
    )
    per_item = records.groupby("item_id")["annotator"].nunique()
    several = per_item[per_item > 1]
    if len(several):
        with ws.store.transaction() as tx:
            tx.execute(
                "UPDATE task_items SET required = least(5, n) FROM (SELECT unnest(?::VARCHAR[]) AS i, "
                "unnest(?::INTEGER[]) AS n) WHERE task_id = ? AND item_id = i",
                [[str(i) for i in several.index], [int(n) for n in several], task.task_id],
            )
    return task


def _checked_records(
    ws: Workspace, project: Project, task: Task, records: pd.DataFrame, ids: list[str]
) -> list[tuple[Any, ...]]:
    """Each record as a row to insert (item, annotator, label, spans JSON, unsure, note), checked
    against its item in the task; refused, naming up to ``MAX_PROBLEMS`` problems, if any fails."""
    fields = item_fields(ws, get_artifact(ws, task.dataset_id), ids, project.spec.id_column)
    with ws.store.read() as tx:
        in_task = {
            r[0]
            for r in tx.rows("SELECT item_id FROM task_items WHERE task_id = ?", [task.task_id])
        }
    problems: list[str] = []
    rows: list[tuple[Any, ...]] = []
    for number, record_ in enumerate(records.itertuples(index=False), start=1):
        item_id = str(record_.item_id)
        if item_id not in in_task or item_id not in fields:
            problems.append(f"record {number}: item {item_id!r} is not in task #{task.task_id}")
            continue
        spans: Sequence[Span] = record_.spans if isinstance(record_.spans, list) else []
        try:
            checked = check_answer(project, fields[item_id], str(record_.label), spans)
        except InvalidInput as exc:
            problems.append(f"record {number} (item {item_id}): {exc}")
            continue
        rows.append(
            (
                item_id,
                str(record_.annotator),
                str(record_.label),
                json.dumps([s.as_dict() for s in checked], ensure_ascii=False),
                bool(getattr(record_, "unsure", False)),
                str(getattr(record_, "note", "") or ""),
            )
        )
    if problems:
        raise InvalidInput(
            f"{len(problems)} of {len(records)} annotations are invalid; nothing was imported: "
            + "; ".join(problems[:MAX_PROBLEMS])
        )
    return rows


def read_annotation_table(raw: bytes, name: str) -> pd.DataFrame:
    """A CSV of item_id, annotator, label[, spans as JSON, unsure, note] (e.g. operators' verdicts)."""
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidInput(
            f"{name}: not a readable CSV file ({str(exc).splitlines()[0]})."
        ) from exc
    missing = [c for c in ("item_id", "annotator", "label") if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{name}: missing column(s) {missing}; expected item_id, annotator, label[, spans, unsure, note]."
        )
    spans = []
    for number, text in enumerate(frame.get("spans", pd.Series([""] * len(frame))), start=2):
        try:
            spans.append(
                [
                    Span(int(s["start"]), int(s["end"]), str(s["type"]), str(s.get("text", "")))
                    for s in (json.loads(text) if text else [])
                ]
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{name}: row {number}: spans is not a JSON list of {{type, start, end}} ({exc})."
            ) from exc
    out = frame.copy()
    out["spans"] = pd.Series(spans, index=frame.index, dtype=object)
    if "unsure" in out:
        out["unsure"] = out["unsure"].str.lower().isin(["true", "1", "yes"])
    return out
