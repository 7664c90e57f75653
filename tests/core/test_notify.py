"""Webhooks (issue 17): events derived from what the store records, posted to a real local HTTP
receiver with valid HMAC signatures, retried with backoff after it fails, never queued twice
(also across a restart: a new process finds nothing new), the delivery log, admin-only changes
and exact messages for bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.api import Actor, Client, Forbidden, InvalidInput
from core.api.automation import verify
from core.api.types import AuditQuery
from tests.conftest import ROOT
from tests.core.other_project import build_in_another_project
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
SECRET = "a-test-secret-of-some-length"
TICKETS = ROOT / "tests" / "fixtures" / "tickets.yaml"


class Receiver:
    """An http.server on a free port that records every POST and answers 500 to the first
    ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                failing = len(receiver.received) <= receiver.fail_first
                receiver.received[-1]["code"] = 500 if failing else 200
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(r["body"]).get("event", "slack") for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(fail_first=2)
    yield found
    found.server.shutdown()


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notify")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(TICKETS)
    label_tickets(client, folder)
    build_in_another_project(client, folder)  # so a tickets build's id is not its number
    return folder / "ws"


@pytest.fixture
def client(labeled: Path, tmp_path: Path) -> Client:
    shutil.copytree(labeled, tmp_path / "ws")
    return Client(tmp_path / "ws", ADMIN)


def _events_happen(client: Client) -> int:
    """A promotion (through a build), a failed build and a later rollback: the model promoted."""
    good = client.builds.run(PROJECT, promote=True, trigger="test")
    assert good.status == "successful" and good.model_id is not None
    aborted = client.builds.run(PROJECT, label_set="label_set:tickets@9")
    assert aborted.status == "aborted"
    return good.build_id


def test_events_are_delivered_signed_and_retried_after_failures(
    client: Client, receiver: Receiver, tmp_path: Path
) -> None:
    hook = client.automation.add_webhook(PROJECT, receiver.url, secret=SECRET)
    slack = client.automation.add_webhook(
        PROJECT, receiver.url, format="slack", events=["build.failed"], secret=SECRET
    )
    _events_happen(client)
    first = client.automation.deliver(retry_base_s=0.3)
    assert first.queued >= 3 and first.retried == 2  # the receiver failed the first two posts
    assert first.delivered == first.queued - 2
    time.sleep(0.4)  # the first retry is due after 0.3 s
    second = client.automation.deliver(retry_base_s=0.3)
    assert (second.queued, second.delivered, second.retried) == (0, 2, 0)
    for post in receiver.received:  # every body signed with the webhook's secret
        assert verify(SECRET, post["headers"], post["body"])
        assert not verify("another-secret-of-16+", post["headers"], post["body"])
    log = client.automation.deliveries(PROJECT)
    assert {d.status for d in log} == {"delivered"}
    assert sorted(d.attempts for d in log)[-2:] == [2, 2]
    assert [d.last_code for d in log] == [200] * len(log)
    generic = {d.event for d in log if d.webhook_id == hook.webhook_id}
    assert {"model.promoted", "build.failed"} <= generic
    (to_slack,) = [d for d in log if d.webhook_id == slack.webhook_id]
    assert set(to_slack.payload) == {"text"} and "build #2 aborted" in to_slack.payload["text"]
    answered = [json.loads(p["body"]).get("key") for p in receiver.received if p["code"] == 200]
    keys = [k for k in answered if k]  # the generic posts: each event answered once
    assert sorted(keys) == sorted(d.event_key for d in log if d.webhook_id == hook.webhook_id)
    # a restart (a new process) finds nothing new to send: the cursors and outbox are durable
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(client.location), "scheduler", "--once"],
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")},
             "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "webhooks: 0 delivered, 0 to retry" in done.stdout
    posted = len(receiver.received)
    client.models.rollback(PROJECT, "model:tickets@1", reason="same model, to test a move")
    assert client.automation.deliver().queued == 1  # only the new promotion
    assert len(receiver.received) == posted + 1
    assert json.loads(receiver.received[-1]["body"])["event"] == "model.promoted"


