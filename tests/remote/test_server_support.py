"""core.api.server_support in process, on a real workspace: kept responses (claim, keep, forget,
their age), the upload folder's cleaning, and an object's reader check."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from core.api import SYSTEM, Actor, Client, Forbidden, InvalidInput, NotFound
from core.api.server_support import KeptResponse, RequestRunning, ServerSupport
from tests.remote.conftest import make_workspace


@pytest.fixture
def support(tmp_path: Path) -> ServerSupport:
    make_workspace(tmp_path / "ws")
    return ServerSupport(Client(tmp_path / "ws", SYSTEM))


def test_a_claim_runs_once_then_answers_the_kept_response(support: ServerSupport) -> None:
    assert support.claim_request("ada", "r1", "projects.create") is None
    with pytest.raises(RequestRunning):
        support.claim_request("ada", "r1", "projects.create")
    kept = KeptResponse(200, "application/json", b'{"result": 1}')
    support.keep_response("ada", "r1", kept)
    assert support.claim_request("ada", "r1", "projects.create") == kept
    assert support.claim_request("bob", "r1", "projects.create") is None  # bob's own id
    with pytest.raises(InvalidInput) as refused:
        support.claim_request("ada", "r1", "runs.train")
    assert refused.value.message == (
        "X-Request-Id 'r1' was already used for projects.create, not runs.train."
    )


def test_unfinished_claims_and_old_responses_are_forgotten(support: ServerSupport) -> None:
    support.claim_request("ada", "running", "runs.train")
    support.claim_request("ada", "done", "runs.train")
    support.keep_response("ada", "done", KeptResponse(200, "application/json", b"{}"))
    assert support.forget_unfinished() == 1
    assert support.claim_request("ada", "running", "runs.train") is None  # runs again
    assert support.forget_old_requests() == 0  # kept for a day
    assert support.forget_old_requests(older_than=timedelta(0)) == 1
    assert support.claim_request("ada", "done", "runs.train") is None


def test_a_request_id_is_short_and_plain() -> None:
    assert ServerSupport.check_request_id("6f1c-a.b:c_d") == "6f1c-a.b:c_d"
    with pytest.raises(InvalidInput) as refused:
        ServerSupport.check_request_id("a b")
    assert refused.value.message == (
        "X-Request-Id must be 1 to 100 letters, digits or ._:-; got 'a b'."
    )


def test_cleaning_the_uploads(support: ServerSupport) -> None:
    folder = support.uploads
    folder.mkdir(parents=True)
    (folder / ("a" * 32)).mkdir()
    ((folder / ("a" * 32)) / "fresh.csv").write_text("x")
    old = folder / ("b" * 32)
    old.mkdir()
    (old / "old.csv").write_text("x")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    (folder / ("c" * 32 + ".part")).write_text("half")
    assert [p.name for p in support.clean_uploads()] == ["b" * 32]
    assert support.clean_uploads(parts_older_than=timedelta(hours=1)) == []  # it may still arrive
    removed = support.clean_uploads(parts_older_than=timedelta(0))
    assert [p.name for p in removed] == ["c" * 32 + ".part"]
    assert [p.name for p in folder.iterdir()] == ["a" * 32]


def test_an_object_is_read_only_by_who_may_read_its_project(support: ServerSupport) -> None:
    client = Client(support.uploads.parents[1], Actor("data_scientist", "test"))
    spec = client.artifacts.list(kind="project")[0]
    digest = spec.files[0].blob_hash
    reader = ServerSupport(client.acting_as(Actor("reviewer", "test")))
    assert reader.object_path(digest).read_bytes() == client.workspace.blobs.read_bytes(digest)
    with pytest.raises(Forbidden):
        ServerSupport(client.acting_as(Actor("annotator", "test"))).object_path(digest)
    with pytest.raises(NotFound) as missing:
        reader.object_path("f" * 64)
    assert missing.value.message == f"No object {'f' * 64} in this workspace."
    with pytest.raises(NotFound):
        reader.object_path("../../etc/passwd")
