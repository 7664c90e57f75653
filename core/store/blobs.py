"""Content-addressed object folder: blobs named by their SHA-256, written once, never rewritten."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import CoreError, NotFound

_CHUNK = 1 << 20


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
        digest = sha256_file(source)
        if not self._reuse(digest):

            def copy(handle: object) -> None:
                with source.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        handle.write(chunk)  # type: ignore[attr-defined]

            self._write(digest, copy)
        return digest

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

    def leftover_temp_files(self) -> list[Path]:
        return sorted(self.root.glob("*/.tmp*")) if self.root.is_dir() else []

    def _write(self, digest: str, write: object) -> None:
        target = self.path(digest)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp")
        except OSError as error:
            raise self.not_writable(error, target.parent) from error
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
