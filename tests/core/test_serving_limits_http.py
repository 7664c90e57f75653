"""Service input limits through a real `loopline serve` (issue 12, defects 1, 2, 3 and 9e).

Each test reproduced its defect before the fix: a 128 KB run of ``a.`` froze every endpoint for
~20 s, ``reboot_count: 10**30`` was answered and then stopped all prediction logging, an
edge-of-range time was a 500, and refused requests without an id shared ``refused-<ms>``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.serving.log import count_quarantined, read_quarantine
from tests.core.test_serving_http import (
    Service,
    _logged,
    copy_of,
    ensure_production,
    inputs,
    token_for,
    wait_for,
)

EDGES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]

# Polls GET /health every 20 ms over one keep-alive connection until the file named by argv[2]
# exists, then prints each answer's latency (ms; -1 for no answer). A process of its own, so the
# client that drives the service does not delay the polls it measures.
POLLER = """
import http.client, json, os, sys, time
host, port = sys.argv[1].rsplit("/", 1)[-1].rsplit(":", 1)
stop, latencies = sys.argv[2], []
connection = http.client.HTTPConnection(host, int(port), timeout=30)
while not os.path.exists(stop):
    started = time.perf_counter()
    try:
        connection.request("GET", "/health")
        answer = connection.getresponse()
        answer.read()
        latencies.append((time.perf_counter() - started) * 1000 if answer.status == 200 else -1)
    except OSError:
        latencies.append(-1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
    time.sleep(0.02)
print(json.dumps(latencies))
"""


class HealthPoller:
    """``with HealthPoller(url, folder) as poll:`` … then ``poll.latencies`` (ms)."""

    def __init__(self, url: str, folder: Path) -> None:
        self.stop = folder / f"stop-{time.monotonic_ns()}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", POLLER, url, str(self.stop)], stdout=subprocess.PIPE, text=True
        )
        self.latencies: list[float] = []

    def __enter__(self) -> HealthPoller:
        time.sleep(0.3)  # its first polls are in before the load starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.touch()
        out, _ = self.process.communicate(timeout=60)
        self.latencies = json.loads(out)


def assert_health_kept_up(latencies: list[float]) -> None:
    """Every poll answered; 99% within 100 ms and none beyond 1 s. The percentile, not the maximum:
    on a machine shared by many processes (load 13 on 2 cores here) the scheduler alone now and
    then wakes the poller or the service 100+ ms late, which says nothing of the service; a
    request that held the event loop (the defect: 20 s) shows in many polls at once. How many
    polls fit depends on how fast the work is, so only a handful are required."""
    assert len(latencies) >= 5 and all(latency >= 0 for latency in latencies), latencies
    late = [latency for latency in latencies if latency >= 100]
    assert len(late) <= len(latencies) // 100, (len(latencies), sorted(late))
    assert max(latencies) < 1_000, sorted(latencies)[-5:]


@pytest.fixture(scope="module")
def workspace(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_of(demo_workspace, tmp_path_factory.mktemp("limits") / "ws")
    ensure_production(path, "hw-triage")
    return path


@pytest.fixture(scope="module")
def hw(workspace: Path) -> Iterator[Service]:
    running = Service(workspace, "hw-triage")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rows(workspace: Path) -> list[dict[str, Any]]:
    return inputs(workspace, "hw-triage", 10)


def test_an_integer_beyond_int64_is_refused_and_logging_goes_on(
    hw: Service, rows: list[dict[str, Any]], workspace: Path
) -> None:
    huge = hw.client.post(
        "/predict", json={"request_id": "huge-1", "inputs": {**rows[0], "reboot_count": 10**30}}
    )
    assert huge.status_code == 422
    assert huge.json()["problems"] == [
        {
            "field": "inputs.reboot_count",
            "problem": "input should be less than or equal to 9223372036854775807 "
            "(got 1000000000000000000000000000000)",
        }
    ]
    for index in range(5):
        answer = hw.client.post(
            "/predict", json={"request_id": f"after-{index}", "inputs": rows[1]}
        )
        assert answer.status_code == 200, answer.text
    wait_for(lambda: len(_logged(workspace, "after-")) == 5)
    (refused,) = _logged(workspace, "huge-1").to_dict("records")
    assert refused["error"].startswith("inputs.reboot_count: input should be less than or equal")
    health = hw.client.get("/health").json()
    assert health["status"] == "ok" and health["log"]["last_error"] is None
    assert health["quarantined"] == 0 and health["log"]["quarantined"] == 0


@pytest.mark.parametrize("moment", EDGES)
def test_edge_of_range_times_are_a_422(
    hw: Service, rows: list[dict[str, Any]], workspace: Path, moment: str
) -> None:
    expected = f'input should be a time from 1900-01-01 to 2200-01-01 (UTC) (got "{moment}")'
    for body, field in [
        ({"inputs": rows[2], "time": moment}, "time"),
        ({"inputs": {**rows[2], "returned_at": moment}}, "inputs.returned_at"),
        ({"items": [{"inputs": rows[2]}, {"inputs": rows[3], "time": moment}]}, "items[1].time"),
    ]:
        answer = hw.client.post("/predict", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["problems"] == [{"field": field, "problem": expected}]
    token = token_for(workspace, f"edge-{moment[:4]}", "service")
    feedback = hw.client.post(
        "/feedback",
        json={"request_id": "after-0", "label": "hardware_fault", "time": moment},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert feedback.status_code == 422, feedback.text
    assert feedback.json()["problems"] == [{"field": "time", "problem": expected}]
    assert hw.client.get("/health").json()["status"] == "ok"


def test_refused_requests_without_an_id_get_ids_that_do_not_collide(
    hw: Service, rows: list[dict[str, Any]], workspace: Path
) -> None:
    wrong = {**rows[4], "unit_id": "collide-unit", "days_in_field": -5}
    for _ in range(20):  # faster than one a millisecond, many of them
        assert hw.client.post("/predict", json={"inputs": wrong}).status_code == 422
    assert hw.client.post("/predict", json={"items": [{"inputs": wrong}]}).status_code == 422

    def refused() -> list[str]:
        frame = _logged(workspace, "refused-")
        if frame.empty:
            return []
        return frame[frame["item_id"] == "collide-unit"]["request_id"].tolist()

    wait_for(lambda: len(refused()) == 21)
    assert len(set(refused())) == 21
    assert sum(i.endswith(":0") for i in refused()) == 1


@pytest.fixture(scope="module")
def ooo(workspace: Path) -> Iterator[Service]:
    running = Service(workspace, "ooo-replies")
    yield running
    running.stop()


REPLY = {
    "reply_id": "adv-1",
    "thread_id": "t-1",
    "sender": "a@b.example",
    "received_at": "2026-08-03T09:00:00Z",
    "subject": "Automatic reply",
    "language": "en",
}


def test_adversarial_text_at_the_limit_does_not_hold_up_the_service(
    ooo: Service, tmp_path: Path, workspace: Path
) -> None:
    """Defect 1: 64,000 x ``a.`` (128 KB) in a body held every endpoint for ~20 s. Now a value
    over the length limit is refused at once, and text at the limit is read in linear time in a
    thread: /health answers while 16 such items are predicted."""
    over = ooo.client.post("/predict", json={"inputs": {**REPLY, "body": "a." * 64_000}})
    assert over.status_code == 422 and over.elapsed.total_seconds() < 2
    assert over.json()["problems"][0]["field"] == "inputs.body"
    assert over.json()["problems"][0]["problem"].startswith(
        "string should have at most 10000 characters"
    )
    fragments = ["a.", "a@", "1 ", "Monday the ", "a@b."]
    items = [
        {"inputs": {**REPLY, "body": (f * 10_000)[:10_000]}, "request_id": f"adv-{n}-{i}"}
        for n, f in enumerate(fragments)
        for i in range(3)
    ]
    with HealthPoller(ooo.url, tmp_path) as poll:
        for start in range(0, len(items), 5):
            answer = ooo.client.post("/predict", json={"items": items[start : start + 5]})
            assert answer.status_code == 200, answer.text
        one = ooo.client.post("/predict", json=items[0])
        assert one.status_code == 200
    assert_health_kept_up(poll.latencies)
    assert ooo.client.get("/health").json()["status"] == "ok"
    assert count_quarantined(workspace, "ooo-replies") == 0
    assert read_quarantine(workspace, "ooo-replies") == []


def test_a_graceful_stop_writes_or_quarantines_everything(
    workspace: Path, rows: list[dict[str, Any]]
) -> None:
    """Answered predictions are never lost at shutdown (they were, once logging had failed)."""
    stopped = Service(workspace, "hw-triage")
    answers = [
        stopped.client.post("/predict", json={"request_id": f"stop-{i}", "inputs": rows[i % 10]})
        for i in range(30)
    ]
    assert all(a.status_code == 200 for a in answers)
    stopped.stop(signal.SIGTERM)
    assert sorted(_logged(workspace, "stop-")["request_id"]) == sorted(
        f"stop-{i}" for i in range(30)
    )
