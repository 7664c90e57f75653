"""A consistent copy of a live workspace, and putting one back.

The database file is copied while this process holds it (attached, no writer of this process
running, so no other process can attach it either) right after a checkpoint: the copy is the
store as of one moment, taken between two units of work of a running server. Objects are named
by their SHA-256 and never rewritten, so they are copied afterwards without holding anything:
every object the copied rows name was written before its row was committed. Prediction logs are
closed segments, written whole and renamed into place, so a copied segment is never half a file.

A backup is a workspace folder of its own (``--workspace DEST`` opens it) plus ``backup.json``
saying what was copied. It is written under a temporary name and renamed into place, so ``DEST``
either is a whole backup or does not exist."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.errors import CoreError, InvalidInput
from core.store.blobs import sha256_file
from core.store.connection import DB_FILE, utcnow

MANIFEST = "backup.json"
FORMAT = 1
_SKIPPED_FOLDERS = {"locks", "tmp"}  # held by running processes; nothing to restore
_SKIPPED_FILES = {"loopline.lock", DB_FILE, DB_FILE + ".wal", MANIFEST}
_CHUNK = 1 << 20

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class Backup:
    """What a backup holds."""

    path: Path
    source: str
    taken_at: datetime
    database_sha256: str
    database_bytes: int
    objects: int
    object_bytes: int
    other_files: int
    seconds: float


@dataclass(frozen=True)
class Restored:
    """A backup put in place of a workspace; ``moved_aside`` holds the workspace it replaced."""

    workspace: Path
    backup: Backup
    moved_aside: Path | None


# -- taking a backup -----------------------------------------------------------------------------
def take_backup(
    source_root: Path, snapshot: Callable[[Path], None], dest: Path, report: Report | None = None
) -> Backup:
    """Copy the workspace at ``source_root`` to ``dest``; ``snapshot(target)`` copies its database
    file consistently (``Store.snapshot``)."""
    say = report or (lambda stage, fraction: None)
    started = time.perf_counter()
    dest = _check_destination(dest, source_root)
    staging = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        say("copying the database", 0.05)
        snapshot(staging / DB_FILE)
        taken_at = utcnow()
        objects, object_bytes = _copy_objects(source_root / "objects", staging / "objects", say)
        say("copying prediction logs and workspace files", 0.9)
        others = _copy_other_files(source_root, staging)
        backup = Backup(
            path=dest,
            source=str(source_root),
            taken_at=taken_at,
            database_sha256=sha256_file(staging / DB_FILE),
            database_bytes=(staging / DB_FILE).stat().st_size,
            objects=objects,
            object_bytes=object_bytes,
            other_files=others,
            seconds=round(time.perf_counter() - started, 3),
        )
        _write_manifest(staging, backup)
        os.replace(staging, dest)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise CoreError(
            f"The backup could not be written to {dest}: {error.strerror or error}.",
            hint="choose a destination on a disk with room that you can write to",
        ) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say("backup written", 1.0)
    return backup


def _check_destination(dest: Path, source_root: Path) -> Path:
    dest = dest.expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(
            f"{dest} already exists.",
            hint="back up to a new folder (e.g. one named by the date); a backup never "
            "overwrites anything",
        )
    if dest == source_root or source_root in dest.parents:
        raise InvalidInput(
            f"{dest} is inside the workspace it would back up.",
            hint="choose a folder outside the workspace, ideally on another disk",
        )
    if dest.exists():
        dest.rmdir()  # an empty folder is taken as the place to write
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _copy_objects(source: Path, target: Path, say: Report) -> tuple[int, int]:
    blobs = sorted(_blob_files(source))
    copied_bytes = 0
    for index, blob in enumerate(blobs, start=1):
        destination = target / blob.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blob, destination)
        copied_bytes += destination.stat().st_size
        if index % 200 == 0 or index == len(blobs):
            say(f"copying objects ({index:,} of {len(blobs):,})", 0.1 + 0.8 * index / len(blobs))
    return len(blobs), copied_bytes


def _blob_files(root: Path) -> Iterator[Path]:
    """Whole objects only: ``objects/ab/cdef…`` (temporary files start with a dot)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.is_dir() and len(folder.name) == 2:
            yield from (f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))


