"""The prediction log: append-only Parquet segments that monitoring reads with DuckDB.

Layout (a fixed contract)::

    <workspace>/logs/<project>/predictions/seg-<utc epoch ms>-<pid>-<counter>.parquet
    <workspace>/logs/<project>/feedback/seg-<utc epoch ms>-<pid>-<counter>.parquet

A segment is written under a temporary name (``.seg-….parquet.tmp``, which ``*.parquet`` does
not match), fsync'ed and renamed into place, so a reader sees whole segments or none. The
service never takes the store's write lock for logging: records go to an in-memory buffer that
a background thread writes out every second (and when it holds ``max_records``), and once more
on shutdown. A SIGKILL loses at most the last second; a finished segment is never touched again.

Prediction columns: ``ts`` (event time, naive UTC), ``received_at``, ``request_id``, ``item_id``,
``model_id`` (artifact id), ``model_version``, ``prediction``, ``confidence`` (max probability),
``p_<class>`` per class, ``latency_ms`` (model time per item), ``spans`` (JSON list, text
projects), ``error`` (NULL when ok), then ``f_<column>`` for every project column except the id
and time columns: the model's inputs first, then the others (NULL when a request did not send
them). Feedback columns: ``ts``, ``received_at``, ``request_id``, ``label``, ``actor``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.projects.spec import ProjectSpec

if TYPE_CHECKING:
    import pandas as pd

    from core.store import Workspace

LOG_DIR = "logs"
PREDICTIONS = "predictions"
FEEDBACK = "feedback"
KINDS = (PREDICTIONS, FEEDBACK)
SEGMENT_GLOB = "*.parquet"
FLUSH_SECONDS = 1.0
MAX_RECORDS = 5_000  # a segment is written early when the buffer holds this many records
MAX_PENDING = 1_000_000  # beyond this (the disk refuses writes) the oldest records are dropped

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
    import duckdb

    ids = sorted(set(wanted))
    if not ids or not segments(root, project, PREDICTIONS):
        return set()
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT request_id FROM read_parquet(?, union_by_name = true) "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            [log_glob(root, project, PREDICTIONS), ids],
        ).fetchall()
    return {str(r[0]) for r in rows}


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


class SegmentWriter:
    """Buffers records (dicts keyed by column) and writes them as segments from a background thread.

    ``append`` only takes a lock for a list extend: it never waits for the disk.
    """

    _counter = itertools.count()

    def __init__(
        self,
        folder: Path,
        schema: pa.Schema,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_records: int = MAX_RECORDS,
    ) -> None:
        self.folder = Path(folder)
        self.schema = schema
        self.flush_seconds = flush_seconds
        self.max_records = max_records
        self._buffer: list[Mapping[str, Any]] = []
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
            self.flush()

    def flush(self) -> int:
        """Write what the buffer holds as one segment now; returns how many records it wrote."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                write_segment(self.folder, pa.Table.from_pylist(batch, schema=self.schema))
            except Exception as exc:  # the disk refused: keep the records for the next try
                self._last_error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._buffer[:0] = batch
                    overflow = len(self._buffer) - MAX_PENDING
                    if overflow > 0:
                        del self._buffer[:overflow]
                        self._dropped += overflow
                return 0
            self._written += len(batch)
            self._segments += 1
            self._last_flush = time.time()
            self._last_error = None
            return len(batch)

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def pending_values(self, column: str) -> set[Any]:
        """``column``'s values in the records not written out yet."""
        with self._lock:
            return {record.get(column) for record in self._buffer}

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
        )


def write_segment(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` under a temporary name, fsync it and rename it to its final unique name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"seg-{int(time.time() * 1000)}-{os.getpid()}-{next(SegmentWriter._counter):06d}.parquet"
    temporary = folder / f".{name}.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
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
