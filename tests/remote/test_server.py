"""`loopline server` over real HTTP: a subprocess server (tests/remote/conftest.py), clients
with urllib and raw sockets. Every hostile request gets its 4xx JSON error with a message, writes
nothing, and leaves the server up."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.api import SYSTEM, Actor, Client
from core.server.dispatch import KINDS, stale, unclassified, unresolved
from tests.remote.conftest import FIXTURES, PROJECT, Hub


def error_of(answer: tuple[int, Any]) -> tuple[int, str, str | None]:
    status, body = answer
    assert set(body) == {"error"}, body
    return status, body["error"]["message"], body["error"]["hint"]


def audit_total(hub: Hub) -> int:
    status, body = hub.call("accounts", "audit", token="manager", query={"limit": 1})
    assert status == 200, body
    return int(body["result"][1])


def project_names(hub: Hub) -> list[str]:
    status, body = hub.call("projects", "list", token="admin")
    assert status == 200, body
    return [p["name"] for p in body["result"]]


def upload(hub: Hub, data: bytes, name: str, *, token: str = "admin", sha: str | None = None):  # type: ignore[no-untyped-def]
    status, _, body = hub.request(
        "POST",
        "/api/v1/uploads",
        token=token,
        body=data,
        headers={
            "X-Content-SHA256": sha or hashlib.sha256(data).hexdigest(),
            "X-File-Name": name,
            "Content-Type": "application/octet-stream",
        },
    )
    return status, json.loads(body)


def uploads_left(hub: Hub) -> list[str]:
    folder = hub.workspace / "tmp" / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def project_yaml(name: str) -> bytes:
    text = (FIXTURES / "tickets.yaml").read_text(encoding="utf-8")
    return text.replace("name: tickets", f"name: {name}", 1).encode()


# -- the server itself --------------------------------------------------------------------------


def test_health_and_the_openapi_pages_need_no_token(hub: Hub) -> None:
    status, _, body = hub.request("GET", "/health", token=None)
    assert status == 200 and json.loads(body) == {"status": "ok", "version": "0.1.0", "api": 1}
    status, headers, body = hub.request("GET", "/docs", token=None)
    assert status == 200 and "text/html" in headers["content-type"] and b"swagger" in body.lower()
    status, _, body = hub.request("GET", "/openapi.json", token=None)
    paths = json.loads(body)["paths"]
    assert status == 200
    assert "/api/v1/call/projects/list" in paths and "/api/v1/uploads" in paths
    assert "/api/v1/call/serving/serve" not in paths  # runs a service in-process: not callable
    assert "/api/v1/call/data/detect_format" not in paths  # a static helper: runs locally


def test_every_api_method_is_classified_as_a_read_or_a_write() -> None:
    client = Client("/nonexistent", SYSTEM)
    assert unclassified(client) == [], "add them to core.server.dispatch.KINDS"
    assert stale(client) == []
    assert unresolved(client) == [], "import their annotations' types at run time"
    assert KINDS["projects.create"] == "write" and KINDS["runs.search"] == "read"


# -- who is asking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "message", "hint"),
    [
        (
            None,
            "An API token is needed.",
            "send `Authorization: Bearer <token>` (the CLI sends LOOPLINE_TOKEN); an admin "
            "creates one with `loopline tokens create USER --label …`",
        ),
        (
            "not-a-token",
            "The API token is malformed (expected llt.<user>.<secret>).",
            "copy the whole token `loopline tokens create` printed",
        ),
        (
            "llt.admin.guessed-secret",
            "The API token is not valid for this workspace.",
            "an admin creates one with `loopline tokens create USER --label …`",
        ),
    ],
)
def test_a_request_without_a_live_token_is_401_and_writes_nothing(
    hub: Hub, token: str | None, message: str, hint: str
) -> None:
    before, names = audit_total(hub), project_names(hub)
    status, data = upload(hub, project_yaml("intruder"), "intruder.yaml")
    assert status == 201  # the admin's upload
    answer = hub.call("projects", "create", token=token, path={"$upload": data["upload"]})
    assert error_of(answer) == (401, message, hint)
    assert answer[1]["error"]["kind"] == "Forbidden"
    for path in ("/api/v1/uploads", "/api/v1/objects/" + "0" * 64):
        method = "POST" if path.endswith("uploads") else "GET"
        status, _, body = hub.request(
            method, path, token=token, body=b"x" if method == "POST" else None
        )
        assert status == 401 and json.loads(body)["error"]["message"] == message
    assert audit_total(hub) == before and project_names(hub) == names
    assert hub.healthy()


def test_a_revoked_token_is_401(hub: Hub) -> None:
    status, body = hub.call("accounts", "create_token", user="reviewer", label="to revoke")
    assert status == 200
    token = body["result"]
    assert hub.call("accounts", "whoami", token=token)[0] == 200
    status, tokens = hub.call("accounts", "tokens", user="reviewer")
    token_id = next(t["token_id"] for t in tokens["result"] if t["label"] == "to revoke")
    assert hub.call("accounts", "revoke_token", token_id=token_id)[0] == 200
    status, message, hint = error_of(hub.call("accounts", "whoami", token=token))
    assert status == 401
    assert message.startswith("The API token 'to revoke' of reviewer was revoked on ")
    assert hint == "create a new one: `loopline tokens create USER --label …`"


def test_a_role_without_the_right_is_403_with_cores_message_and_nothing_is_written(
    hub: Hub,
) -> None:
    before, names = audit_total(hub), project_names(hub)
    status, data = upload(hub, project_yaml("annotated"), "annotated.yaml", token="annotator")
    assert status == 201
    answer = hub.call("projects", "create", token="annotator", path={"$upload": data["upload"]})
    status, message, hint = error_of(answer)
    assert status == 403 and answer[1]["error"]["kind"] == "Forbidden"
    assert message == (
        "annotator (annotator) may not register artifacts in annotated; a reviewer or "
        "data_scientist or release_manager or manager or service role is needed."
    )
    assert hint is not None
    assert audit_total(hub) == before and project_names(hub) == names
    assert hub.healthy()


def test_reads_are_checked_against_the_tokens_user(hub: Hub) -> None:
    status, message, _ = error_of(hub.call("accounts", "audit", token="annotator", query={}))
    assert status == 403 and "read and export the audit log" in message
    status, body = hub.call("accounts", "whoami", token="annotator")
    assert status == 200 and body["result"]["name"] == "annotator"


@pytest.mark.parametrize(
    ("area", "method", "what"),
    [
        ("runs", "search", "see runs, builds and models"),
        ("artifacts", "list", "see datasets, artifacts and lineage"),
        ("monitoring", "alerts", "see monitoring, drift and alerts"),
        ("requirements", "list", "see requirements and their evidence"),
    ],
)
def test_reads_core_checks_against_the_session_user_are_checked_as_the_tokens_user(
    hub: Hub, area: str, method: str, what: str
) -> None:
    status, message, _ = error_of(hub.call(area, method, token="annotator", project=PROJECT))
    assert status == 403
    assert message.startswith(f"annotator (annotator) may not {what} in {PROJECT}; ")
    assert hub.call(area, method, token="manager", project=PROJECT)[0] == 200


def test_a_write_through_the_server_is_audited_via_api_with_the_clients_address(
    hub: Hub,
) -> None:
    status, data = upload(hub, project_yaml("audited"), "audited.yaml", token="data_scientist")
    assert status == 201
    status, body = hub.call(
        "projects", "create", token="data_scientist", path={"$upload": data["upload"]}
    )
    assert status == 200 and body["result"]["name"] == "audited"
    status, body = hub.call(
        "accounts",
        "audit",
        token="manager",
        query={"action": "project.create", "project": "audited"},
    )
    [entry] = body["result"][0]
    assert (entry["actor"], entry["via"]) == ("data_scientist", "api")
    assert entry["details"] == {"address": "127.0.0.1", "token": "remote tests: data_scientist"}
    assert data["upload"] not in uploads_left(hub)  # the upload a successful call used is removed


def test_x_forwarded_for_is_ignored_without_trust_proxy(hub: Hub) -> None:
    status, _, _ = hub.request(
        "POST",
        "/api/v1/call/accounts/create_token",
        token="admin",
        json_body={"user": "service", "label": "forwarded?"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert status == 200
    _, found = hub.call("accounts", "audit", token="manager", query={"text": "forwarded?"})
    assert found["result"][0][0]["details"]["address"] == "127.0.0.1"


# -- requests that do not fit the API -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "projects/get",
            b"{not json",
            422,
            "The body is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1).",
        ),
        (
            "projects/get",
            b"[1, 2]",
            422,
            "projects.get: the body must be a JSON object of keyword arguments.",
        ),
        (
            "projects/get",
            b'{"nme": "x"}',
            422,
            "projects.get: unknown argument 'nme'. Expected some of: name.",
        ),
        ("projects/get", b"{}", 422, "projects.get: missing argument 'name'."),
        ("projects/get", b'{"name": 3}', 422, "name: expected text, got 3."),
        ("projects/get", b"[" * 200_000, 422, "The body is nested too deeply."),
        ("runs/search", b'{"order_by": ' + b"[" * 900 + b"]" * 900 + b"}", 422, "…"),
        ("projects/get", b'{"name": "\xff"}', 422, "The body is not valid JSON: …"),
        ("runs/search", b'{"limit": "ten"}', 422, "limit: expected an integer, got 'ten'."),
        ("runs/search", b'{"limit": true}', 422, "limit: expected an integer, got true."),
        ("runs/get", b'{"run_id": 1.5}', 422, "run_id: expected an integer, got 1.5."),
        (
            "accounts/audit",
            b'{"query": {"since": "yesterday"}}',
            422,
            "query.since: expected an ISO 8601 datetime, got 'yesterday'.",
        ),
        (
            "accounts/audit",
            b'{"query": {"who": "x"}}',
            422,
            "query: unknown field 'who' of AuditQuery. Expected some of: actor, action, project, "
            "since, until, text, projects, limit.",
        ),
        (
            "projects/create",
            b'{"path": "/etc/passwd"}',
            422,
            'path: a file is sent as {"$upload": "<id>"}, not as \'/etc/passwd\'.',
        ),
        (
            "projects/create",
            b'{"path": {"$upload": "../../etc"}}',
            422,
            "Not an upload id: '../../etc'.",
        ),
        (
            "projects/create",
            b'{"path": {"$upload": "0123456789abcdef0123456789abcdef"}}',
            422,
            "No upload '0123456789abcdef0123456789abcdef' on this server (uploads are removed "
            "after use and after 24 hours).",
        ),
        (
            "projects/get",
            b'{"name": "nope"}',
            404,
            "No project 'nope' in this workspace. Projects here: …",  # what the module made so far
        ),
        ("nope/list", b"{}", 404, "No API method nope.list."),
        ("projects/delete_all", b"{}", 404, "No API method projects.delete_all."),
        (
            "data/detect_format",
            b'{"name": "x.csv"}',
            404,
            "data.detect_format is not callable over HTTP (a helper the client runs locally, or "
            "private).",
        ),
        (
            "projects/_ws",
            b"{}",
            404,
            "projects._ws is not callable over HTTP (a helper the client runs locally, or private).",
        ),
        (
            "serving/serve",
            b'{"project": "tickets"}',
            404,
            "serving.serve is not callable over HTTP.",
        ),
        ("accounts/sign_in", b"{}", 404, "accounts.sign_in is not callable over HTTP."),
        (
            "accounts/user_for_email",
            b'{"email": "a@example.org"}',
            404,
            "accounts.user_for_email is not callable over HTTP.",
        ),
    ],
)
def test_a_request_that_does_not_fit_is_refused_with_a_message(
    hub: Hub, path: str, body: bytes, status: int, message: str
) -> None:
    before = audit_total(hub)
    got, headers, answer = hub.request(
        "POST", f"/api/v1/call/{path}", body=body, headers={"Content-Type": "application/json"}
    )
    said = json.loads(answer)["error"]["message"]
    if message.endswith("…"):
        said = said[: len(message) - 1] + "…"
    assert (got, said) == (status, message)
    assert headers["content-type"] == "application/json"
    assert audit_total(hub) == before
    assert hub.healthy()


def test_an_unknown_route_is_a_json_404(hub: Hub) -> None:
    status, _, body = hub.request("GET", "/api/v2/anything", token=None)
    assert status == 404
    assert json.loads(body)["error"] == {
        "kind": "NotFound",
        "message": "No route GET /api/v2/anything.",
        "hint": "GET /docs lists the routes",
    }


# -- uploads and objects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ("../x", "../x"),
        ("/etc/passwd", "/etc/passwd"),
        ("..", ".."),
        ("dir/file.csv", "dir/file.csv"),
        ("back\\slash", "back\\slash"),
        ("tab\tname", "tab\tname"),
        ("a%00b.csv", "a\x00b.csv"),  # %-quoted, as a client sends a name that is not ASCII
        ("%2e%2e%2fx", "../x"),
        ("", ""),
    ],
)
def test_a_file_name_with_a_folder_or_a_control_character_is_422(
    hub: Hub, sent: str, name: str
) -> None:
    before = uploads_left(hub)
    with socket.create_connection(_address(hub)) as sock:  # urllib refuses such headers itself
        sock.sendall(
            b"POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: Bearer {hub.token('admin')}\r\n".encode()
            + f"X-Content-SHA256: {hashlib.sha256(b'data').hexdigest()}\r\n".encode()
            + f"X-File-Name: {sent}\r\nContent-Length: 4\r\n\r\ndata".encode()
        )
        answer = _read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 422, answer
    assert json.loads(body)["error"]["message"] == (
        "X-File-Name must be a file's base name (no folder, no control character, at most "
        f"255 characters); got {name!r}."
    )
    assert uploads_left(hub) == before
    assert hub.healthy()


def test_an_upload_whose_hash_does_not_match_keeps_nothing(hub: Hub) -> None:
    before = uploads_left(hub)
    data = b"a,b\n1,2\n"
    status, body = upload(hub, data, "x.csv", sha="ab" * 32)
    assert status == 422
    assert body["error"]["message"] == (
        f"x.csv: the received file's SHA-256 is {hashlib.sha256(data).hexdigest()}, "
        f"not {'ab' * 32} as announced; nothing was kept."
    )
    status, body = upload(hub, b"a", "x.csv", sha="not-a-hash")
    assert status == 422 and body["error"]["message"] == (
        "X-Content-SHA256 must be the file's SHA-256 in hex; got 'not-a-hash'."
    )
    assert uploads_left(hub) == before
    assert hub.healthy()


def test_an_upload_cut_half_way_leaves_no_upload_behind(hub: Hub) -> None:
    before = uploads_left(hub)
    data = b"x" * 4_000_000
    with socket.create_connection(_address(hub)) as sock:
        sock.sendall(
            b"POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {hub.token('admin')}\r\n".encode()
            + f"X-Content-SHA256: {hashlib.sha256(data).hexdigest()}\r\n".encode()
            + f"X-File-Name: big.csv\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data[: len(data) // 2]
        )
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and uploads_left(hub) != before:
        time.sleep(0.1)
    left = [n for n in uploads_left(hub) if n not in before]
    assert left == []  # the .part of the cut upload is removed (a killed server's at restart)
    assert hub.healthy()


def test_an_ingest_through_an_upload_and_the_objects_it_stored(hub: Hub) -> None:
    data = (FIXTURES / "tickets.csv").read_bytes()
    status, sent = upload(hub, data, "tickets.csv", token="data_scientist")
    assert status == 201 and sent["sha256"] == hashlib.sha256(data).hexdigest()
    assert sent["size"] == len(data)
    status, body = hub.call(
        "data", "ingest", token="data_scientist", project=PROJECT, path={"$upload": sent["upload"]}
    )
    assert status == 200, body
    files = body["result"]["dataset"]["files"]
    assert files and body["result"]["new_rows"] == 4
    source = body["result"]["data_source"]["files"][0]["blob_hash"]
    assert source == sent["sha256"]  # the uploaded file is the data source, byte for byte
    status, headers, got = hub.request("GET", f"/api/v1/objects/{source}", token="reviewer")
    assert status == 200 and got == data
    assert headers["x-content-sha256"] == source
    status, _, body = hub.request("GET", f"/api/v1/objects/{'0' * 64}", token="reviewer")
    assert (
        status == 404
        and json.loads(body)["error"]["message"] == f"No object {'0' * 64} in this workspace."
    )
    for role in ("annotator", "service"):  # they do not read datasets (a service reads models)
        status, _, body = hub.request("GET", f"/api/v1/objects/{source}", token=role)
        assert status == 403 and json.loads(body)["error"]["kind"] == "Forbidden"
    status, _, body = hub.request("GET", "/api/v1/objects/..%2f..%2fetc", token="reviewer")
    assert status == 404


def test_a_refused_ingest_is_422_with_its_problems(hub: Hub) -> None:
    bad = b"ticket_id,opened_at,channel,text\nt1,not a date,fax,hello\n"
    status, sent = upload(hub, bad, "bad.csv", token="data_scientist")
    assert status == 201
    status, body = hub.call(
        "data", "ingest", token="data_scientist", project=PROJECT, path={"$upload": sent["upload"]}
    )
    assert status == 422
    error = body["error"]
    assert error["kind"] == "IngestRefused" and error["count"] == len(error["problems"]) == 2
    assert error["message"] == "bad.csv: refused, 2 problems; nothing was written."
    assert {p["column"] for p in error["problems"]} == {"opened_at", "channel"}


def test_a_method_returning_bytes_answers_them_raw_with_their_hash(hub: Hub) -> None:
    status, headers, body = hub.request(
        "POST",
        "/api/v1/call/accounts/export_audit",
        token="manager",
        json_body={"query": {}},
        headers={"X-Request-Id": str(uuid.uuid4())},
    )
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["x-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert body.startswith(b"\xef\xbb\xbfaudit_id,")  # a BOM, for spreadsheets


# -- retries ------------------------------------------------------------------------------------


def test_a_retried_write_returns_the_kept_response_and_does_not_run_again(hub: Hub) -> None:
    _, sent = upload(hub, project_yaml("retried"), "retried.yaml", token="data_scientist")
    request_id = str(uuid.uuid4())
    first = hub.call(
        "projects",
        "create",
        token="data_scientist",
        request_id=request_id,
        path={"$upload": sent["upload"]},
    )
    assert first[0] == 200
    before = audit_total(hub)
    again = hub.call(
        "projects",
        "create",
        token="data_scientist",
        request_id=request_id,
        path={"$upload": sent["upload"]},  # removed after the first call: not needed again
    )
    assert again == first
    assert audit_total(hub) == before
    assert project_names(hub).count("retried") == 1
    other = hub.call("projects", "list", token="data_scientist", request_id=request_id)
    assert other[0] == 200  # a read is never kept
    refused = hub.call(
        "accounts",
        "create_token",
        token="data_scientist",
        request_id=request_id,
        user="data_scientist",
        label="same id",
    )
    assert error_of(refused) == (
        422,
        f"X-Request-Id {request_id!r} was already used for projects.create, not "
        "accounts.create_token.",
        "send a new request id for each logical call",
    )
    # the same id of another user is that user's own request
    other_user = hub.call(
        "accounts",
        "create_token",
        token="manager",
        request_id=request_id,
        user="manager",
        label="same id, other user",
    )
    assert other_user[0] == 200


def test_concurrent_retries_of_one_write_run_it_once(hub: Hub) -> None:
    request_id = str(uuid.uuid4())
    answers: list[tuple[int, Any]] = []

    def create() -> None:
        answers.append(
            hub.call(
                "accounts",
                "create_token",
                token="admin",
                request_id=request_id,
                user="service",
                label="concurrent retries",
            )
        )

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a[0] for a in answers] == [200] * 4
    assert len({a[1]["result"] for a in answers}) == 1  # the same token text every time
    _, tokens = hub.call("accounts", "tokens", user="service")
    assert [t["label"] for t in tokens["result"]].count("concurrent retries") == 1


def _address(hub: Hub) -> tuple[str, int]:
    parts = urlsplit(hub.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_workspace_is_left_verified(hub: Hub) -> None:
    status, body = hub.call("artifacts", "verify", token="admin", request_id=str(uuid.uuid4()))
    assert status == 200
    assert [p for p in body["result"]["problems"] if p["severity"] == "error"] == []
    assert Path(hub.workspace).is_dir()


def test_concurrent_writes_of_several_clients_all_land_without_a_lock_error(hub: Hub) -> None:
    answers: list[int] = []

    def client(number: int) -> None:
        for call in range(5):
            status, _ = hub.call(
                "accounts",
                "create_token",
                token="admin",
                request_id=str(uuid.uuid4()),
                user="service",
                label=f"client {number} call {call}",
            )
            answers.append(status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 40
    _, tokens = hub.call("accounts", "tokens", user="service")
    labels = {t["label"] for t in tokens["result"]}
    assert {f"client {n} call {c}" for n in range(8) for c in range(5)} <= labels


def test_the_server_lets_go_of_the_workspace_file_soon_after_a_burst(hub: Hub) -> None:
    """Another process on the machine (the app, a backup) opens the workspace between bursts."""
    for _ in range(5):
        assert hub.call("accounts", "whoami", token="manager")[0] == 200
    started = time.monotonic()
    local = Client(hub.workspace, Actor("manager", "test"))
    assert PROJECT in [p.name for p in local.projects.list()]
    assert time.monotonic() - started < 5  # the linger is half a second; attaching is the rest
    assert hub.call("accounts", "whoami", token="manager")[0] == 200  # and the server gets it back