def test_a_failed_build_is_named_by_its_number_and_carries_its_id(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.accounts.audit import record
    from core.cli import main
    from core.notify.events import _failed_builds

    receiver = Receiver()
    strict = tmp_path / "strict.yaml"
    strict.write_text("checks:\n  - {check: max_latency, threshold: 0}\n")  # never met
    try:
        client.automation.add_webhook(PROJECT, receiver.url, secret=SECRET)
        aborted = client.builds.run(PROJECT, label_set="label_set:tickets@9")
        failed = client.builds.run(PROJECT, gate=strict)
        assert [(b.status, b.number, b.build_id) for b in (aborted, failed)] == [
            ("aborted", 1, 2),
            ("failed", 2, 3),
        ]
        assert client.automation.deliver().delivered == 2
        bodies = [json.loads(p["body"]) for p in receiver.received]
    finally:
        receiver.server.shutdown()
    assert [(b["key"], b["summary"].split(":")[0]) for b in bodies] == [
        ("build.failed:2", "[tickets] build #1 aborted"),
        ("build.failed:3", "[tickets] build #2 failed"),
    ]
    assert [(b["data"]["build_id"], b["data"]["number"]) for b in bodies] == [(2, 1), (3, 2)]
    # the audit rows name the build as people know it, its id in the details
    entries, _ = client.accounts.audit(AuditQuery(project=PROJECT, action="build."))
    assert [(e.action, e.target, e.details["build_id"]) for e in reversed(entries)] == [
        ("build.running", "build 1", 2),
        ("build.aborted", "build 1", 2),
        ("build.running", "build 2", 3),
        ("build.failed", "build 2", 3),
    ]
    assert main(["-w", str(client.location), "audit", "--action", "build.failed"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "build.failed" in x]
    assert line.split()[-3:] == ["tickets", "build", "2"]  # `loopline audit` shows the number
    # a row as versions before wrote it (target 'build #<build_id>') still names its build
    with client.workspace.store.transaction() as tx:
        after = int(tx.scalar("SELECT max(audit_id) FROM audit_log"))
        record(tx, ADMIN, "build.failed", project=PROJECT, target=f"build #{failed.build_id}")
        (event,), _ = _failed_builds(tx, after)
    assert (event.key, event.summary.split(":")[0]) == (
        "build.failed:3",
        "[tickets] build #2 failed",
    )
    assert (event.data["build_id"], event.data["number"]) == (3, 2)
    assert client.automation.deliver().queued == 0  # the same build, told once


def test_a_rollback_is_named_and_a_status_change_is_sent(client: Client) -> None:
    receiver = Receiver()
    try:
        client.builds.run(PROJECT, promote=True)
        client.runs.train(PROJECT, seed=1)
        run = client.runs.train(PROJECT, seed=2)
        newer = client.models.register_run(run.run_id)
        client.models.promote(PROJECT, newer.artifact_id, reason="seed 2")
        client.automation.add_webhook(
            PROJECT, receiver.url, events=["model.rolled_back", "model.promoted"], secret=SECRET
        )
        client.models.rollback(PROJECT, "model:tickets@1", reason="seed 2 misroutes bills")
        assert client.automation.deliver().delivered == 1
        (post,) = receiver.received
        body = json.loads(post["body"])
        assert body["event"] == "model.rolled_back"
        assert body["summary"] == (
            "[tickets] tickets v1 rolled back to production (was v2) by admin: "
            "seed 2 misroutes bills"
        )
        assert post["headers"]["X-Loopline-Event"] == "model.rolled_back"
    finally:
        receiver.server.shutdown()


def test_webhooks_test_posts_now_and_logs_a_dead_receiver(client: Client) -> None:
    receiver = Receiver()
    hook = client.automation.add_webhook(PROJECT, receiver.url, secret=SECRET)
    delivery = client.automation.test_webhook(hook.webhook_id)
    assert (delivery.event, delivery.status, delivery.last_code) == (
        "webhook.test",
        "delivered",
        200,
    )
    receiver.server.shutdown()
    receiver.server.server_close()
    dead = client.automation.test_webhook(hook.webhook_id)
    assert dead.status == "failed" and (dead.last_error or "").startswith("no answer: ")
    removed = client.automation.remove_webhook(hook.webhook_id)
    assert not removed.active
    assert [h.active for h in client.automation.webhooks(PROJECT)] == [False]
    assert [d.status for d in client.automation.deliveries(PROJECT)] == ["failed", "delivered"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://example.com"},
         "Webhook URL 'ftp://example.com' is not an http(s) URL."),
        ({"events": ["build.done"]},
         "Unknown event 'build.done'. Expected one of: alert.opened, alert.resolved, "
         "build.failed, model.promoted, model.rolled_back, requirement.status_changed."),
        ({"format": "teams"}, "Unknown webhook format 'teams'. Expected one of: json, slack."),
        ({"secret": "short"}, "A webhook secret needs at least 16 characters."),
    ],
)  # fmt: skip
def test_a_bad_webhook_is_refused_and_nothing_is_written(
    client: Client, change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"url": "http://localhost:9/hook", **change}
    url = arguments.pop("url")
    with pytest.raises(InvalidInput) as error:
        client.automation.add_webhook(PROJECT, url, **arguments)
    assert error.value.message == message
    assert client.automation.webhooks(PROJECT) == []


