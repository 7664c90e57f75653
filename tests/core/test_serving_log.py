"""The prediction log: segments written under a temporary name and renamed, read with DuckDB.

The SIGKILL test with a real service is in test_serving_http.py."""

from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from core.projects.service import load_spec_text
from core.projects.spec import ProjectSpec
from core.serving.log import (
    FEEDBACK,
    FEEDBACK_SCHEMA,
    PREDICTIONS,
    RequestIdIndex,
    SegmentWriter,
    count_records,
    log_folder,
    log_glob,
    logged_request_ids,
    prediction_schema,
    read_log,
    segments,
    write_segment,
)
from tests.conftest import FIXTURES, ROOT

SEGMENT = re.compile(r"^seg-\d{13}-\d+-\d{6}\.parquet$")


@pytest.fixture(scope="module")
def tickets_spec() -> ProjectSpec:
    return load_spec_text((FIXTURES / "tickets.yaml").read_text(), "tickets.yaml")


@pytest.fixture(scope="module")
def hw_spec() -> ProjectSpec:
    return load_spec_text(
        (ROOT / "sample_data" / "hw-triage" / "project.yaml").read_text(), "project.yaml"
    )


def record(number: int) -> dict[str, object]:
    moment = datetime(2026, 8, 1, 10, 0, number % 60)
    return {
        "ts": moment,
        "received_at": moment,
        "request_id": f"r-{number}",
        "model_id": "7",
        "model_version": 2,
        "prediction": "bug",
        "confidence": 0.8,
        "p_billing": 0.1,
        "p_bug": 0.8,
        "p_sales": 0.1,
        "latency_ms": 0.3,
        "f_text": f"text {number} ünïcode '; DROP TABLE x; --",
        "f_priority": number,
        "f_channel": "mail",
    }


def test_the_prediction_columns_follow_the_contract(hw_spec: ProjectSpec) -> None:
    schema = prediction_schema(hw_spec)
    assert schema.names[:8] == [
        "ts",
        "received_at",
        "request_id",
        "item_id",
        "model_id",
        "model_version",
        "prediction",
        "confidence",
    ]
    assert schema.names[8:15] == [
        "p_software_fault",
        "p_hardware_fault",
        "p_no_fault_found",
        "latency_ms",
        "spans",
        "error",
        "route",  # which model answered (NULL in logs written before shadow and canary)
    ]
    inputs = [f"f_{name}" for name in hw_spec.inputs]
    assert schema.names[15 : 15 + len(inputs)] == inputs
    assert schema.names[15 + len(inputs) :] == ["f_log_id"]  # other columns; not id, not time
    assert FEEDBACK_SCHEMA.names == ["ts", "received_at", "request_id", "label", "actor"]


def test_segments_read_back_with_duckdb_types(tmp_path: Path, tickets_spec: ProjectSpec) -> None:
    folder = log_folder(tmp_path, "tickets", PREDICTIONS)
    writer = SegmentWriter(folder, prediction_schema(tickets_spec), flush_seconds=60)
    writer.append(record(n) for n in range(5))
    assert writer.flush() == 5 and writer.flush() == 0  # nothing left: no empty segment
    writer.append([record(5)])
    writer.close()
    files = segments(tmp_path, "tickets", PREDICTIONS)
    assert len(files) == 2 and all(SEGMENT.match(f.name) for f in files)
    assert not list(folder.glob(".*"))  # no temporary file left behind
    frame = read_log(tmp_path, "tickets")
    assert frame["request_id"].tolist() == [f"r-{n}" for n in range(6)]
    assert frame["f_text"][0] == "text 0 ünïcode '; DROP TABLE x; --"
    assert count_records(tmp_path, "tickets") == 6
    with duckdb.connect() as con:
        types = dict(
            con.execute(
                "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                "read_parquet(?, union_by_name = true))",
                [log_glob(tmp_path, "tickets", PREDICTIONS)],
            ).fetchall()
        )
    assert types["ts"] == "TIMESTAMP" and types["model_version"] == "INTEGER"
    assert types["p_bug"] == "DOUBLE" and types["f_priority"] == "BIGINT"
    assert types["f_amount"] == "DOUBLE" and types["f_vip"] == "BOOLEAN"
    assert types["f_channel"] == "VARCHAR" and types["item_id"] == "VARCHAR"


