"""The prediction log: append-only Parquet segments that monitoring reads with DuckDB.

Layout (a fixed contract)::

    <workspace>/logs/<project>/predictions/seg-<utc epoch ms>-<pid>-<counter>.parquet
    <workspace>/logs/<project>/feedback/seg-<utc epoch ms>-<pid>-<counter>.parquet
    <workspace>/logs/<project>/shadow/seg-<utc epoch ms>-<pid>-<counter>.parquet

    <workspace>/logs/<project>/quarantine/q-<utc epoch ms>-<pid>-<counter>.jsonl

A segment is written under a temporary name (``.seg-….parquet.tmp``, which ``*.parquet`` does
not match), fsync'ed and renamed into place, so a reader sees whole segments or none. The
service never takes the store's write lock for logging: records go to an in-memory buffer that
a background thread writes out every second (and when it holds ``max_records``), and once more
on shutdown. A SIGKILL loses at most the last second; a finished segment is never touched again.

A record the segment's schema cannot hold (a value out of its column's range, text that is not
valid Unicode) does not hold up the others: it is set aside in the quarantine, one JSON object
per line (``{"log", "reason", "quarantined_at", "record"}``, written the same atomic way), and
counted; the rest of the batch is written. Records the disk refused stay in the buffer and are
tried again.

Prediction columns: ``ts`` (event time, naive UTC), ``received_at``, ``request_id``, ``item_id``,
``model_id`` (artifact id), ``model_version``, ``prediction``, ``confidence`` (max probability),
``p_<class>`` per class, ``latency_ms`` (model time per item), ``spans`` (JSON list, text
projects), ``error`` (NULL when ok), ``route`` (which model answered: ``production`` or ``canary``;
NULL in logs written before shadow and canary serving), then ``f_<column>`` for every project column except the id
and time columns: the model's inputs first, then the others (NULL when a request did not send
them). The shadow log has the same columns: the scores of the model that did *not* answer a
request (a shadow candidate, or production beside a canary), ``route`` ``shadow``, joined to the
answer by ``request_id`` (its ``f_`` columns stay empty: the inputs are the answer's); monitoring's
windows never read it. Feedback columns: ``ts``, ``received_at``, ``request_id``, ``label``, ``actor``.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from core.projects.spec import ProjectSpec

if TYPE_CHECKING:
    import pandas as pd

    from core.store import Workspace

LOG_DIR = "logs"
PREDICTIONS = "predictions"
FEEDBACK = "feedback"
SHADOW = "shadow"
KINDS = (PREDICTIONS, FEEDBACK, SHADOW)
ROUTES = ("production", "canary", "shadow")
QUARANTINE = "quarantine"
SEGMENT_GLOB = "*.parquet"
QUARANTINE_GLOB = "*.jsonl"
FLUSH_SECONDS = 1.0
MAX_RECORDS = 5_000  # a segment is written early when the buffer holds this many records
MAX_PENDING = 1_000_000  # beyond this (the disk refuses writes) the oldest records are dropped
log = logging.getLogger("loopline.serving")

_TS = pa.timestamp("us")
_TYPES: dict[str, pa.DataType] = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "datetime": _TS,
}
FEEDBACK_SCHEMA = pa.schema(
    [
        ("ts", _TS),
        ("received_at", _TS),
        ("request_id", pa.string()),
        ("label", pa.string()),
        ("actor", pa.string()),
    ]
)


def class_column(name: str) -> str:
    return f"p_{name}"


def input_column(name: str) -> str:
    return f"f_{name}"


def logged_fields(spec: ProjectSpec) -> list[str]:
    """Project columns logged as ``f_<column>``: the model's inputs first, then the others."""
    skip = {spec.id_column, spec.time_column}
    rest = [c for c in spec.column_names if c not in skip and c not in spec.inputs]
    return [*spec.inputs, *rest]


def prediction_schema(spec: ProjectSpec) -> pa.Schema:
    fields: list[tuple[str, pa.DataType]] = [
        ("ts", _TS),
        ("received_at", _TS),
        ("request_id", pa.string()),
        ("item_id", pa.string()),
        ("model_id", pa.string()),
        ("model_version", pa.int32()),
        ("prediction", pa.string()),
        ("confidence", pa.float64()),
        *[(class_column(c), pa.float64()) for c in spec.labels.classes],
        ("latency_ms", pa.float64()),
        ("spans", pa.string()),
        ("error", pa.string()),
        ("route", pa.string()),
    ]
    for name in logged_fields(spec):
        fields.append((input_column(name), _TYPES.get(spec.column(name).type, pa.string())))
    return pa.schema(fields)


