"""Files arrive as streams: ``POST /api/v1/uploads`` writes the body to
``<workspace>/tmp/uploads/<id>.part`` while hashing it, checks the size limit and the SHA-256 the
client announced, then renames it to ``<id>/<name>``. A method's ``Path`` argument names the
upload (``{"$upload": "<id>"}``).

An upload cut off removes its ``.part`` (and one a killed server left behind is removed when the
server starts); a hash mismatch or an oversized body keeps nothing. Uploads are removed once a
call that used them succeeded, and unused ones after 24 hours.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from core.server.convert import ArgumentError
from core.server.errors import ApiError

_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BUFFER = 1 << 20  # hashed and written a MiB at a time, off the event loop
MAX_NAME = 255


def check_name(name: str) -> str:
    """A file's base name: no folder, no control character, not ``.`` or ``..``."""
    if (
        not name
        or len(name) > MAX_NAME
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise ApiError(
            422,
            "InvalidInput",
            f"X-File-Name must be a file's base name (no folder, no control character, at most "
            f"{MAX_NAME} characters); got {name[:80]!r}.",
            hint="send only the name, e.g. X-File-Name: emails.csv",
        )
    return name


def _announced(request: Request, max_bytes: int) -> tuple[str, str, int | None]:
    """The announced hash, name and length (413 when the length is over the limit)."""
    digest = request.headers.get("x-content-sha256", "").strip().lower()
    if not _SHA256.fullmatch(digest):
        raise ApiError(
            422,
            "InvalidInput",
            f"X-Content-SHA256 must be the file's SHA-256 in hex; got {digest[:80]!r}.",
            hint="send the 64 hexadecimal digits of the file's SHA-256",
        )
    name = check_name(unquote(request.headers.get("x-file-name", "")))
    length_text = request.headers.get("content-length")
    length = int(length_text) if length_text and length_text.isdigit() else None
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    return digest, name, length


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "InvalidInput",
        f"The upload is larger than this server takes ({max_bytes:,} bytes).",
        hint="the server's admin raises it with `loopline server --max-upload-bytes N`",
    )


async def receive(request: Request, folder: Path, max_bytes: int) -> dict[str, object]:
    """Stream the request's body into an upload; its id, SHA-256 and size."""
    digest, name, length = _announced(request, max_bytes)
    upload_id = uuid.uuid4().hex
    await run_in_threadpool(folder.mkdir, parents=True, exist_ok=True)
    part = folder / f"{upload_id}.part"
    try:
        size, got = await _stream(request, part, max_bytes)
        if length is not None and size != length:
            raise ApiError(
                422,
                "InvalidInput",
                f"The upload ended after {size:,} of {length:,} bytes.",
                hint="send it again",
            )
        if got != digest:
            raise ApiError(
                422,
                "InvalidInput",
                f"{name}: the received file's SHA-256 is {got}, not {digest} as announced; "
                "nothing was kept.",
                hint="the file changed or was damaged on the way: send it again",
            )
        await run_in_threadpool(_keep, part, folder / upload_id, name)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return {"upload": upload_id, "sha256": got, "size": size}


async def _stream(request: Request, part: Path, max_bytes: int) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray()
    handle: IO[bytes] = await run_in_threadpool(part.open, "wb")
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            buffer += chunk
            if len(buffer) >= _BUFFER:
                await run_in_threadpool(_write, handle, hasher, bytes(buffer))
                buffer.clear()
        if buffer:
            await run_in_threadpool(_write, handle, hasher, bytes(buffer))
    except ClientDisconnect:
        raise ApiError(400, "InvalidInput", "The upload was cut off; nothing was kept.") from None
    finally:
        await run_in_threadpool(handle.close)
    return size, hasher.hexdigest()


def _write(handle: IO[bytes], hasher: Any, data: bytes) -> None:
    """Hash and write a MiB off the event loop."""
    hasher.update(data)
    handle.write(data)


def _keep(part: Path, folder: Path, name: str) -> None:
    folder.mkdir()
    part.rename(folder / name)


def uploaded_file(folder: Path, upload_id: object) -> Path:
    """The file of an upload (ArgumentError when there is none: unknown, or removed)."""
    if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
        raise ArgumentError(f"Not an upload id: {str(upload_id)[:80]!r}.")
    found = sorted(p for p in (folder / upload_id).glob("*") if p.is_file())
    if len(found) != 1:
        raise ArgumentError(
            f"No upload {upload_id!r} on this server (uploads are removed after use and after "
            "24 hours).",
            hint="upload the file again",
        )
    return found[0]


def remove(folder: Path, upload_ids: list[str]) -> None:
    """Remove uploads a successful call used."""
    for upload_id in upload_ids:
        if _ID.fullmatch(upload_id):
            shutil.rmtree(folder / upload_id, ignore_errors=True)
