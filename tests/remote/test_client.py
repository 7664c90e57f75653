"""The remote client without a Loopline server: rebuilding every result the API returns from its
JSON form, the errors a server sends, and the transport (retries, uploads, downloads) against a
small real HTTP server in this process."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import subprocess
import sys
import threading
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import core.api.types as types_module
from core.api import CoreError, Forbidden, IngestRefused, InvalidInput, NotFound, serialise
from core.api.types import Artifact, IngestResult, RunTable
from core.remote import RemoteClient, Transport, area_types, core_error, rebuild
from core.remote.deserialise import Mismatch, field_types, signature_types

ROOT = Path(__file__).resolve().parents[2]
# dataclasses of core.api.types that never cross the wire: what they hold lives in one process
NOT_SENT = {"TrainResult": "holds the trained model in memory"}


# -- sample values built from annotations ------------------------------------------------------


def sample(annotation: Any, depth: int = 0) -> Any:
    """A value of ``annotation`` with every field filled (nested dataclasses too)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        return sample(arms[0], depth)
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin in (list, Sequence, set, frozenset):
        item = sample(typing.get_args(annotation)[0], depth + 1)
        return origin([item]) if origin in (set, frozenset) else [item]
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample(args[0], depth + 1),)
        return tuple(sample(a, depth + 1) for a in args)
    if origin in (dict, Mapping):
        key, value = typing.get_args(annotation)
        return {sample(key, depth + 1): sample(value, depth + 1)}
    return _plain_sample(annotation, depth)


def _plain_sample(kind: Any, depth: int) -> Any:
    simple = {
        bool: True,
        int: 7,
        float: 0.25,
        str: "text",
        bytes: b"\x00bytes\xff",
        datetime: datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        date: date(2026, 3, 4),
        timedelta: timedelta(seconds=90),
        Path: Path("/srv/loopline/file.csv"),
        type(None): None,
    }
    if kind in simple:
        return simple[kind]
    if kind is Any:
        return {"any": [1, "two"]}
    if kind is pd.DataFrame:
        return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    if kind is np.ndarray:
        return np.array([0.5, 1.5])
    if isinstance(kind, type) and issubclass(kind, CoreError):
        return kind("refused", hint="ask an admin")
    if dataclasses.is_dataclass(kind):
        hints = field_types(kind)
        values = {
            f.name: sample(hints[f.name], depth + 1) for f in dataclasses.fields(kind) if f.init
        }
        return kind(**values)
    if kind is dict:
        return {"k": 1}
    if kind is list:
        return [1]
    raise AssertionError(f"no sample for {kind!r}")


def sent_dataclasses() -> list[type]:
    found = [
        value
        for name, value in vars(types_module).items()
        if dataclasses.is_dataclass(value) and isinstance(value, type) and name not in NOT_SENT
    ]
    return sorted(found, key=lambda c: c.__name__)


def api_methods() -> Iterator[tuple[str, str, Any]]:
    for area, cls in sorted(area_types().items()):
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or isinstance(inspect.getattr_static(cls, name), staticmethod):
                continue
            yield area, name, function


def same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- rebuilding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", sent_dataclasses(), ids=lambda c: c.__name__)
def test_every_api_dataclass_comes_back_from_its_json(cls: type) -> None:
    original = sample(cls)
    sent = json.loads(json.dumps(serialise(original)))
    back = rebuild(sent, cls)
    assert type(back) is cls
    assert same_json(serialise(back), sent)