def log_folder(root: Workspace | Path, project: str, kind: str) -> Path:
    """``<workspace>/logs/<project>/<kind>``; kind is ``predictions`` or ``feedback``."""
    if kind not in KINDS:
        raise ValueError(f"unknown log kind {kind!r}")
    base = root if isinstance(root, Path) else root.root
    return Path(base) / LOG_DIR / project / kind


def log_glob(root: Workspace | Path, project: str, kind: str) -> str:
    """The glob to hand to DuckDB's ``read_parquet(?, union_by_name=true)``."""
    return str(log_folder(root, project, kind) / SEGMENT_GLOB)


def segments(root: Workspace | Path, project: str, kind: str) -> list[Path]:
    folder = log_folder(root, project, kind)
    return sorted(folder.glob(SEGMENT_GLOB)) if folder.is_dir() else []


def quarantine_folder(root: Workspace | Path, project: str) -> Path:
    """``<workspace>/logs/<project>/quarantine``: records the log could not hold, with why."""
    base = root if isinstance(root, Path) else root.root
    return Path(base) / LOG_DIR / project / QUARANTINE


def read_quarantine(root: Workspace | Path, project: str) -> list[dict[str, Any]]:
    """Every quarantined record of the project (``log``, ``reason``, ``quarantined_at``,
    ``record``), oldest file first."""
    folder = quarantine_folder(root, project)
    if not folder.is_dir():
        return []
    entries: list[dict[str, Any]] = []
    for path in sorted(folder.glob(QUARANTINE_GLOB)):
        with open(path, encoding="utf-8") as handle:
            entries.extend(json.loads(line) for line in handle if line.strip())
    return entries


