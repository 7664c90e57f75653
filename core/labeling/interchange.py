"""Moving labels in and out: CSV, JSONL and Label Studio's JSON export format.

Imports are all-or-nothing: every record is checked first, and a file with any problem writes
nothing. CSV cells that a spreadsheet would run as a formula are neutralised on export.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.accounts.access import readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import get_artifact, read_file, register, select_artifacts
from core.data.service import IngestRefused, ingest, latest_dataset
from core.data.validate import RowProblem
from core.errors import InvalidInput, expected_one_of
from core.labeling.freeze import load_label_set
from core.labeling.label_studio import (
    MAX_PROBLEMS,
    ExportAnnotation,
    LsTask,
    ParsedExport,
    export_tasks,
    parse_export,
    read_label_config,
    read_mapping,
)
from core.labeling.models import Task, TaskFilter
from core.labeling.queue import ANNOTATION_COLUMNS, check_answer
from core.labeling.review import insert_review, latest_reviews
from core.labeling.tasks import create_task, get_task, item_fields
from core.projects.service import Project, get_project
from core.safe_csv import safe_cell, to_csv
from core.spans.detect import Span, from_dicts
from core.store import Workspace, utcnow

__all__ = ["safe_cell"]  # re-exported: neutralising formulas lives in core.safe_csv

EXPORT_FORMATS = ("csv", "jsonl", "label-studio")
CSV_COLUMNS = ("item_id", "label", "spans", "source", "annotations")


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
    return _export_label_studio(ws, artifact, labels)


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
    ignored: tuple[str, ...] = ()  # controls of a Label Studio config not imported, and why


def parse_label_studio(raw: bytes, id_column: str) -> pd.DataFrame:
    """Label Studio's JSON export → rows of (item_id, annotator, label, spans), in its own names
    (no project to match them against: ``import_label_studio`` does that)."""
    parsed = parse_export(raw, id_column, None, None)
    return parsed.records[["item_id", "annotator", "label", "spans"]]


def import_annotations(
    ws: Workspace,
    project_name: str,
    records: pd.DataFrame,
    actor: Actor,
    *,
    task_id: int | None = None,
    task_name: str = "Imported labels",
    source: str = "import",
    items: Sequence[str] = (),
) -> ImportResult:
    """Add annotations (item_id, annotator, label, spans[, unsure, note]) to a task, all or nothing.
    Without a task, one is made over the items named (and ``items``, unannotated ones to include,
    from the latest dataset version)."""
    with ws.store.transaction():  # one unit: a refused import leaves no new task behind
        return _import(ws, project_name, records, actor, task_id, task_name, source, items)


def _import(
    ws: Workspace,
    project_name: str,
    records: pd.DataFrame,
    actor: Actor,
    task_id: int | None,
    task_name: str,
    source: str,
    items: Sequence[str],
) -> ImportResult:
    project = get_project(ws, project_name)
    if records.empty:
        raise InvalidInput("The file holds no annotations.")
    ids = sorted(set(records["item_id"].astype(str)))
    if task_id is None:
        every = sorted(set(ids) | set(items))
        task = _task_for_import(ws, project_name, records, actor, task_name, every)
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


# --- Label Studio ------------------------------------------------------------------------------


def import_label_studio(
    ws: Workspace,
    project_name: str,
    raw: bytes,
    actor: Actor,
    *,
    config: bytes | None = None,
    mapping: bytes | None = None,
    file_name: str = "export.json",
    task_id: int | None = None,
    task_name: str | None = None,
) -> ImportResult:
    """A Label Studio JSON export into ``task_id`` or a new task, all or nothing: the items from its ``data``
    when the project has none yet (a new dataset version, validated like any ingest), every
    annotator's annotation (cancelled ones skipped), ``ground_truth`` as a reviewer's decision.
    The export and config are kept as a ``data_source``, so an export writes the same tasks back."""
    project = get_project(ws, project_name)
    spans = project.spec.labels.spans
    parsed = parse_export(
        raw,
        project.spec.id_column,
        project.spec.labels.classes,
        spans.types if spans else (),
        config=read_label_config(config) if config is not None else None,
        mapping=read_mapping(mapping) if mapping is not None else None,
        span_field=spans.field if spans else None,
        name=file_name,
    )
    with ws.store.transaction():  # the items, answers, decisions and source: all or nothing
        dataset = latest_dataset(ws, project_name)
        if dataset is None:
            _items_from_data(ws, project, parsed, actor, file_name)
        else:
            _check_items_known(ws, project, dataset, parsed)
        result = import_annotations(
            ws,
            project_name,
            parsed.records,
            actor,
            task_id=task_id,
            task_name=task_name or f"Label Studio: {file_name}",
            source="label-studio",
            items=[t.item_id for t in parsed.tasks],
        )
        _ground_truth(ws, result.task_id, parsed.records, actor)
        _keep_source(ws, project_name, result.task_id, raw, config, parsed, actor)
    return dataclasses.replace(result, ignored=parsed.ignored)


def _items_from_data(
    ws: Workspace, project: Project, parsed: ParsedExport, actor: Actor, file_name: str
) -> None:
    """The export's ``data`` as the project's first dataset version (checked like any ingest)."""
    rows = [{**t.data, project.spec.id_column: t.item_id} for t in parsed.tasks]
    with tempfile.TemporaryDirectory(prefix="loopline-ls-") as folder:
        path = Path(folder) / "items.jsonl"
        path.write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
        try:
            ingest(
                ws, project.spec.name, path, actor, display_name=f"{file_name} (data)", fmt="jsonl"
            )
        except IngestRefused as refused:
            raise InvalidInput(
                f"The tasks' data does not fit project {project.spec.name!r}; nothing was "
                f"imported: {'; '.join(_in_task(p, parsed) for p in refused.problems)}.",
                hint="fix the data in Label Studio, or the project's columns, and import again",
            ) from refused


def _check_items_known(
    ws: Workspace, project: Project, dataset: Artifact, parsed: ParsedExport
) -> None:
    """Into a project with data, every task must name one of its items."""
    ids = [t.item_id for t in parsed.tasks]
    known = item_fields(ws, dataset, ids, project.spec.id_column)
    missing = [t for t in parsed.tasks if t.item_id not in known]
    if missing:
        named = ", ".join(f"task {t.ls_id} (item {t.item_id})" for t in missing[:MAX_PROBLEMS])
        raise InvalidInput(
            f"{len(missing)} Label Studio task(s) name items that {dataset.ref} does not have; "
            f"nothing was imported: {named}.",
            hint="ingest those items first, or name the item field with a mapping (item_id: FIELD)",
        )


def _in_task(problem: RowProblem, parsed: ParsedExport) -> str:
    """An ingest problem, located by the Label Studio task (row N is the N-th task)."""
    row = problem.row
    if row is None or not 1 <= row <= len(parsed.tasks):
        return str(problem)
    task = parsed.tasks[row - 1]
    return f"task {task.ls_id} (item {task.item_id}): {problem.column}: {problem.problem} (expected {problem.expected})"


def _ground_truth(ws: Workspace, task_id: int, records: pd.DataFrame, actor: Actor) -> None:
    """An annotation Label Studio marks ``ground_truth`` settles its item, as a review would."""
    truth = records[records["ground_truth"]]
    if truth.empty:
        return
    project = get_project(ws, get_task(ws, task_id).project)
    fields = item_fields(
        ws,
        get_artifact(ws, get_task(ws, task_id).dataset_id),
        list(truth["item_id"]),
        project.spec.id_column,
    )
    with ws.store.transaction() as tx:
        now = utcnow()
        for row in truth.itertuples(index=False):
            given: list[Span] = list(row.spans) if isinstance(row.spans, list) else []
            spans = check_answer(project, fields[str(row.item_id)], str(row.label), given)
            note = "ground truth in Label Studio"
            insert_review(
                tx, task_id, str(row.item_id), str(row.annotator), str(row.label), spans, note, now
            )
        record(
            tx,
            actor,
            "review",
            project=project.spec.name,
            target=f"task #{task_id}",
            details={"ground_truth": len(truth)},
        )


def _keep_source(
    ws: Workspace,
    project_name: str,
    task_id: int,
    raw: bytes,
    config: bytes | None,
    parsed: ParsedExport,
    actor: Actor,
) -> None:
    files = {"export.json": raw} | ({"label_config.xml": config} if config is not None else {})
    register(
        ws,
        NewArtifact(
            "data_source",
            f"label-studio-task-{task_id}",
            project=project_name,
            files=files,
            metadata={
                "format": "label-studio",
                "task_id": task_id,
                "names": dict(parsed.names),
                "ignored": list(parsed.ignored),
                "tasks": [[t.ls_id, t.item_id] for t in parsed.tasks],
            },
        ),
        actor,
    )


def label_studio_source(ws: Workspace, task_ids: Sequence[int]) -> Artifact | None:
    """The Label Studio export the first of ``task_ids`` that came from one was imported from."""
    with ws.store.read() as tx:
        found = select_artifacts(
            tx,
            "WHERE kind = 'data_source' AND json_extract_string(metadata, '$.format') = 'label-studio' "
            "AND CAST(json_extract(metadata, '$.task_id') AS BIGINT) IN (SELECT unnest(?::BIGINT[])) "
            "ORDER BY artifact_id",
            [list(task_ids)],
        )
    return found[0] if found else None


def _export_label_studio(ws: Workspace, artifact: Artifact, labels: pd.DataFrame) -> bytes:
    """A label set as Label Studio tasks: those of the export it came from (ids, data, order,
    unannotated ones too) and then any other item, one annotation per annotator."""
    project = get_project(ws, str(artifact.project))
    task_ids = [int(t) for t in artifact.metadata.get("tasks", [])]
    answers = _current_answers(ws, artifact, task_ids)
    source = label_studio_source(ws, task_ids)
    tasks: list[LsTask] = []
    original: list[Any] = []
    names: dict[str, Any] = {}
    if source is not None:
        original = json.loads(read_file(ws, source, "export.json").decode("utf-8-sig"))
        names = source.metadata["names"]
        tasks = [
            LsTask(ls_id, item_id, original[index]["data"])
            for index, (ls_id, item_id) in enumerate(source.metadata["tasks"])
        ]
    known = {t.item_id for t in tasks}
    rest = [i for i in dict.fromkeys([*labels["item_id"], *answers]) if i not in known]
    if rest:
        dataset = get_artifact(ws, artifact.metadata["dataset_ids"][-1])
        fields = item_fields(ws, dataset, rest, project.spec.id_column)
        shown = [project.spec.id_column, *project.spec.inputs]
        number = max([0, *[t.ls_id for t in tasks if isinstance(t.ls_id, int)]])
        for offset, item_id in enumerate(rest, start=1):
            data = {k: _jsonable(v) for k, v in fields.get(item_id, {}).items() if k in shown}
            tasks.append(LsTask(number + offset, item_id, data))
    written = export_tasks(tasks, answers, names, original)
    return json.dumps(written, ensure_ascii=False, indent=1).encode("utf-8")


def _current_answers(
    ws: Workspace, artifact: Artifact, task_ids: Sequence[int]
) -> dict[str, list[ExportAnnotation]]:
    """Each annotator's current answer per item, from the label set's frozen annotations; the
    one whose answer a reviewer's decision repeats (as its reviewer) marked ground truth."""
    history = pd.read_parquet(io.BytesIO(read_file(ws, artifact, "annotations.parquet")))
    current = history.sort_values("annotation_id").groupby(["item_id", "annotator"]).tail(1)
    current = current[current["status"] == "labeled"].sort_values(["item_id", "annotation_id"])
    decided = latest_reviews(ws, task_ids)
    reviewer = {item: r.reviewer for (_, item), r in decided.items()}
    answers: dict[str, list[ExportAnnotation]] = {}
    for row in current.itertuples(index=False):
        spans = tuple(from_dicts(json.loads(str(row.spans))))
        answers.setdefault(str(row.item_id), []).append(
            ExportAnnotation(
                str(row.annotator),
                str(row.label),
                spans,
                reviewer.get(str(row.item_id)) == row.annotator,
            )
        )
    return answers