@pytest.mark.parametrize(
    ("area", "name", "function"), list(api_methods()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_api_method_result_comes_back_as_its_annotation(
    area: str, name: str, function: Any
) -> None:
    annotation = signature_types(function)["return"]
    if annotation is type(None):
        assert rebuild(None, annotation) is None
        return
    original = sample(annotation)
    sent = json.loads(json.dumps(serialise(original)))
    back = rebuild(sent, annotation)
    assert same_json(serialise(back), sent)
    if isinstance(original, tuple | list | dict) or dataclasses.is_dataclass(original):
        assert type(back) is type(original)


def test_keys_numbers_and_frames_come_back_as_they_were_typed() -> None:
    assert rebuild({"3": 5, "12": 0}, dict[int, int]) == {3: 5, 12: 0}
    metrics = {("accuracy", ""): (0.9, 40), ("accuracy", "de"): (None, None)}
    sent = json.loads(json.dumps(serialise(metrics)))
    assert rebuild(sent, Mapping[tuple[str, str], tuple[float | None, int | None]]) == metrics
    assert math.isnan(rebuild(None, float))
    assert rebuild(None, float | None) is None
    assert rebuild(3, int | str) == 3 and rebuild("3", int | str) == "3"
    frame = rebuild([{"run_id": 1, "metrics.f1": 0.5}], pd.DataFrame)
    assert list(frame.columns) == ["run_id", "metrics.f1"] and frame["run_id"].tolist() == [1]
    table = rebuild({"frame": [], "total": 0, "notices": []}, RunTable)
    assert table.frame.empty
    assert rebuild(serialise(b"\x00\xff"), bytes) == b"\x00\xff"


def test_a_field_the_server_leaves_out_takes_its_default() -> None:
    actor = rebuild(
        {"name": "ada", "via": "api", "os_user": None, "chosen": False}, types_module.Actor
    )
    assert actor.token is None and actor.name == "ada"


def test_json_that_does_not_fit_is_refused_with_what_was_expected() -> None:
    with pytest.raises(Mismatch, match="expected an integer, got 'seven'"):
        rebuild("seven", int)
    with pytest.raises(Mismatch, match="Artifact has no field colour"):
        rebuild({**serialise(sample(Artifact)), "colour": "red"}, Artifact)


# -- errors the server sends ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CoreError, NotFound, InvalidInput, Forbidden])
def test_a_refusal_is_raised_as_the_error_it_names(kind: type[CoreError]) -> None:
    error = core_error({"kind": kind.__name__, "message": "No project 'x'.", "hint": "list them"})
    assert type(error) is kind
    assert (error.message, error.hint, error.exit_code) == ("No project 'x'.", "list them", 2)


def test_an_unknown_kind_is_a_core_error() -> None:
    error = core_error({"kind": "SomethingNew", "message": "m", "hint": None})
    assert type(error) is CoreError and error.hint is None


def test_a_refused_ingest_keeps_its_problem_rows() -> None:
    error = core_error(
        {
            "kind": "IngestRefused",
            "message": "new.csv: refused, 3 problems (showing 2); nothing was written.",
            "hint": "fix the listed rows and ingest the file again",
            "problems": [
                {"row": 4, "column": "sent_at", "problem": "not a date", "expected": "a date"},
                {"row": None, "column": None, "problem": "no id column", "expected": "id"},
            ],
            "count": 3,
        }
    )
    assert isinstance(error, IngestRefused)
    assert [str(p) for p in error.problems] == [
        "row 4, sent_at: not a date (expected a date)",
        "no id column (expected id)",
    ]
    assert error.count == 3


# -- the transport against a real HTTP server ------------------------------------------------------


CUT = "X-Stub-Cut"  # an answer's header: the stub sends that many bytes of the body and hangs up


class Stub:
    """A tiny HTTP server whose answers a test scripts; it records every request."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, data = (
                    stub.answers.pop(0) if stub.answers else (200, {}, b'{"result": null}')
                )
                cut = headers.pop(CUT, None)  # send only this many bytes, then hang up
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut is not None:
                    self.wfile.write(data[: int(cut)])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.answers.append((status, dict(headers or {}), data))


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.server.shutdown()
    server.server.server_close()


def transport(stub: Stub, **options: Any) -> Transport:
    return Transport(stub.url, "llt.ada.secret", **{"backoff": 0.01, **options})


def test_a_call_is_retried_on_503_with_the_same_request_id(stub: Stub) -> None:
    stub.answer(503, {"error": {"kind": "CoreError", "message": "busy", "hint": None}})
    stub.answer(502, b"bad gateway", {"Content-Type": "text/plain"})
    stub.answer(200, {"result": [1, 2]})
    assert transport(stub).call("labeling", "labels_left", {"task_ids": [1]}) == [1, 2]
    ids = {headers["X-Request-Id"] for _, _, headers, _ in stub.requests}
    assert len(stub.requests) == 3 and len(ids) == 1
    method, path, headers, body = stub.requests[0]
    assert (method, path) == ("POST", "/api/v1/call/labeling/labels_left")
    assert headers["Authorization"] == "Bearer llt.ada.secret"
    assert json.loads(body) == {"task_ids": [1]}


def test_two_calls_carry_two_request_ids(stub: Stub) -> None:
    client = transport(stub)
    client.call("projects", "list", {})
    client.call("projects", "list", {})
    assert len({headers["X-Request-Id"] for _, _, headers, _ in stub.requests}) == 2


def test_a_refusal_is_raised_as_the_core_error_with_its_hint(stub: Stub) -> None:
    stub.answer(
        404, {"error": {"kind": "NotFound", "message": "No project 'nope'.", "hint": "list them"}}
    )
    with pytest.raises(NotFound, match="^No project 'nope'.$") as caught:
        transport(stub).call("projects", "get", {"name": "nope"})
    assert caught.value.hint == "list them"


def test_a_401_names_the_token_variable(stub: Stub) -> None:
    stub.answer(
        401, {"error": {"kind": "CoreError", "message": "Unknown API token.", "hint": None}}
    )
    with pytest.raises(CoreError) as caught:
        transport(stub).call("projects", "list", {})
    assert caught.value.message == "The server refused the API token (Unknown API token)."
    assert "LOOPLINE_TOKEN" in (caught.value.hint or "")


def test_an_answer_that_is_not_a_loopline_error_says_the_status(stub: Stub) -> None:
    stub.answer(500, b"<html>oops</html>", {"Content-Type": "text/html"})
    with pytest.raises(CoreError) as caught:
        transport(stub, retries=0).call("projects", "list", {})
    assert caught.value.message == f"The server at {stub.url} answered 500 Internal Server Error."


def test_an_unreachable_server_is_a_core_error_after_the_retries() -> None:
    closed = Transport("http://127.0.0.1:9", None, retries=1, backoff=0.01)
    with pytest.raises(CoreError) as caught:
        closed.call("projects", "list", {})
    assert caught.value.message.startswith(
        "Cannot reach the Loopline server at http://127.0.0.1:9:"
    )
    assert caught.value.hint == (
        "check LOOPLINE_URL (or --server) and that `loopline server` runs there; tried 2 times"
    )


def test_bytes_come_back_raw_and_checked(stub: Stub) -> None:
    data = b"item_id,label\n1,spam\n"
    good = {"Content-Type": "application/octet-stream"}
    stub.answer(200, data, {**good, "X-Content-SHA256": hashlib.sha256(data).hexdigest()})
    stub.answer(200, data, {**good, "X-Content-SHA256": "0" * 64})
    client = transport(stub)
    assert client.call("labeling", "export", {"label_set": 1, "fmt": "csv"}) == data
    with pytest.raises(CoreError, match="arrived with another SHA-256"):
        client.call("labeling", "export", {"label_set": 1, "fmt": "csv"})


def test_an_upload_streams_the_file_with_its_hash_and_name(stub: Stub, tmp_path: Path) -> None:
    file = tmp_path / "new emails.csv"
    file.write_bytes(b"x" * 3_000_000)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    stub.answer(201, {"upload": "u-1", "sha256": digest, "size": 3_000_000})
    assert transport(stub).upload(file) == "u-1"
    method, path, headers, body = stub.requests[0]
    assert (method, path, body) == ("POST", "/api/v1/uploads", file.read_bytes())
    assert headers["X-Content-SHA256"] == digest and headers["X-File-Name"] == "new%20emails.csv"
    assert headers["Content-Length"] == "3000000"


def test_a_download_is_verified_and_written_whole(stub: Stub, tmp_path: Path) -> None:
    data = b"model bytes" * 1000
    digest = hashlib.sha256(data).hexdigest()
    octets = {"Content-Type": "application/octet-stream"}
    stub.answer(200, data, octets)
    stub.answer(200, b"tampered", octets)
    client = transport(stub)
    target = client.download(digest, tmp_path / "cache" / "model.bin")
    assert target.read_bytes() == data and stub.requests[0][1] == f"/api/v1/objects/{digest}"
    with pytest.raises(CoreError, match="arrived with another SHA-256"):
        client.download(digest, tmp_path / "other.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no partial file left


def test_a_download_cut_short_is_fetched_again(stub: Stub, tmp_path: Path) -> None:
    data = b"model bytes" * 100_000
    digest = hashlib.sha256(data).hexdigest()
    octets = {"Content-Type": "application/octet-stream"}
    stub.answer(200, data, {**octets, CUT: "0"})  # a server killed right after the headers
    stub.answer(200, data, {**octets, CUT: "5000"})
    stub.answer(200, data, octets)
    target = transport(stub).download(digest, tmp_path / "model.bin")
    assert target.read_bytes() == data and len(stub.requests) == 3


def test_a_download_always_cut_short_is_an_unreachable_server(stub: Stub, tmp_path: Path) -> None:
    data = b"model bytes" * 1000
    octets = {"Content-Type": "application/octet-stream", CUT: "10"}
    stub.answer(200, data, octets)
    stub.answer(200, data, octets)
    with pytest.raises(CoreError) as caught:
        transport(stub, retries=1).download(hashlib.sha256(data).hexdigest(), tmp_path / "m.bin")
    assert caught.value.message == (
        f"Cannot reach the Loopline server at {stub.url}: "
        "the connection closed after 10 of 11,000 bytes."
    )
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_an_answer_cut_short_is_an_unreachable_server(stub: Stub) -> None:
    stub.answer(200, {"result": list(range(100))}, {CUT: "20"})
    with pytest.raises(CoreError, match="^Cannot reach the Loopline server at .*IncompleteRead"):
        transport(stub).call("projects", "list", {})


def test_the_client_uploads_a_path_and_rebuilds_the_result(stub: Stub, tmp_path: Path) -> None:
    file = tmp_path / "new.csv"
    file.write_text("id,text\n1,hi\n", encoding="utf-8")
    result = sample(IngestResult)
    stub.answer(201, {"upload": "u-9", "sha256": None, "size": 13})
    stub.answer(200, {"result": serialise(result)})
    client = RemoteClient(stub.url, "llt.ada.secret")
    seen: list[tuple[str, float]] = []
    got = client.data.ingest("emails", file, mode="replace", progress=lambda *a: seen.append(a))
    assert got == result
    assert json.loads(stub.requests[1][3]) == {
        "project": "emails",
        "path": {"$upload": "u-9"},
        "mode": "replace",
    }
    assert client.actor.name == "ada" and client.location == stub.url


def test_a_missing_file_is_said_before_anything_is_sent(stub: Stub, tmp_path: Path) -> None:
    client = RemoteClient(stub.url, "llt.ada.secret")
    with pytest.raises(InvalidInput, match=f"^No file at {tmp_path / 'gone.csv'}.$"):
        client.data.ingest("emails", tmp_path / "gone.csv")
    assert stub.requests == []


def test_static_helpers_run_here(stub: Stub) -> None:
    client = RemoteClient(stub.url, "llt.ada.secret")
    assert client.monitoring.group_alerts([]) == []
    assert client.data.detect_format("x.parquet") == "parquet"
    assert stub.requests == []


def test_a_callback_other_than_progress_is_refused(stub: Stub) -> None:
    client = RemoteClient(stub.url, "llt.ada.secret")
    with pytest.raises(CoreError, match="serving.serve: ready is a callback"):
        client.serving.serve("emails", ready=print)


def test_local_only_workspace_methods_refuse(stub: Stub) -> None:
    client = RemoteClient(stub.url, "llt.ada.secret")
    with pytest.raises(CoreError, match="works only on the workspace's machine"):
        client.init()
    assert client.exists() is False  # the stub's /health is not a Loopline server's
    stub.answer(200, {"status": "ok", "version": "x", "api": 1})
    assert client.exists() is True


def test_the_remote_client_never_imports_duckdb(stub: Stub) -> None:
    stub.answer(200, {"result": []})
    code = (
        "import sys\n"
        "from core.remote import RemoteClient\n"
        f"client = RemoteClient({stub.url!r}, 'llt.ada.secret')\n"
        "assert client.projects.list() == []\n"
        "client.monitoring.group_alerts([])\n"
        "assert 'duckdb' not in sys.modules, 'duckdb was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
