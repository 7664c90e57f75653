"""Content-addressed object folder: blobs named by their SHA-256, written once, never rewritten."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from core.errors import CoreError, NotFound

_CHUNK = 1 << 20
_SETTLED_NS = 2_000_000_000  # a file unchanged this long before it was hashed: see put_file
_REMEMBERED = 64


class Sink(Protocol):
    """Where :meth:`BlobStore.put_written` has a writer put the content."""

    def write(self, data: bytes) -> int: ...


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStore:
    """``objects/ab/cdef…``: a blob is written to a temporary file, fsynced and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._remembered: dict[tuple[str, int, int, int, int, int], str] = {}

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        if not self._reuse(digest):
            self._write(digest, lambda handle: handle.write(data))
        return digest

    def put_file(self, source: Path) -> str:
        """Copy ``source`` in, hashing it on the way (one read of the file). A file stored or
        hashed before by this store and unchanged since (same inode, size, modification and
        change times) is not read again; nor is a blob of this store's own."""
        own = self._own_digest(source)
        if own is not None and self._reuse(own):
            return own
        before = source.stat()
        key = _identity(source, before)
        remembered = self._remembered.get(key)
        if remembered is not None and self._reuse(remembered):
            return remembered
        started = time.time_ns()

        def copy(handle: Sink) -> None:
            with source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    handle.write(chunk)

        digest = self.put_written(copy)
        after = source.stat()
        # Remembered only when the file's change time is well before the hashing began: a
        # later write to it would then show as a new change time (the "racy git" case).
        if _identity(source, after) == key and after.st_ctime_ns + _SETTLED_NS < started:
            if len(self._remembered) >= _REMEMBERED:
                self._remembered.pop(next(iter(self._remembered)))
            self._remembered[key] = digest
        return digest

    def put_written(self, write: Callable[[Sink], None]) -> str:
        """Store what ``write`` writes to the binary file it is given, hashed as it is written:
        no second pass over the content and no copy of it in memory. The blob is named once the
        writer is done; content that is stored already is dropped unsynced."""
        fd, tmp = self._temp_file(self.root)
        try:
            with os.fdopen(fd, "wb") as handle:
                hashing = _HashingWriter(handle)
                write(hashing)
                digest = hashing.hexdigest()
                if self._reuse(digest):
                    Path(tmp).unlink()
                    return digest
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            target = self.path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException as error:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(error, OSError):  # ENOSPC, EDQUOT, EFBIG, EIO while writing
                raise self.not_writable(error, self.root) from error
            raise
        return digest

    def _own_digest(self, source: Path) -> str | None:
        """The digest of ``source`` when it is one of this store's blobs (``objects/ab/cdef…``)."""
        shard = source.parent
        if len(shard.name) != 2 or len(source.name) != 62 or shard.parent != self.root:
            return None
        digest = shard.name + source.name
        return digest if all(c in "0123456789abcdef" for c in digest) else None

    def _reuse(self, digest: str) -> bool:
        """An existing blob is used again: touch it, so a prune (which only deletes
        unreferenced blobs untouched for a while) cannot take it before the new reference
        is committed."""
        try:
            os.utime(self.path(digest))
        except FileNotFoundError:
            return False
        except OSError as error:
            raise self.not_writable(error, self.path(digest)) from error
        return True

    def not_writable(self, error: OSError, where: Path) -> CoreError:
        """A write refused by the file system (read-only, full, no permission, a file where a
        folder should be) as the message a user can act on, instead of a traceback. ``where``
        names the folder (or blob), never a temporary file's random name."""
        return CoreError(
            f"the workspace folder is not writable: {where}: {error.strerror or error}",
            hint=f"check that {self.root} is a folder this user may write to, on a disk with "
            "free space (`df -h`)",
        )

    def remove(self, digest: str) -> int:
        """Delete a blob; returns the bytes freed (0 if it was not there)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.chmod(0o644)
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def age_seconds(self, digest: str) -> float:
        return time.time() - self.path(digest).stat().st_mtime

    def read_bytes(self, digest: str) -> bytes:
        path = self.path(digest)
        if not path.is_file():
            raise NotFound(
                f"Blob {digest[:12]}… is missing from {self.root}.",
                hint="run `loopline verify` to list every damaged artifact",
            )
        return path.read_bytes()

    def verify(self, digest: str) -> str | None:
        """None when the blob is present and intact, else what is wrong."""
        path = self.path(digest)
        if not path.is_file():
            return "missing"
        actual = sha256_file(path)
        return None if actual == digest else f"content changed (now hashes to {actual[:12]}…)"

    def iter_digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for blob in sorted(sub.iterdir()):
                    if not blob.name.startswith(".tmp"):
                        yield sub.name + blob.name

    def _temp_file(self, folder: Path) -> tuple[int, str]:
        """A new temporary file in ``folder`` (made if missing), named to be found as leftover."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=folder, prefix=".tmp")
        except OSError as error:
            raise self.not_writable(error, folder) from error

    def leftover_temp_files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted([*self.root.glob(".tmp*"), *self.root.glob("*/.tmp*")])

    def _write(self, digest: str, write: object) -> None:
        target = self.path(digest)
        fd, tmp = self._temp_file(target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)  # type: ignore[operator]
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException as error:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(error, OSError):  # ENOSPC, EDQUOT, EFBIG, EIO while writing
                raise self.not_writable(error, target.parent) from error
            raise


def _identity(path: Path, stat: os.stat_result) -> tuple[str, int, int, int, int, int]:
    return (
        str(path.absolute()),
        stat.st_dev,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


class _HashingWriter:
    """A binary file that hashes what is written to it (``tell`` for writers that ask where they
    are, as Parquet's does)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        written = self._handle.write(data)
        self._size += written
        return written

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        return None

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
