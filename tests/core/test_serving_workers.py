"""`loopline serve` with several worker processes (LOOPLINE_SERVE_WORKERS) through real HTTP:
under concurrent load no record is lost or written twice, every worker follows a promotion,
and a bad worker count is refused with its message."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from core.api import Client
from core.errors import CoreError
from core.serving.host import spool_lock
from core.serving.log import PREDICTIONS, read_log, segments
from core.serving.server import Workers, worker_count
from core.store import Workspace
from tests.core.release_project import ADMIN, copy, two_models
from tests.core.small_project import PROJECT
from tests.core.test_serving_candidates import _models, _text
from tests.core.test_serving_http import Service

WORKERS = 3


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_models(tmp_path_factory.mktemp("release"))


@pytest.fixture()
def ws_path(released: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy(released, tmp_path / "ws")
    monkeypatch.setenv("LOOPLINE_SERVE_WORKERS", str(WORKERS))
    yield tmp_path / "ws"


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    """A client that keeps no connection alive: each request opens its own, which lands on
    whichever worker accepts it. One for all the requests of a test: building a client loads
    the TLS certificates (~50 ms of CPU), more than the service spends on a request."""
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield client


def _worker_models(http: httpx.Client, url: str, seconds: float = 30.0) -> dict[int, int]:
    """Worker pid -> the artifact id it serves, asked on fresh connections (each lands on
    whichever worker accepts it) until all the workers have answered."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while True:
        health = http.get(f"{url}/health", timeout=10).json()
        seen[health["worker"]] = health["model"]["artifact_id"]
        if len(seen) == WORKERS or time.monotonic() > deadline:
            return seen
        time.sleep(0.01)  # asking again at once would keep a core busy while a worker is away


def _post(http: httpx.Client, url: str, request_id: str, i: int) -> int:
    body = {"request_id": request_id, "inputs": _text(i)}
    return http.post(f"{url}/predict", json=body).status_code


def _segment_pids(path: Path) -> set[int]:
    names = segments(Workspace.open(path), PROJECT, PREDICTIONS)
    return {int(segment.name.split("-")[2]) for segment in names}


def test_workers_lose_and_duplicate_no_record(ws_path: Path, http: httpx.Client) -> None:
    service = Service(ws_path, PROJECT)
    try:
        workers = set(_worker_models(http, service.url))
        assert len(workers) == WORKERS, service.text
        sent = [f"w{i}" for i in range(400)]
        with ThreadPoolExecutor(16) as pool:  # a fresh connection per request: all workers answer
            codes = list(pool.map(lambda i: _post(http, service.url, sent[i], i), range(len(sent))))
        assert codes == [200] * len(sent)
    finally:
        service.stop()  # SIGTERM: each worker flushes its log once
    answers = read_log(Workspace.open(ws_path), PROJECT, PREDICTIONS)
    assert len(answers) == len(sent)
    assert sorted(answers["request_id"]) == sorted(sent)
    assert _segment_pids(ws_path) <= workers and len(_segment_pids(ws_path)) >= 2
    assert service.process.returncode in (0, -signal.SIGTERM)


def test_every_worker_follows_a_promotion(ws_path: Path, http: httpx.Client) -> None:
    production, candidate = _models(ws_path)
    service = Service(ws_path, PROJECT)
    try:
        assert set(_worker_models(http, service.url).values()) == {production}
        Client(ws_path, ADMIN).models.promote(PROJECT, candidate, reason="next")  # while serving
        deadline = time.monotonic() + 30
        switched: dict[int, int] = {}
        while time.monotonic() < deadline:
            switched |= _worker_models(http, service.url, seconds=5)
            if len(switched) == WORKERS and set(switched.values()) == {candidate}:
                break
            time.sleep(0.2)
        assert len(switched) == WORKERS and set(switched.values()) == {candidate}, switched
        for i in range(60):
            assert _post(http, service.url, f"after{i}", i) == 200
    finally:
        service.stop(signal.SIGINT)  # Ctrl-C: the parent stops each worker once, all flush
    answers = read_log(Workspace.open(ws_path), PROJECT, PREDICTIONS)
    after = answers[answers["request_id"].str.startswith("after")]
    assert len(after) == 60 and set(after["model_id"]) == {str(candidate)}


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_bad_worker_count_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LOOPLINE_SERVE_WORKERS", value)
    with pytest.raises(CoreError) as caught:
        worker_count()
    assert caught.value.message == (
        f"LOOPLINE_SERVE_WORKERS must be a whole number from 1 to 64, got {value!r}."
    )
    assert caught.value.hint == "one worker per core the service may use (unset it for one)"


def test_the_worker_count_defaults_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_SERVE_WORKERS", raising=False)
    assert worker_count() == 1
    assert worker_count(4) == 4


def test_a_worker_that_dies_is_replaced(ws_path: Path, http: httpx.Client) -> None:
    service = Service(ws_path, PROJECT)
    try:
        first = set(_worker_models(http, service.url))
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        now: set[int] = set()
        while time.monotonic() < deadline and (len(now) < WORKERS or killed in now):
            try:
                now = set(_worker_models(http, service.url, seconds=1))
            except httpx.TransportError:  # a connection the dying worker had accepted
                continue
        assert killed not in now and len(now) == WORKERS, service.text
        assert f"serving worker {killed} stopped (signal 9); starting another" in service.text
        assert _post(http, service.url, "after-kill", 1) == 200
    finally:
        service.stop()
    answers = read_log(Workspace.open(ws_path), PROJECT, PREDICTIONS)
    assert list(answers["request_id"]) == ["after-kill"]


def _fails() -> None:
    raise RuntimeError("no model in this worker")


def test_workers_that_fail_at_their_start_stop_the_service() -> None:
    with pytest.raises(CoreError) as caught:
        Workers(_fails, 2).run()  # forks this process twice; each worker exits with code 1
    assert re.fullmatch(
        r"A serving worker \(process \d+\) stopped at its start \(exit code 1\)\.",
        caught.value.message,
    )
    assert caught.value.hint == "run with one worker (unset LOOPLINE_SERVE_WORKERS) to see why"


def test_one_worker_at_a_time_ships_a_hosts_spool(tmp_path: Path) -> None:
    with spool_lock(tmp_path / "spool") as first, spool_lock(tmp_path / "spool") as second:
        assert (first, second) == (True, False)  # the second waits for its next turn
    with spool_lock(tmp_path / "spool") as again:
        assert again


def test_a_bad_workers_flag_is_refused_before_the_model_loads() -> None:
    """`loopline serve --workers 0` names the flag (not the variable) and starts nothing."""
    with pytest.raises(CoreError) as caught:
        worker_count(0)
    assert caught.value.message == "--workers must be a whole number from 1 to 64, got 0."
    assert worker_count(3) == 3
