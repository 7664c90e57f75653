"""HTTP to a Loopline server (wire protocol v1): calls, uploads, downloads, with retries.

One keep-alive connection per thread (``http.client``, nothing else to install). Connection
errors and 502/503/504 are retried with exponential backoff; a call carries one ``X-Request-Id``
for all its attempts, so the server runs a retried write once. A refusal comes back as the core
error the server raised (``{"error": {kind, message, hint}}``), so surfaces print it as they
would locally."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit

from core.api import CoreError
from core.remote.deserialise import Json, core_error

API = "/api/v1"
CHUNK = 1 << 20  # bytes per read/write when files stream
RETRY_STATUSES = frozenset({502, 503, 504})
TOKEN_HINT = (
    "set LOOPLINE_TOKEN to an API token of your user on the server (an admin makes one with "
    "`loopline tokens create USER --label WHERE` on the server's workspace)"
)


class Transport:
    """Requests to the server at ``url`` with the API token ``token``."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 300.0,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CoreError(
                f"Not a server URL: {url!r}.",
                hint="give it as http://HOST:PORT or https://HOST:PORT (LOOPLINE_URL or --server)",
            )
        self.url = url.strip().rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._local = threading.local()

    # -- the protocol ----------------------------------------------------------------------

    def call(self, area: str, method: str, kwargs: dict[str, Json]) -> Json | bytes:
        """``client.<area>.<method>(**kwargs)`` on the server: the JSON result, or the raw
        bytes of a method that returns bytes (their hash checked)."""
        body = json.dumps(kwargs, allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Request-Id": str(uuid.uuid4())}
        path = f"{API}/call/{quote(area)}/{quote(method)}"
        with self._response("POST", path, lambda: body, headers) as response:
            data = self._whole(response)
            if _content_type(response) == "application/octet-stream":
                _check_hash(hashlib.sha256(data).hexdigest(), response, what="the response")
                return data
            payload = _json(data, self.url)
        if not isinstance(payload, dict) or "result" not in payload:
            raise CoreError(f"The server at {self.url} answered without a result.")
        return payload["result"]

    def upload(self, source: Path | bytes, name: str | None = None) -> str:
        """Stream a file (or bytes) to the server's uploads, its SHA-256 checked there; its
        upload id (an argument ``{"$upload": id}`` then stands for the file)."""
        if isinstance(source, bytes):
            digest, size = hashlib.sha256(source).hexdigest(), len(source)
            name = name or "upload.bin"
            opener: Callable[[], IO[bytes] | bytes] = lambda: source  # noqa: E731
        else:
            path = Path(source)
            digest, size = _file_hash(path)
            name = name or path.name
            opener = lambda: path.open("rb")  # noqa: E731
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "X-Content-SHA256": digest,
            "X-File-Name": quote(name),  # percent-encoded; the server decodes it
            "X-Request-Id": str(uuid.uuid4()),
        }
        with self._response("POST", f"{API}/uploads", opener, headers) as response:
            payload = _json(self._whole(response), self.url)
        upload = payload.get("upload") if isinstance(payload, dict) else None
        if not isinstance(upload, str):
            raise CoreError(f"The server at {self.url} did not say where the upload went.")
        if isinstance(payload, dict) and payload.get("sha256") not in (None, digest):
            raise CoreError(
                f"{name}: the server received other bytes than were sent (SHA-256 differs).",
                hint="send it again; if it recurs, something between here and the server alters it",
            )
        return upload

    def download(self, sha256: str, dest: Path) -> Path:
        """The object with this SHA-256 from the server's object store, streamed to ``dest``
        (a temporary name, renamed into place once the hash is checked). A body cut short (the
        server stopped mid-transfer) is fetched again, like a refused connection."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        path = f"{API}/objects/{quote(sha256)}"
        for attempt in range(self.retries + 1):
            try:
                return self._download_once(path, sha256, dest)
            except _CutShort as error:
                self._drop()
                if attempt == self.retries:
                    raise self._unreachable(error) from error
                self._pause(attempt)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _download_once(self, path: str, sha256: str, dest: Path) -> Path:
        with self._response("GET", path, None, {}) as response:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                digest, received = hashlib.sha256(), 0
                with os.fdopen(fd, "wb") as handle:
                    for chunk in _chunks(response):
                        digest.update(chunk)
                        handle.write(chunk)
                        received += len(chunk)
                if response.length:  # http.client counts down Content-Length as it reads
                    raise _CutShort(
                        f"the connection closed after {received:,} of "
                        f"{received + response.length:,} bytes"
                    )
                if digest.hexdigest() != sha256:
                    raise CoreError(
                        f"Object {sha256[:16]}… arrived with another SHA-256 "
                        f"({digest.hexdigest()[:16]}…); nothing was kept.",
                        hint="download it again; if it recurs, the server's copy is damaged "
                        "(`loopline verify` there says which)",
                    )
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; the file is the user's
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return dest

    def get_json(self, path: str) -> Json:
        """A GET of ``path`` (e.g. ``/health``) as JSON."""
        with self._response("GET", path, None, {}) as response:
            return _json(self._whole(response), self.url)

    # -- requests, retries and errors --------------------------------------------------------

    @contextmanager
    def _response(
        self,
        method: str,
        path: str,
        body: Callable[[], IO[bytes] | bytes] | None,
        headers: dict[str, str],
    ) -> Iterator[http.client.HTTPResponse]:
        """The server's answer to one logical request (retried as needed); a refusal raised as
        the core error it names."""
        response = self._send(method, path, body, headers)
        try:
            if response.status >= 400:
                raise self._refusal(response)
            yield response
        finally:
            response.close()

    def _send(
        self,
        method: str,
        path: str,
        body: Callable[[], IO[bytes] | bytes] | None,
        headers: dict[str, str],
    ) -> http.client.HTTPResponse:
        headers = {**headers, "Accept": "application/json", "User-Agent": "loopline-remote/1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            content = body() if body is not None else None
            try:
                connection = self._connection()
                connection.request(method, self._prefix + path, body=content, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                self._drop()
                if last:
                    raise self._unreachable(error) from error
                self._pause(attempt)
                continue
            finally:
                if content is not None and not isinstance(content, bytes):
                    content.close()
            if response.status in RETRY_STATUSES and not last:
                response.read()
                response.close()
                self._pause(attempt)
                continue
            return response
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _whole(self, response: http.client.HTTPResponse) -> bytes:
        """The whole body; a connection lost before its end is an unreachable server (a
        traceback from ``http.client`` otherwise)."""
        try:
            return response.read()
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            raise self._unreachable(error) from error

    def _pause(self, attempt: int) -> None:
        time.sleep(min(self.backoff * 2**attempt, 10.0))

    def _connection(self) -> http.client.HTTPConnection:
        found: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if found is None:
            if self._https:
                found = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                    blocksize=CHUNK,
                )
            else:
                found = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout, blocksize=CHUNK
                )
            self._local.connection = found
        return found

    def _drop(self) -> None:
        found = getattr(self._local, "connection", None)
        if found is not None:
            found.close()
        self._local.connection = None

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._drop()

    def _unreachable(self, error: BaseException) -> CoreError:
        what = "timed out" if isinstance(error, socket.timeout | TimeoutError) else str(error)
        return CoreError(
            f"Cannot reach the Loopline server at {self.url}: {what or type(error).__name__}.",
            hint="check LOOPLINE_URL (or --server) and that `loopline server` runs there; "
            f"tried {self.retries + 1} times",
        )

    def _refusal(self, response: http.client.HTTPResponse) -> CoreError:
        data = response.read()
        try:
            detail = json.loads(data).get("error")
        except (ValueError, AttributeError):
            detail = None
        if not isinstance(detail, dict) or not isinstance(detail.get("message"), str):
            return CoreError(
                f"The server at {self.url} answered {response.status} {response.reason}.",
                hint="is LOOPLINE_URL (or --server) the address of a `loopline server`?",
            )
        if response.status == 401:
            return CoreError(_token_message(self.token, detail["message"]), hint=TOKEN_HINT)
        return core_error(detail)


def _token_message(token: str | None, said: str) -> str:
    if not token:
        return f"The server needs an API token and none was given ({said.rstrip('.')})."
    return f"The server refused the API token ({said.rstrip('.')})."


def _content_type(response: http.client.HTTPResponse) -> str:
    return (response.getheader("Content-Type") or "").split(";")[0].strip().lower()


def _json(data: bytes, url: str) -> Json:
    try:
        parsed: Json = json.loads(data)
    except ValueError as error:
        raise CoreError(
            f"The server at {url} answered with something that is not JSON.",
            hint="is LOOPLINE_URL (or --server) the address of a `loopline server`?",
        ) from error
    return parsed


def _check_hash(digest: str, response: http.client.HTTPResponse, *, what: str) -> None:
    said = response.getheader("X-Content-SHA256")
    if said and said.lower() != digest:
        raise CoreError(
            f"{what} arrived with another SHA-256 than the server sent; it was not used.",
            hint="try again; if it recurs, something between here and the server alters it",
        )


class _CutShort(Exception):
    """A response body that ended before all of it arrived."""


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body in pieces; a connection lost mid-body raises ``_CutShort``."""
    while True:
        try:
            chunk = response.read(CHUNK)
        except (OSError, http.client.HTTPException) as error:
            raise _CutShort(str(error) or type(error).__name__) from error
        if not chunk:
            return
        yield chunk


def _file_hash(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