def count_quarantined(root: Workspace | Path, project: str) -> int:
    """How many records of the project were quarantined, by any service process."""
    folder = quarantine_folder(root, project)
    if not folder.is_dir():
        return 0
    total = 0
    for path in folder.glob(QUARANTINE_GLOB):
        with open(path, "rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


@dataclass(frozen=True)
class Quarantine:
    """How many log records of a project were set aside, and where (relative to the workspace)."""

    count: int
    folder: Path


def quarantine_summary(root: Workspace | Path, project: str) -> Quarantine:
    """The project's quarantine: its record count and its folder inside the workspace."""
    base = root if isinstance(root, Path) else root.root
    folder = quarantine_folder(root, project)
    return Quarantine(count_quarantined(root, project), folder.relative_to(base))


def read_log(root: Workspace | Path, project: str, kind: str = PREDICTIONS) -> pd.DataFrame:
    """Every record of a log in event-time order (an empty frame when nothing was logged)."""
    import duckdb
    import pandas as pd

    if not segments(root, project, kind):
        return pd.DataFrame()
    with duckdb.connect() as con:
        return con.execute(
            "SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY ts, received_at",
            [log_glob(root, project, kind)],
        ).df()


def logged_request_ids(root: Workspace | Path, project: str, wanted: Iterable[str]) -> set[str]:
    """Which of ``wanted`` the finished prediction segments hold (by any service process)."""
    folder = log_folder(root, project, PREDICTIONS)
    with _INDEXES_LOCK:
        index = _INDEXES.setdefault(folder, RequestIdIndex(folder))
    return index.known(wanted)


class RequestIdIndex:
    """The request ids of a log folder's finished segments, each segment read once: a segment
    never changes after it is renamed into place, so one read per segment (its ``request_id``
    column only) serves every later question, where a scan of the whole log per question made
    feedback slower the longer a service ran. A segment that goes away (compaction) is
    forgotten; past ``MAX_INDEXED_IDS`` the segments not yet read are scanned per question."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._by_segment: dict[tuple[str, int, int], frozenset[str]] = {}
        self._ids: set[str] = set()
        self._count = 0

    def known(self, wanted: Iterable[str]) -> set[str]:
        ids = set(wanted)
        if not ids:
            return set()
        with self._lock:
            unread = self._refresh()
            found = ids & self._ids
            rest = sorted(ids - found)
        if rest and unread:
            found |= _scan_request_ids(unread, rest)
        return found

    def _refresh(self) -> list[Path]:
        """Read the segments not seen yet (up to the cap); the ones left unread."""
        present: dict[tuple[str, int, int], Path] = {}
        for path in sorted(self.folder.glob(SEGMENT_GLOB)) if self.folder.is_dir() else ():
            try:
                stat = path.stat()
            except FileNotFoundError:  # compacted away just now
                continue
            present[(path.name, stat.st_size, stat.st_mtime_ns)] = path
        if self._by_segment.keys() - present.keys():
            self._by_segment = {k: v for k, v in self._by_segment.items() if k in present}
            self._ids = set().union(*self._by_segment.values())
            self._count = sum(len(v) for v in self._by_segment.values())
        unread: list[Path] = []
        for key, path in present.items():
            if key in self._by_segment:
                continue
            if self._count >= MAX_INDEXED_IDS:
                unread.append(path)
                continue
            ids = _segment_request_ids(path)
            if ids is None:  # gone meanwhile (shipped, compacted): nothing to remember
                continue
            self._by_segment[key] = ids
            self._ids |= ids
            self._count += len(ids)
        return unread


MAX_INDEXED_IDS = 2_000_000  # ~150 MB of ids held per log folder at most
_INDEXES: dict[Path, RequestIdIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _segment_request_ids(path: Path) -> frozenset[str] | None:
    try:
        table = pq.read_table(path, columns=["request_id"])
    except OSError:
        return None
    except (KeyError, ValueError):  # a segment without the column holds no request id
        return frozenset()
    return frozenset(str(v) for v in table.column(0).to_pylist() if v is not None)


def _scan_request_ids(paths: Sequence[Path], ids: Sequence[str]) -> set[str]:
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT request_id FROM read_parquet(?, union_by_name = true) "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            [[str(p) for p in paths], list(ids)],
        ).fetchall()
    return {str(r[0]) for r in rows}


def served_count(root: Workspace | Path, project: str, model_id: int) -> int:
    """How many predictions model ``model_id`` made without error, answered or in the shadow
    (finished segments of every service process)."""
    import duckdb

    globs = [
        log_glob(root, project, k) for k in (PREDICTIONS, SHADOW) if segments(root, project, k)
    ]
    if not globs:
        return 0
    with duckdb.connect() as con:
        row = con.execute(
            "SELECT count(*) FROM read_parquet(?, union_by_name = true) "
            "WHERE CAST(model_id AS VARCHAR) = ? AND error IS NULL",
            [globs, str(model_id)],
        ).fetchone()
    return int(row[0]) if row else 0


def count_records(root: Workspace | Path, project: str, kind: str = PREDICTIONS) -> int:
    """How many records the finished segments hold (from the Parquet footers, cheap)."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in segments(root, project, kind))


@dataclass(frozen=True)
class WriterStats:
    pending: int
    written_records: int
    segments: int
    dropped: int
    last_flush: float | None
    last_error: str | None
    quarantined: int = 0


Rejected = tuple[Mapping[str, Any], str]  # a record the schema cannot hold, and why


class SegmentWriter:
    """Buffers records (dicts keyed by column) and writes them as segments from a background thread.

    ``append`` only takes a lock for a list extend: it never waits for the disk. A record the
    schema cannot hold goes to ``quarantine`` (default: ``quarantine`` beside ``folder``).
    """

    _counter = itertools.count()

    def __init__(
        self,
        folder: Path,
        schema: pa.Schema,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_records: int = MAX_RECORDS,
        quarantine: Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.schema = schema
        self.quarantine = Path(quarantine) if quarantine else self.folder.parent / QUARANTINE
        self.flush_seconds = flush_seconds
        self.max_records = max_records
        self._buffer: list[Mapping[str, Any]] = []
        # taken from the buffer for a segment not renamed into place yet: still pending
        self._writing: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one segment at a time (flusher or a final flush)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written = 0
        self._segments = 0
        self._dropped = 0
        self._last_flush: float | None = None
        self._last_error: str | None = None
        self._rejected: list[Rejected] = []  # waiting for the quarantine (its write failed)
        self._quarantined = 0

    # -- producer side ---------------------------------------------------------------------------
    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._buffer.extend(records)
            size = len(self._buffer)
        if size >= self.max_records:
            self._wake.set()

    # -- the flusher -----------------------------------------------------------------------------
    def start(self) -> SegmentWriter:
        if self._thread is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # pyarrow's first conversion loads its pandas support (~0.4 s holding the GIL):
            # pay it now, not in the first flush while requests are waiting
            pa.Table.from_pylist([], schema=self.schema)
            self._thread = threading.Thread(
                target=self._run, name=f"log-flusher:{self.folder.name}", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a bug: say so and keep flushing (the records stay buffered)
                log.exception("writing the %s log failed", self.folder.name)

    def flush(self) -> int:
        """Write what the buffer holds as one segment now; returns how many records it wrote.

        Records the schema cannot hold are quarantined; the others are written. When the disk
        refuses the segment, its records go back to the buffer for the next try."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                self._writing = batch  # still pending to readers until its segment is in place
            try:
                kept, tables, rejected = convert(batch, self.schema)
                self._set_aside(rejected)
                if not kept:
                    return 0
                try:
                    write_segment(self.folder, pa.concat_tables(tables))
                except Exception as exc:  # the disk refused: keep the records for the next try
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    self._put_back(kept)
                    return 0
            finally:
                with self._lock:
                    self._writing = []
            self._written += len(kept)
            self._segments += 1
            self._last_flush = time.time()
            self._last_error = None
            return len(kept)

    def _put_back(self, records: list[Mapping[str, Any]]) -> None:
        with self._lock:
            self._buffer[:0] = records
            overflow = len(self._buffer) - MAX_PENDING
            if overflow > 0:
                del self._buffer[:overflow]
                self._dropped += overflow

    def _set_aside(self, rejected: Sequence[Rejected]) -> None:
        """Quarantine ``rejected`` (and what an earlier failed try left); kept on failure."""
        waiting = [*self._rejected, *rejected]
        if not waiting:
            return
        if rejected:
            record, reason = rejected[0]
            log.warning(
                "%s log: %d record(s) quarantined, the first (request %s) because %s",
                self.folder.name,
                len(rejected),
                str(record.get("request_id"))[:200],
                reason,
            )
        try:
            write_quarantine(self.quarantine, self.folder.name, waiting)
        except OSError as exc:
            self._rejected = waiting
            self._last_error = f"quarantine: {type(exc).__name__}: {exc}"
            return
        self._rejected = []
        self._quarantined += len(waiting)

    def close(self) -> None:
        """Stop the flusher and write what is left; what the disk still refuses is quarantined
        (it would be lost with the process otherwise)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
        with self._write_lock:
            with self._lock:
                left, self._buffer = self._buffer, []
            reason = f"not written at shutdown: {self._last_error}"
            self._set_aside([(record, reason) for record in left])

    def pending_values(self, column: str) -> set[Any]:
        """``column``'s values in the records not written out yet: buffered, or in the segment
        being written (a reader of the finished segments cannot see those until its rename)."""
        with self._lock:
            return {record.get(column) for record in (*self._writing, *self._buffer)}

    def stats(self) -> WriterStats:
        with self._lock:
            pending = len(self._buffer)
        return WriterStats(
            pending,
            self._written,
            self._segments,
            self._dropped,
            self._last_flush,
            self._last_error,
            self._quarantined,
        )


def convert(
    records: list[Mapping[str, Any]], schema: pa.Schema
) -> tuple[list[Mapping[str, Any]], list[pa.Table], list[Rejected]]:
    """``records`` as tables of ``schema``: the records that fit, their tables, and the records
    that do not with why. One conversion when all fit; else halves, down to the culprits."""
    if not records:
        return [], [], []
    try:
        return records, [pa.Table.from_pylist(records, schema=schema)], []
    except Exception as exc:  # a value the schema cannot hold (pyarrow raises several kinds)
        if len(records) == 1:
            return [], [], [(records[0], f"{type(exc).__name__}: {exc}")]
    middle = len(records) // 2
    first, second = convert(records[:middle], schema), convert(records[middle:], schema)
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]


def write_quarantine(folder: Path, kind: str, rejected: Sequence[Rejected]) -> Path:
    """Append-only like the segments: one new file per call, written under a temporary name,
    fsync'ed and renamed."""
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [
        json.dumps(
            {"log": kind, "reason": reason, "quarantined_at": now, "record": _plain(record)},
            ensure_ascii=True,
            allow_nan=False,
        )
        for record, reason in rejected
    ]
    name = f"q-{int(time.time() * 1000)}-{os.getpid()}-{next(SegmentWriter._counter):06d}.jsonl"
    return _write_atomically(folder, name, ("\n".join(lines) + "\n").encode("ascii"))


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO text, NaN and infinities as text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def write_segment(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` under a temporary name, fsync it and rename it to its final unique name."""
    name = f"seg-{int(time.time() * 1000)}-{os.getpid()}-{next(SegmentWriter._counter):06d}.parquet"
    return _write_atomically(
        folder, name, lambda handle: pq.write_table(table, handle, compression="zstd")
    )


def _write_atomically(
    folder: Path, name: str, content: bytes | Callable[[BinaryIO], object]
) -> Path:
    """``content`` (bytes, or a function writing to a binary handle) as ``folder/name``: written
    under a temporary name, fsync'ed, renamed; a reader sees the whole file or none."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.tmp"
    try:
        with open(temporary, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
        final = folder / name
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return final


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
