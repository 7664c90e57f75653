"""What a simulation replays, and when: the rows after the production model's data, their true
labels, the batches per simulated hour, and the feedback that follows the predictions.

The replayed rows are the project's rows whose event time comes after the data the production
model was trained on (the end of its training dataset's time range), or from ``start``; for the
sample projects that is the new-language market (A) and the firmware R24.1 rollout (B), so the
replay carries the context shift. Rows go in event-time order, one request per simulated hour (at
most ``MAX_BATCH`` items; a busy hour sends several), each item with its event time: small requests
as the product's own traffic would send, so the logged latencies vary from request to request and
the monitored p50 / p95 / p99 mean something. For ``rate`` of the predicted items the true label follows about ``delay_days`` later
(uniformly 0.5–1.5 times that), in event-time order between the batches
(:class:`FeedbackSchedule`); labels not due by the end of the window stay pending, as they would
in operation. Nothing here talks to the service: :mod:`core.serving.simulate` does.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.artifacts.service import get_artifact
from core.data.extract import load_entry_point
from core.data.formats import detect_format
from core.data.service import IngestRefused, latest_dataset, load_rows
from core.errors import InvalidInput, expected_one_of
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias
from core.store import Workspace

MAX_BATCH = 20
LABEL_COLUMN = "label"


def replay_rows(
    ws: Workspace, spec: ProjectSpec, start: datetime | str | None, source: Path | None
) -> tuple[pd.DataFrame, datetime]:
    """The rows to replay in event-time order (column ``__ts``) and where the window starts."""
    if spec.time_column is None:
        raise InvalidInput(
            f"Project {spec.name!r} has no time column; a replay needs each row's event time.",
            hint="add `time:` under `data:` in the project file",
        )
    if source is not None:
        frame = read_source(source, spec)
    else:
        dataset = latest_dataset(ws, spec.name)
        if dataset is None:
            raise InvalidInput(f"Project {spec.name!r} has no data yet.", hint="`loopline ingest`")
        frame = load_rows(ws, dataset)
    times = pd.to_datetime(frame[spec.time_column], utc=True).dt.tz_localize(None)
    frame = frame.assign(__ts=times).sort_values(["__ts", spec.id_column], kind="stable")
    if start is not None:
        begin = _naive(pd.Timestamp(start))
        chosen = frame[frame["__ts"] >= begin]
        return chosen.reset_index(drop=True), begin.to_pydatetime()
    cutoff = _trained_until(ws, spec.name)
    chosen = frame[frame["__ts"] > cutoff] if cutoff is not None else frame.iloc[0:0]
    if chosen.empty:
        span = f"{frame['__ts'].min():%Y-%m-%d} – {frame['__ts'].max():%Y-%m-%d}"
        raise InvalidInput(
            f"No rows of {spec.name!r} after {cutoff or 'the production model’s training data'} "
            "to replay: the production model was trained on everything there is.",
            hint=f"pass --start DATE to replay from a date (the data spans {span}), ingest newer "
            "data, or pass --file FILE",
        )
    first = chosen["__ts"].iloc[0].to_pydatetime()
    return chosen.reset_index(drop=True), first


def _trained_until(ws: Workspace, project: str) -> datetime | None:
    """The end of the time range of the data the production model was trained on."""
    model = find_alias(ws, project)
    if model is None or not model.metadata.get("dataset_id"):
        return None
    trained = get_artifact(ws, model.metadata["dataset_id"]).metadata.get("time_range") or {}
    return _naive(pd.Timestamp(trained["to"])).to_pydatetime() if trained.get("to") else None


def _naive(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo is not None else moment


def read_source(path: Path, spec: ProjectSpec) -> pd.DataFrame:
    """The rows of a file, read and checked as an ingest would (refused with its problems)."""
    if not Path(path).is_file():
        raise InvalidInput(f"No file at {path}.", hint="check the path")
    extractor = load_entry_point(spec.extractor)
    fmt = detect_format(Path(path).name, None)
    checked = extractor(Path(path), spec, fmt=fmt, name=Path(path).name)
    if not checked.ok:
        raise IngestRefused(Path(path).name, checked.problems, checked.problem_count)
    return checked.frame


def thin(rows: pd.DataFrame, per_hour: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most ``per_hour`` items per simulated hour (a seeded sample, order kept)."""
    hours = rows["__ts"].dt.floor("h")
    keep = np.zeros(len(rows), dtype=bool)
    for positions in hours.groupby(hours).indices.values():
        if len(positions) > per_hour:
            positions = rng.choice(positions, per_hour, replace=False)
        keep[positions] = True
    return rows[keep].reset_index(drop=True)


