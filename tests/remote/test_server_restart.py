"""`loopline server` killed mid-upload: the half-received file is the only trace, and the next
server removes it when it starts; the workspace verifies clean."""

from __future__ import annotations

import hashlib
import socket
import time
from urllib.parse import urlsplit

from tests.remote.conftest import Hub


def test_a_server_killed_mid_upload_leaves_a_part_the_next_server_removes(fresh_hub: Hub) -> None:
    hub = fresh_hub
    assert hub.process is not None
    uploads = hub.workspace / "tmp" / "uploads"
    data = b"z" * 3_000_000
    parts = urlsplit(hub.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(
            b"POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {hub.token('data_scientist')}\r\n".encode()
            + f"X-Content-SHA256: {hashlib.sha256(data).hexdigest()}\r\n".encode()
            + f"X-File-Name: big.csv\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data[: len(data) // 2]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(uploads.glob("*.part")):
            time.sleep(0.05)
        [part] = list(uploads.glob("*.part"))  # the upload is arriving
        hub.kill()  # SIGKILL: no chance to clean up
    assert [p.name for p in uploads.iterdir()] == [part.name]  # only the .part is left
    assert not hub.healthy()

    hub.start()  # the same URL again
    assert list(uploads.iterdir()) == []  # removed when the server started
    status, body = hub.call("artifacts", "verify", token="admin")
    assert status == 200
    assert [p for p in body["result"]["problems"] if p["severity"] == "error"] == []
    status, body = hub.call("artifacts", "list", token="reviewer", project="tickets")
    assert [a["kind"] for a in body["result"]] == ["project"]  # nothing was registered