def test_only_an_admin_changes_webhooks(client: Client) -> None:
    client.accounts.add_user("admin", roles=["admin"], password="a-long-password-1")
    client.accounts.add_user("dana", roles=["data_scientist"], password="a-long-password-2")
    root = client
    dana = Client(client.location, Actor("dana", "test"))
    with pytest.raises(Forbidden) as error:
        dana.automation.add_webhook(PROJECT, "http://localhost:9/hook")
    assert error.value.message.startswith("dana (data_scientist) may not change workspace settings")
    assert root.automation.add_webhook(PROJECT, "http://localhost:9/hook").secret
    assert len(root.automation.webhooks(PROJECT)) == 1


def test_the_demo_history_reads_as_events(demo_pristine: Path) -> None:
    """Every source of events on the demo: alerts opened and resolved, status changes,
    promotions (each source read from its cursor, here from the start)."""
    from core.notify.events import SOURCES, _resolved_alerts
    from core.notify.models import Webhook

    ws = Client(demo_pristine, ADMIN).workspace
    with ws.store.read() as tx:
        found = {name: source(tx, 0)[0] for name, source in SOURCES.items()}
        hook = Webhook(1, "hw-triage", "http://x", "json", ("alert.resolved",), True,
                       datetime(2026, 1, 1), "admin")  # fmt: skip
        resolved = _resolved_alerts(tx, [hook])
    opened = [e for e in found["alerts"] if e.project == "hw-triage"]
    assert [e.key for e in opened][:2] == ["alert.opened:1", "alert.opened:2"]
    # named for people, as the page and `loopline alerts` name it
    assert re.fullmatch(
        r"\[hw-triage\] alert #1 opened \(warning\): drift score was [\d.]+ in the "
        r"(day|week) of 2026-\d\d-\d\d, above 0\.25",
        opened[0].summary,
    ), opened[0].summary
    assert opened[0].data["metric"] == "drift.score"  # the key scripts read stays
    assert {e.key for e in resolved} >= {"alert.resolved:1", "alert.resolved:2"}
    done = next(e for e in resolved if e.key == "alert.resolved:1")
    assert re.search(r" resolved: drift score — (Cleared|Superseded): ", done.summary), done.summary
    changes = found["requirement_status_history"]
    assert changes and all(e.data["status"] != e.data["previous_status"] for e in changes)
    moves = [e for e in found["alias_history"] if e.project == "ooo-replies"]
    # v1 to production; v2 to acceptance (shadow), then to production
    assert [e.event for e in moves] == ["model.promoted"] * 3