def truth_labels(
    rows: pd.DataFrame,
    spec: ProjectSpec,
    truth: Path | str | Mapping[str, str] | None,
    columns: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Item id → true label: the given mapping, a truth file (CSV: id column, ``label``, or the
    file's own columns named by ``columns``: ``{"id": …, "label": …}``), or the rows' own
    ``label`` column."""
    if isinstance(truth, Mapping):
        return {str(k): str(v) for k, v in truth.items()}
    if truth is None:
        if LABEL_COLUMN in rows.columns:
            known = rows[[spec.id_column, LABEL_COLUMN]].dropna()
            return dict(
                zip(known[spec.id_column].astype(str), known[LABEL_COLUMN].astype(str), strict=True)
            )
        raise InvalidInput(
            f"Feedback needs the true labels, and {spec.name!r}'s data has no {LABEL_COLUMN!r} "
            "column.",
            hint=f"pass --truth FILE (a CSV with columns {spec.id_column}, {LABEL_COLUMN}) or "
            "--feedback-rate 0",
        )
    path = Path(truth)
    if not path.is_file():
        raise InvalidInput(f"No truth file at {path}.", hint="check the path")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = _mapped(frame, path, spec, columns or {})
    missing = [c for c in (spec.id_column, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{path.name} has no column {missing[0]!r}; it has: {', '.join(frame.columns)}.",
            hint=f"a truth file has the columns {spec.id_column} and {LABEL_COLUMN}, or name "
            "its own with --truth-id-col and --truth-label-col",
        )
    unknown = sorted(set(frame[LABEL_COLUMN]) - set(spec.labels.classes) - {""})
    if unknown:
        raise InvalidInput(
            f"{path.name} holds labels the project does not know: {unknown[:5]}. "
            f"Expected one of: {', '.join(spec.labels.classes)}."
        )
    return dict(zip(frame[spec.id_column], frame[LABEL_COLUMN], strict=True))


TRUTH_KEYS = ("id", "label")


def _mapped(
    frame: pd.DataFrame, path: Path, spec: ProjectSpec, columns: Mapping[str, str]
) -> pd.DataFrame:
    """The truth file with its own id and label columns renamed to the project's."""
    unknown = sorted(set(columns) - set(TRUTH_KEYS))
    if unknown:
        raise InvalidInput(expected_one_of("truth column key", unknown[0], TRUTH_KEYS))
    for key, column in columns.items():
        if column not in frame.columns:
            raise InvalidInput(
                f"{path.name} has no column {column!r} (given as the {key} column); it has: "
                f"{', '.join(frame.columns)}.",
                hint="name one of the file's columns",
            )
    target = {"id": spec.id_column, "label": LABEL_COLUMN}
    renamed = {column: target[key] for key, column in columns.items()}
    kept = frame.drop(columns=[c for c in renamed.values() if c in frame and c not in renamed])
    return kept.rename(columns=renamed)


def payloads(rows: pd.DataFrame, spec: ProjectSpec) -> list[dict[str, Any]]:
    """Each row as the service's ``inputs`` (JSON values; missing values left out)."""
    columns = [c for c in spec.columns if c.name in rows.columns]
    values = {c.name: rows[c.name].tolist() for c in columns}
    out: list[dict[str, Any]] = []
    for index in range(len(rows)):
        item: dict[str, Any] = {}
        for column in columns:
            value = values[column.name][index]
            if value is None or value is pd.NA or value is pd.NaT:
                continue
            if isinstance(value, float) and math.isnan(value):
                continue
            if column.type == "integer":
                item[column.name] = int(value)
            elif column.type == "number":
                item[column.name] = float(value)
            elif column.type == "boolean":
                item[column.name] = bool(value)
            elif column.type == "datetime":
                item[column.name] = _iso(pd.Timestamp(value))
            else:
                item[column.name] = str(value)
        out.append(item)
    return out


def _iso(moment: pd.Timestamp) -> str:
    return _naive(moment).isoformat() + "Z"


def batches(rows: pd.DataFrame) -> Iterator[tuple[int, int]]:
    """Index ranges in event-time order: one per simulated hour, at most ``MAX_BATCH`` long."""
    hours = rows["__ts"].dt.floor("h").to_numpy()
    begin = 0
    for index in range(1, len(rows) + 1):
        if index == len(rows) or hours[index] != hours[index - 1] or index - begin >= MAX_BATCH:
            yield begin, index
            begin = index


def slice_mix(rows: pd.DataFrame, spec: ProjectSpec) -> dict[str, dict[str, int]]:
    """Value counts of the replay's category slices (the context shift shows here)."""
    out: dict[str, dict[str, int]] = {}
    for slice_spec in spec.slices:
        column = spec.column(slice_spec.column)
        if slice_spec.derive is None and column.type == "category":
            counts = rows[slice_spec.column].astype("string").fillna("(missing)").value_counts()
            out[slice_spec.name] = {str(k): int(v) for k, v in counts.sort_index().items()}
    return out


class FeedbackSchedule:
    """True labels due after their predictions: for ``rate`` of the predicted items whose label is
    known, the label is due ``delay_days`` × uniform(0.5, 1.5) after the item's event time."""

    def __init__(
        self,
        labels: Mapping[str, str],
        *,
        rate: float,
        delay_days: float,
        rng: np.random.Generator,
    ) -> None:
        self.labels = labels
        self.rate = rate
        self.delay_days = delay_days
        self.rng = rng
        self._pending: list[tuple[datetime, str, str]] = []  # (due, request id, label)

    def predicted(self, item_id: str, request_id: str, moment: datetime) -> None:
        """The item was predicted (its event time ``moment``): perhaps schedule its label."""
        label = self.labels.get(item_id)
        if label and self.rng.random() < self.rate:
            delay = self.delay_days * self.rng.uniform(0.5, 1.5)
            heapq.heappush(self._pending, (moment + timedelta(days=delay), request_id, label))

    def due(self, until: datetime) -> list[tuple[datetime, str, str]]:
        """The labels due by ``until``, in the order they fell due: (time, request id, label)."""
        out = []
        while self._pending and self._pending[0][0] <= until:
            out.append(heapq.heappop(self._pending))
        return out

    @property
    def pending(self) -> int:
        return len(self._pending)