def test_request_ids_are_found_in_segments_read_once_each(
    tmp_path: Path, tickets_spec: ProjectSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = log_folder(tmp_path, "tickets", PREDICTIONS)
    writer = SegmentWriter(folder, prediction_schema(tickets_spec), flush_seconds=60)
    index = RequestIdIndex(folder)
    assert index.known(["r-1"]) == set()  # no folder yet
    writer.append(record(n) for n in range(3))
    writer.flush()
    reads: list[str] = []
    real = pq.read_table
    monkeypatch.setattr(
        pq, "read_table", lambda path, **kw: reads.append(path.name) or real(path, **kw)
    )
    assert index.known(["r-0", "r-2", "r-9"]) == {"r-0", "r-2"}
    writer.append([record(9)])
    writer.flush()
    assert index.known(["r-0", "r-9", "nope"]) == {"r-0", "r-9"}
    assert len(reads) == 2  # each segment read once, the first not again
    first = segments(tmp_path, "tickets", PREDICTIONS)[0]
    first.unlink()  # compacted or shipped away
    assert index.known(["r-0", "r-9"]) == {"r-9"}
    assert logged_request_ids(tmp_path, "tickets", ["r-9", "r-1"]) == {"r-9"}


def test_a_record_being_written_stays_pending_until_its_segment_is_in_place(
    tmp_path: Path, tickets_spec: ProjectSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback asks "pending here, or in a finished segment?": a record must be one of the two
    at every moment, also while its segment is being written (CI once saw it in neither)."""
    folder = log_folder(tmp_path, "tickets", PREDICTIONS)
    writer = SegmentWriter(folder, prediction_schema(tickets_spec), flush_seconds=60)
    writing, release = threading.Event(), threading.Event()
    real = write_segment

    def slow(where: Path, table: object) -> Path:
        writing.set()
        release.wait(10)
        return real(where, table)  # type: ignore[arg-type]

    monkeypatch.setattr("core.serving.log.write_segment", slow)
    writer.append([record(1)])
    flusher = threading.Thread(target=writer.flush)
    flusher.start()
    assert writing.wait(10)
    assert writer.pending_values("request_id") == {"r-1"}  # out of the buffer, not on disk
    assert logged_request_ids(tmp_path, "tickets", ["r-1"]) == set()
    release.set()
    flusher.join(10)
    assert writer.pending_values("request_id") == set()
    assert logged_request_ids(tmp_path, "tickets", ["r-1"]) == {"r-1"}


def test_past_the_cap_segments_are_scanned_per_question(
    tmp_path: Path, tickets_spec: ProjectSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.serving.log.MAX_INDEXED_IDS", 2)
    folder = log_folder(tmp_path, "tickets", PREDICTIONS)
    writer = SegmentWriter(folder, prediction_schema(tickets_spec), flush_seconds=60)
    for batch in ([0, 1], [2], [3, 4]):
        writer.append(record(n) for n in batch)
        writer.flush()
    assert RequestIdIndex(folder).known(["r-1", "r-2", "r-4", "r-7"]) == {"r-1", "r-2", "r-4"}


def test_an_empty_log_reads_as_nothing(tmp_path: Path) -> None:
    assert read_log(tmp_path, "tickets").empty
    assert read_log(tmp_path, "tickets", FEEDBACK).empty
    assert count_records(tmp_path, "tickets") == 0 and segments(tmp_path, "nope", FEEDBACK) == []


def test_the_flusher_writes_every_interval_and_at_the_size_limit(
    tmp_path: Path, tickets_spec: ProjectSpec
) -> None:
    folder = tmp_path / "log"
    writer = SegmentWriter(folder, prediction_schema(tickets_spec), flush_seconds=0.05).start()
    writer.append([record(1)])
    for _ in range(200):
        if writer.stats().written_records == 1:
            break
        threading.Event().wait(0.01)
    assert writer.stats().written_records == 1
    writer.close()
    big = SegmentWriter(
        folder, prediction_schema(tickets_spec), flush_seconds=3600, max_records=10
    ).start()
    big.append(record(n) for n in range(10))  # reaching max_records wakes the flusher at once
    for _ in range(200):
        if big.stats().written_records == 10:
            break
        threading.Event().wait(0.01)
    assert big.stats().written_records == 10
    big.close()


def test_a_refused_write_keeps_the_records(tmp_path: Path, tickets_spec: ProjectSpec) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("a file where the folder should be")
    writer = SegmentWriter(blocker / "predictions", prediction_schema(tickets_spec))
    writer.append([record(1), record(2)])
    assert writer.flush() == 0
    stats = writer.stats()
    assert stats.pending == 2 and stats.last_error is not None and stats.written_records == 0
    blocker.unlink()
    assert writer.flush() == 2 and writer.stats().last_error is None


def test_concurrent_appends_lose_nothing(tmp_path: Path, tickets_spec: ProjectSpec) -> None:
    writer = SegmentWriter(
        tmp_path / "log", prediction_schema(tickets_spec), flush_seconds=0.01
    ).start()

    def work(base: int) -> None:
        for n in range(500):
            writer.append([record(base + n)])

    threads = [threading.Thread(target=work, args=(i * 1000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in (tmp_path / "log").glob("*.parquet"))
    assert total == 2000
