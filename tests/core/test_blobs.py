"""The content-addressed object folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.store.blobs import BlobStore


def test_blob_is_named_by_its_hash_and_written_once(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_bytes(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    path = blobs.path(digest)
    assert path.read_bytes() == b"hello"
    assert path.parent.name == digest[:2]
    inode = path.stat().st_ino
    assert blobs.put_bytes(b"hello") == digest
    assert path.stat().st_ino == inode  # not rewritten (only touched, see verify --prune)
    assert not path.stat().st_mode & 0o222  # read-only on disk
    assert list(blobs.iter_digests()) == [digest]
    assert blobs.leftover_temp_files() == []


def test_put_file_streams_and_matches_put_bytes(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    blobs = BlobStore(tmp_path / "objects")
    assert blobs.put_file(source) == hashlib.sha256(source.read_bytes()).hexdigest()


def test_verify_reports_missing_and_changed(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_bytes(b"data")
    assert blobs.verify(digest) is None
    path = blobs.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    assert (blobs.verify(digest) or "").startswith("content changed")
    path.unlink()
    assert blobs.verify(digest) == "missing"


def test_a_failed_write_names_the_folder_and_what_to_do(tmp_path: Path) -> None:
    """Writing into objects/ can fail for root too: here the blob's shard is a file, not a folder."""
    from core.errors import CoreError

    blobs = BlobStore(tmp_path / "objects")
    digest = hashlib.sha256(b"hello").hexdigest()
    (tmp_path / "objects").mkdir()
    blobs.path(digest).parent.write_text("not a folder")
    with pytest.raises(CoreError) as failed:
        blobs.put_bytes(b"hello")
    assert failed.value.message == (
        f"the workspace folder is not writable: {blobs.path(digest)}: Not a directory"
    )
    assert failed.value.hint == (
        f"check that {tmp_path / 'objects'} is a folder this user may write to, on a disk with "
        "free space (`df -h`)"
    )


def _bytes_read() -> int:
    """What this process has read through read(2) so far (Linux' own count)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as settled after 20 ms (the clock that stamps a file's
    change time ticks every few ms), instead of the 2 s the store waits for."""
    import time

    import core.store.blobs

    monkeypatch.setattr(core.store.blobs, "_SETTLED_NS", 20_000_000)
    time.sleep(0.05)


def test_put_file_reads_the_file_once_and_not_again_while_it_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "big.bin"
    content = bytes(range(256)) * (16 << 12)  # 16 MiB
    source.write_bytes(content)
    _settle(monkeypatch)
    blobs = BlobStore(tmp_path / "objects")
    before = _bytes_read()
    digest = blobs.put_file(source)
    first = _bytes_read() - before
    assert digest == hashlib.sha256(content).hexdigest()
    assert blobs.path(digest).read_bytes() == content
    assert len(content) <= first < 1.5 * len(content)  # hashed while copied: one pass
    before = _bytes_read()
    assert blobs.put_file(source) == digest
    assert _bytes_read() - before < 1 << 20  # unchanged: known, not read again
    assert blobs.leftover_temp_files() == []


def test_put_file_reads_a_changed_file_again_even_with_its_size_and_time_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    source = tmp_path / "data.csv"
    source.write_bytes(b"id,x\n1,2\n")
    _settle(monkeypatch)
    blobs = BlobStore(tmp_path / "objects")
    first = blobs.put_file(source)
    stat = source.stat()
    source.write_bytes(b"id,x\n1,3\n")  # same size
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    second = blobs.put_file(source)
    assert second == hashlib.sha256(b"id,x\n1,3\n").hexdigest() != first


def test_a_file_changed_just_before_it_is_stored_is_read_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its change time is too close to the hashing to tell a later write in the same clock tick
    apart (here "just before" is within the hour)."""
    import core.store.blobs

    monkeypatch.setattr(core.store.blobs, "_SETTLED_NS", 3600 * 10**9)
    source = tmp_path / "fresh.bin"
    source.write_bytes(b"y" * (4 << 20))
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_file(source)
    before = _bytes_read()
    assert blobs.put_file(source) == digest
    assert _bytes_read() - before >= 4 << 20


def test_put_file_stores_a_source_that_can_be_read_only_once(tmp_path: Path) -> None:
    """A pipe: a second read would wait for a writer that never comes, so hashing and copying
    must be one pass."""
    import os
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    content = b"streamed " * 300_000
    blobs = BlobStore(tmp_path / "objects")
    stored: list[str] = []
    storing = threading.Thread(target=lambda: stored.append(blobs.put_file(pipe)), daemon=True)
    storing.start()
    with pipe.open("wb") as writer:
        writer.write(content)
    storing.join(timeout=60)
    assert not storing.is_alive(), "put_file opened the pipe a second time"
    assert stored == [hashlib.sha256(content).hexdigest()]
    assert blobs.path(stored[0]).read_bytes() == content


def test_a_blob_of_the_store_itself_is_known_by_its_name(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_bytes(b"z" * (4 << 20))
    before = _bytes_read()
    assert blobs.put_file(blobs.path(digest)) == digest
    assert _bytes_read() - before < 1 << 20


def test_put_written_hashes_what_a_writer_writes_and_stores_it_once(tmp_path: Path) -> None:
    """Parquet's writer asks the file where it is (``tell``) for its offsets."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [f"u{i}" for i in range(50_000)], "x": list(range(50_000))})
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_written(lambda sink: pq.write_table(table, sink, row_group_size=8192))
    path = blobs.path(digest)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert pq.read_table(path).equals(table)
    assert not path.stat().st_mode & 0o222
    inode = path.stat().st_ino
    again = blobs.put_written(lambda sink: pq.write_table(table, sink, row_group_size=8192))
    assert again == digest
    assert path.stat().st_ino == inode  # stored already: the new copy is dropped
    assert list(blobs.iter_digests()) == [digest]
    assert blobs.leftover_temp_files() == []


def test_a_writer_that_fails_leaves_nothing(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "objects")

    def broken(sink: object) -> None:
        sink.write(b"half")  # type: ignore[attr-defined]
        raise ValueError("encoder failed")

    with pytest.raises(ValueError, match="encoder failed"):
        blobs.put_written(broken)
    assert list(blobs.iter_digests()) == []
    assert blobs.leftover_temp_files() == []