def read_annotation_table(raw: bytes, name: str) -> pd.DataFrame:
    """A CSV of item_id, annotator, label[, spans as JSON, unsure, note] (e.g. operators' verdicts):
    UTF-8 text, a byte-order mark allowed (spreadsheets write one)."""
    try:
        frame = pd.read_csv(io.StringIO(_utf8_text(raw, name)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidInput(
            f"{name}: not a readable CSV file ({str(exc).splitlines()[0]})."
        ) from exc
    missing = [c for c in ("item_id", "annotator", "label") if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{name}: missing column(s) {missing}; expected item_id, annotator, label[, spans, "
            f"unsure, note]. The file has: {', '.join(map(str, frame.columns))}.",
            hint="name the file's own columns with --item-col COL --label-col COL "
            "[--annotator NAME|COL]",
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


ENCODING_HINT = (
    "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8'), or read it with --item-col item_id "
    "--label-col label --annotator annotator --encoding ENCODING"
)


def _utf8_text(raw: bytes, name: str) -> str:
    """A labels file's text: UTF-8 with or without a byte-order mark; UTF-16 and other encodings
    are named, with the line and byte where the text stops being UTF-8."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvalidInput(f"{name}: the file is UTF-16 text, not UTF-8.", hint=ENCODING_HINT)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{name}: the file is not UTF-8 text (line {line}, byte {exc.start} is "
            f"{raw[exc.start]:#04x}).",
            hint=ENCODING_HINT,
        ) from exc