def _copy_other_files(source_root: Path, staging: Path) -> int:
    """Prediction logs (closed segments), quarantine and notes; not locks, temporary uploads,
    half-written files (``.part``, ``.tmp``, dot-names) or the database (copied already)."""
    count = 0
    for path in sorted(source_root.rglob("*")):
        relative = path.relative_to(source_root)
        if (
            not path.is_file()
            or relative.parts[0] in _SKIPPED_FOLDERS | {"objects"}
            or (len(relative.parts) == 1 and relative.name in _SKIPPED_FILES)
            or relative.name.endswith((".part", ".tmp", ".bak"))
            or any(part.startswith(".") for part in relative.parts)
        ):
            continue
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        count += 1
    return count


def _write_manifest(staging: Path, backup: Backup) -> None:
    fields = {
        "format": FORMAT,
        "source": backup.source,
        "taken_at": backup.taken_at.isoformat(),
        "database_sha256": backup.database_sha256,
        "database_bytes": backup.database_bytes,
        "objects": backup.objects,
        "object_bytes": backup.object_bytes,
        "other_files": backup.other_files,
        "seconds": backup.seconds,
    }
    (staging / MANIFEST).write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")


# -- reading and restoring one -------------------------------------------------------------------
def read_backup(path: Path) -> Backup:
    """The backup at ``path``, its database file checked against the manifest."""
    path = path.expanduser().absolute()
    manifest = path / MANIFEST
    if not manifest.is_file() or not (path / DB_FILE).is_file():
        raise InvalidInput(
            f"{path} is not a Loopline backup (no {MANIFEST} and {DB_FILE} in it).",
            hint="pass the folder `loopline backup DEST` wrote",
        )
    try:
        fields = json.loads(manifest.read_text(encoding="utf-8"))
        backup = Backup(
            path=path,
            source=str(fields["source"]),
            taken_at=datetime.fromisoformat(fields["taken_at"]),
            database_sha256=str(fields["database_sha256"]),
            database_bytes=int(fields["database_bytes"]),
            objects=int(fields["objects"]),
            object_bytes=int(fields["object_bytes"]),
            other_files=int(fields["other_files"]),
            seconds=float(fields["seconds"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInput(
            f"{manifest} is damaged: {error}.", hint="restore from another backup"
        ) from error
    if sha256_file(path / DB_FILE) != backup.database_sha256:
        raise InvalidInput(
            f"The database file of the backup {path} changed since the backup was taken "
            "(its SHA-256 differs from backup.json).",
            hint="restore from another backup",
        )
    return backup


def restore_backup(
    backup: Backup, target: Path, *, replace: bool = False, report: Report | None = None
) -> Restored:
    """Copy ``backup`` to ``target`` under a temporary name, then rename it into place; an
    existing workspace there is refused unless ``replace`` (then it is moved aside, kept)."""
    say = report or (lambda stage, fraction: None)
    target = target.expanduser().absolute()
    occupied = target.exists() and (not target.is_dir() or any(target.iterdir()))
    if occupied and not replace:
        raise InvalidInput(
            f"{target} already holds a workspace.",
            hint="stop the server and pass --replace to move it aside (it is kept, renamed), or "
            "restore to another folder with --workspace",
        )
    staging = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    say("copying the backup", 0.1)
    try:
        shutil.copytree(backup.path, staging, ignore=shutil.ignore_patterns(MANIFEST))
        moved_aside = _move_aside(target) if occupied else None
        if target.exists():
            target.rmdir()  # an empty folder
        try:
            os.replace(staging, target)
        except BaseException:
            if moved_aside is not None:  # put the workspace back where it was
                os.replace(moved_aside, target)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say("restored", 1.0)
    return Restored(target, backup, moved_aside)


def _move_aside(target: Path) -> Path:
    aside = target.with_name(f"{target.name}.before-restore-{utcnow():%Y%m%dT%H%M%S}")
    os.replace(target, aside)
    return aside
