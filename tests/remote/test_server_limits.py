"""`loopline server` options over real HTTP: body and upload limits (413), --trust-proxy, TLS with
--certfile/--keyfile, and the options it refuses."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remote.conftest import ROOT, Hub, health, make_workspace, start_server, stop_server

MAX_BODY = 2_000
MAX_UPLOAD = 5_000


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A server with small limits, behind a (pretend) reverse proxy."""
    folder = tmp_path_factory.mktemp("limited")
    tokens = make_workspace(folder / "ws")
    log = folder / "server.log"
    extra = ("--max-body-bytes", str(MAX_BODY), "--max-upload-bytes", str(MAX_UPLOAD))
    process, url = start_server(folder / "ws", log, extra=(*extra, "--trust-proxy"))
    try:
        yield Hub(url, folder / "ws", tokens, log, process)
    finally:
        stop_server(process)


def test_a_call_body_over_the_limit_is_413_and_the_server_stays_up(limited: Hub) -> None:
    big = {"name": "x" * MAX_BODY}
    status, _, body = limited.request("POST", "/api/v1/call/projects/get", json_body=big)
    assert status == 413
    assert json.loads(body)["error"] == {
        "kind": "InvalidInput",
        "message": f"The request body is larger than this server takes ({MAX_BODY:,} bytes).",
        "hint": "send files with POST /api/v1/uploads; the admin raises the limit with "
        "`loopline server --max-body-bytes N`",
    }
    assert limited.healthy()


def test_a_chunked_body_over_the_limit_is_413_too(limited: Hub) -> None:
    """No Content-Length: the server counts while it reads."""
    status, body = _chunked(
        limited, "/api/v1/call/projects/get", [b'{"name": "', b"x" * 3000, b'"}']
    )
    assert status == 413 and "larger than this server takes" in body["error"]["message"]
    status, body = _chunked(limited, "/api/v1/call/projects/get", [b'{"name": ', b'"tickets"}'])
    assert status == 200 and body["result"]["name"] == "tickets"
    assert limited.healthy()


def test_an_upload_over_the_limit_is_413_and_keeps_nothing(limited: Hub) -> None:
    data = b"y" * (MAX_UPLOAD + 1)
    headers = {"X-Content-SHA256": hashlib.sha256(data).hexdigest(), "X-File-Name": "big.csv"}
    status, _, body = limited.request("POST", "/api/v1/uploads", body=data, headers=headers)
    assert status == 413
    assert json.loads(body)["error"]["message"] == (
        f"The upload is larger than this server takes ({MAX_UPLOAD:,} bytes)."
    )
    status, _ = _chunked(limited, "/api/v1/uploads", [data[:4000], data[4000:]], headers)
    assert status == 413
    uploads = limited.workspace / "tmp" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert limited.healthy()


def test_with_trust_proxy_the_audit_names_the_forwarded_address(limited: Hub) -> None:
    status, _, _ = limited.request(
        "POST",
        "/api/v1/call/accounts/create_token",
        json_body={"user": "service", "label": "via the proxy"},
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
    )
    assert status == 200
    status, found = limited.call(
        "accounts", "audit", token="manager", query={"text": "via the proxy"}
    )
    assert found["result"][0][0]["details"]["address"] == "203.0.113.9"  # the proxy's entry


def _chunked(
    hub: Hub, path: str, pieces: list[bytes], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    host, _, port = hub.url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(
            "POST",
            path,
            body=iter(pieces),
            headers={"Authorization": f"Bearer {hub.token('admin')}", **(headers or {})},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# -- options ------------------------------------------------------------------------------------


def _server(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--workspace", str(workspace), "server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_options_the_server_refuses(tmp_path: Path) -> None:
    done = _server("--certfile", "cert.pem", workspace=tmp_path / "ws")
    assert done.returncode == 2
    assert done.stderr.splitlines()[:2] == [
        "error: TLS needs both --certfile and --keyfile.",
        "hint: pass both, or neither (and terminate TLS in a reverse proxy)",
    ]
    done = _server("--max-body-bytes", "10", workspace=tmp_path / "ws")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "error: --max-body-bytes must be at least 1000, got 10."
    make_workspace(tmp_path / "ws")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _server("--port", str(port), workspace=tmp_path / "ws")
    assert done.returncode == 2
    assert done.stderr.splitlines()[:2] == [
        f"error: Port {port} on 127.0.0.1 is in use.",
        "hint: choose another with --port (0 picks a free one)",
    ]
    done = _server(workspace=tmp_path / "missing")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"error: No workspace at {tmp_path / 'missing'}."


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_with_a_certificate_and_key(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS test needs the openssl command (or cryptography)"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    tokens = make_workspace(tmp_path / "ws")
    context = ssl.create_default_context(cafile=str(cert))
    process, url = start_server(
        tmp_path / "ws",
        tmp_path / "server.log",
        extra=("--certfile", str(cert), "--keyfile", str(key)),
        scheme="https",
        context=context,
    )
    try:
        assert url.startswith("https://")
        assert health(url, context=context) == {"status": "ok", "version": "0.1.0", "api": 1}
        hub = Hub(url, tmp_path / "ws", tokens, tmp_path / "server.log", process)
        assert health(url.replace("https://", "http://")) is None  # no plain HTTP on that port
        host, _, port = url.removeprefix("https://").partition(":")
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
        connection.request(
            "POST",
            "/api/v1/call/accounts/whoami",
            body=b"{}",
            headers={"Authorization": f"Bearer {hub.token('manager')}"},
        )
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["result"]["name"] == "manager"
        connection.close()
    finally:
        stop_server(process)
