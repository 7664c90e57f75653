"""The content-addressed object folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
    import pytest

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
