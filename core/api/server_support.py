"""What ``loopline server`` needs from the workspace besides the client's areas: proving a
request's API token, reading a content-addressed object, the folder of uploads, and the kept
responses of writes (so a retried write is answered, not redone).

Not an area of :class:`core.api.Client` (nothing here is callable over ``/api/v1/call``)::

    support = ServerSupport(Client(workspace, SYSTEM))
    actor = support.verify_token(token, address="10.0.0.7")
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from core import __version__
from core.accounts.access import authorize
from core.accounts.tokens import verify_token
from core.actor import Actor
from core.api.area import Area
from core.errors import CoreError, InvalidInput, NotFound
from core.serving.server import bind as bind  # one listening socket for both servers
from core.serving.server import url_of as url_of
from core.store import utcnow

VERSION = __version__  # the Loopline version a server reports at /health
UPLOADS = Path("tmp") / "uploads"  # under the workspace root
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


@dataclass(frozen=True)
class KeptResponse:
    """A write's response as first sent: HTTP status, media type and body."""

    status: int
    media_type: str
    body: bytes


class RequestRunning(CoreError):
    """The first attempt of a request is still running (its retry waits for it)."""


class ServerSupport(Area):
    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Everything in the block attaches the workspace file once (a request's token check,
        its call and its kept response), as ``core.store.one_unit_of_work`` does."""
        with self._ws.store.read():
            yield

    # who is asking
    def verify_token(self, token: str, *, address: str | None = None) -> Actor:
        """The actor (surface ``api``) of a live API token; Forbidden when it is malformed,
        unknown, revoked, expired or its user is disabled."""
        return verify_token(self._ws, token, via="api", address=address)

    # objects
    def object_path(self, sha256: str) -> Path:
        """The file of a content-addressed object the client's user may read: ``data.read`` in
        the project of an artifact holding it, or for a model's file ``monitor.record`` (a
        serving host's ``service`` role); NotFound when there is none."""
        sha256 = sha256.lower()
        if not _SHA256.fullmatch(sha256):
            raise NotFound(
                f"No object {sha256[:80]!r}: an object is named by its SHA-256.",
                hint="send 64 hexadecimal digits",
            )
        with self._ws.store.read() as tx:
            holders = tx.rows(
                "SELECT DISTINCT a.project, a.kind FROM artifact_files f "
                "JOIN artifacts a USING (artifact_id) WHERE f.blob_hash = ? "
                "ORDER BY a.project, a.kind",
                [sha256],
            )
        path = self._ws.blobs.path(sha256)
        if not holders or not path.is_file():
            raise NotFound(f"No object {sha256} in this workspace.")
        refusal: CoreError | None = None
        for project, kind in holders:
            for permission in (
                ("data.read", "monitor.record") if kind == "model" else ("data.read",)
            ):
                try:
                    authorize(self._ws, self._actor, permission, project)
                    return path
                except CoreError as error:
                    refusal = refusal or error
        assert refusal is not None
        raise refusal

    # uploads
    @property
    def uploads(self) -> Path:
        """``<workspace>/tmp/uploads``: ``<id>.part`` while a file arrives, ``<id>/<name>`` after."""
        return self._client.workspace.root / UPLOADS

    def clean_uploads(
        self,
        *,
        older_than: timedelta = timedelta(hours=24),
        parts_older_than: timedelta | None = None,
    ) -> list[Path]:
        """Remove the uploads older than ``older_than`` and, with ``parts_older_than``, the
        ``.part`` files (uploads cut off) older than that (the server passes 0 when it starts,
        before any upload arrives; ``verify --prune`` its age limit); what was removed."""
        removed: list[Path] = []
        if not self.uploads.is_dir():
            return removed
        now = time.time()
        for entry in sorted(self.uploads.iterdir()):
            age = now - entry.stat().st_mtime
            if entry.name.endswith(".part"):
                stale = parts_older_than is not None and age >= parts_older_than.total_seconds()
            else:
                stale = age > older_than.total_seconds()
            if stale:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed

    # kept responses of writes
    @staticmethod
    def check_request_id(request_id: str) -> str:
        if not _REQUEST_ID.fullmatch(request_id):
            raise InvalidInput(
                f"X-Request-Id must be 1 to 100 letters, digits or ._:-; got {request_id[:120]!r}.",
                hint="send a UUID4 per logical call and the same one on its retries",
            )
        return request_id

    def claim_request(self, user: str, request_id: str, method: str) -> KeptResponse | None:
        """Start a write under (``user``, ``request_id``): None when it is new (the caller runs
        it and keeps its response), the kept response when it ran before; RequestRunning while
        its first attempt runs; InvalidInput when the id was used for another method."""
        with self._ws.store.transaction() as tx:
            row = tx.one(
                "SELECT method, state, status, media_type, response FROM api_requests "
                "WHERE user_name = ? AND request_id = ?",
                [user, request_id],
            )
            if row is None:
                tx.execute(
                    "INSERT INTO api_requests (user_name, request_id, method, state, created_at) "
                    "VALUES (?, ?, ?, 'running', ?)",
                    [user, request_id, method, utcnow()],
                )
                return None
        kept_method, state, status, media_type, body = row
        if kept_method != method:
            raise InvalidInput(
                f"X-Request-Id {request_id!r} was already used for {kept_method}, not {method}.",
                hint="send a new request id for each logical call",
            )
        if state != "done":
            raise RequestRunning(f"Request {request_id!r} is still running.")
        return KeptResponse(int(status), str(media_type), bytes(body))

    def keep_response(self, user: str, request_id: str, response: KeptResponse) -> None:
        with self._ws.store.transaction() as tx:
            tx.execute(
                "UPDATE api_requests SET state = 'done', status = ?, media_type = ?, "
                "response = ?, finished_at = ? WHERE user_name = ? AND request_id = ?",
                [
                    response.status,
                    response.media_type,
                    response.body,
                    utcnow(),
                    user,
                    request_id,
                ],
            )

    def forget_request(self, user: str, request_id: str) -> None:
        """Drop a claim whose write did not finish (a retry runs it again)."""
        with self._ws.store.transaction() as tx:
            tx.execute(
                "DELETE FROM api_requests WHERE user_name = ? AND request_id = ?",
                [user, request_id],
            )

    def forget_unfinished(self) -> int:
        """Drop the claims of a server that stopped mid-write (called when a server starts):
        a retry runs the write again. How many."""
        with self._ws.store.transaction() as tx:
            rows = tx.rows("DELETE FROM api_requests WHERE state <> 'done' RETURNING request_id")
        return len(rows)

    def forget_old_requests(self, *, older_than: timedelta = timedelta(days=1)) -> int:
        """Drop the kept responses older than ``older_than`` (a client retries within minutes);
        how many."""
        cutoff = utcnow() - older_than
        with self._ws.store.transaction() as tx:
            rows = tx.rows(
                "DELETE FROM api_requests WHERE state = 'done' AND finished_at < ? "
                "RETURNING request_id",
                [cutoff],
            )
        return len(rows)

    @staticmethod
    def json_body(value: object) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")
