"""Serving hosts of a Loopline server, in process: the model pulled by hash into a local cache
and served from it while the server is down, promotions and rollbacks followed, segments shipped
once (a segment shipped twice is kept once, a damaged one is refused and nothing is stored), and
monitoring counting shipped segments exactly as local ones.

The server here is the public API called in this process (``InProcessHub``: the arguments and
results go through JSON as over HTTP, files through an uploads folder and the object store).
tests/remote/test_remote_serving.py runs the same over real HTTP, in separate processes."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.api import Actor, Client
from core.api.serialise import serialise
from core.errors import CoreError, InvalidInput, NotFound
from core.experiments.service import train
from core.registry.service import find_alias, register_run_model
from core.releases.service import promote
from core.serving.app import create_app
from core.serving.host import Host, HostPlaces, ModelCache, Shipper, server_key
from core.serving.log import (
    FEEDBACK,
    PREDICTIONS,
    SegmentWriter,
    count_records,
    log_folder,
    prediction_schema,
    read_log,
    segments,
)
from core.serving.server import BackgroundServer
from core.serving.service import ModelWatcher
from core.store import Workspace
from tests.core.test_requirements_support import TESTER

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base

URL = "http://hub.test:8765"
DOWN = "Cannot reach the Loopline server at http://hub.test:8765: [Errno 111] Connection refused."


class InProcessHub:
    """The server's API in this process, as a serving host's transport uses it."""

    def __init__(self, ws: Workspace, actor: Actor, uploads: Path) -> None:
        self.ws, self.actor, self.uploads = ws, actor, uploads
        self.down = False
        self.calls: list[str] = []
        self.downloads = 0

    def _check(self) -> None:
        if self.down:
            raise CoreError(DOWN, hint="check LOOPLINE_URL")

    def call(self, area: str, method: str, kwargs: dict[str, Any]) -> Any:
        self._check()
        self.calls.append(f"{area}.{method}")
        arguments = {
            k: self.uploads / v["$upload"] if isinstance(v, dict) and "$upload" in v else v
            for k, v in json.loads(json.dumps(kwargs)).items()
        }
        client = Client(self.ws.root, self.actor)
        result = getattr(getattr(client, area), method)(**arguments)
        return json.loads(json.dumps(serialise(result)))

    def upload(self, source: Path) -> str:
        self._check()
        upload = uuid.uuid4().hex
        shutil.copyfile(source, self.uploads / upload)
        return upload

    def download(self, sha256: str, dest: Path) -> Path:
        self._check()
        self.downloads += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.ws.blobs.path(sha256), dest)
        return dest


@dataclass
class Hubs:
    hub: InProcessHub

    def as_token(self, token: str) -> InProcessHub:
        sender = InProcessHub(self.hub.ws, Actor("sender", "api", token=token), self.hub.uploads)
        sender.down = self.hub.down
        return sender


@dataclass(frozen=True)
class Setup:
    ws: Workspace
    hubs: Hubs
    places: HostPlaces

    @property
    def hub(self) -> InProcessHub:
        return self.hubs.hub

    def host(self, host_id: str | None = None) -> Host:
        places = (
            self.places
            if host_id is None
            else HostPlaces(self.places.cache, self.places.server, host_id)
        )
        return Host(self.hubs, "tickets", places, URL, ship_seconds=0.05)


@pytest.fixture(scope="session")
def hosts_base(evidence_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tickets workspace: model v1 in production, v2 registered beside it."""
    target = tmp_path_factory.mktemp("hosts") / "ws"
    shutil.copytree(evidence_base, target)
    ws = Workspace.open(target)
    register_run_model(ws, train(ws, "tickets", TESTER, seed=5).run_id, TESTER)
    return target


@pytest.fixture
def setup(hosts_base: Path, tmp_path: Path) -> Setup:
    shutil.copytree(hosts_base, tmp_path / "ws")
    (tmp_path / "uploads").mkdir()
    ws = Client(tmp_path / "ws", TESTER).workspace  # the handle the API uses
    hub = InProcessHub(ws, Actor("host-1", "api"), tmp_path / "uploads")
    return Setup(ws, Hubs(hub), HostPlaces(tmp_path / "cache", server_key(URL), "host-1"))


def version(watcher: ModelWatcher) -> int:
    return watcher.current.artifact.version


ROW = {
    "ticket_id": "T-900",
    "opened_at": "2026-08-01T10:00:00",
    "channel": "mail",
    "text": "my invoice was charged twice",
    "priority": 2,
}


def test_a_host_pulls_the_model_by_hash_and_serves_the_cached_one_while_the_server_is_down(
    setup: Setup,
) -> None:
    watcher = ModelWatcher(setup.host().source, "tickets")
    production = find_alias(setup.ws, "tickets")
    assert production is not None
    assert watcher.current.artifact.artifact_id == production.artifact_id
    assert watcher.current.artifact.files == production.files
    cache = ModelCache(setup.places.objects)
    served = [f for f in production.files if f.role != "evaluation.json"]
    assert setup.hub.downloads == len(served)
    for item in served:
        assert cache.read(item.blob_hash) == setup.ws.blobs.read_bytes(item.blob_hash)
    expected = watcher.current.predictor.predict_proba([ROW])

    setup.hub.down = True  # a restarted host, the server unreachable: the cached model
    restarted = setup.host()
    again = ModelWatcher(restarted.source, "tickets")
    assert version(again) == 1 and setup.hub.downloads == len(served)
    assert restarted.source.started_offline == DOWN
    assert (again.current.predictor.predict_proba([ROW]) == expected).all()
    with pytest.raises(CoreError):  # a poll while down fails (the watcher's thread says so
        again.check()  # in /health and keeps serving)
    assert version(again) == 1
    setup.hub.down = False
    assert again.check() is False  # back, nothing new


def test_a_damaged_cached_file_is_fetched_again(setup: Setup) -> None:
    ModelWatcher(setup.host().source, "tickets")
    cache = ModelCache(setup.places.objects)
    first = next(iter(setup.places.objects.glob("*/*")))
    first.write_bytes(b"damaged")
    assert cache.read(first.name) is None and not first.exists()
    count = setup.hub.downloads
    ModelWatcher(setup.host().source, "tickets")
    assert setup.hub.downloads == count + 1 and cache.read(first.name) is not None


def test_a_fresh_host_with_the_server_down_says_nothing_is_cached(setup: Setup) -> None:
    setup.hub.down = True
    with pytest.raises(CoreError) as caught:
        ModelWatcher(setup.host().source, "tickets")
    assert str(caught.value) == (
        "Cannot reach the Loopline server at http://hub.test:8765: [Errno 111] Connection "
        "refused; no production model of 'tickets' is cached here."
    )
    assert caught.value.hint == (
        "start the host once while the server is reachable (it caches the model in "
        f"{setup.places.cache}, or set LOOPLINE_CACHE)"
    )


def test_an_unknown_project_or_one_without_a_production_model_is_refused(setup: Setup) -> None:
    with pytest.raises(NotFound) as caught:
        ModelWatcher(setup.host().source, "nope")
    assert str(caught.value) == "No project 'nope' in this workspace. Projects here: tickets."
    with pytest.raises(NotFound) as caught:
        ModelWatcher(setup.host().source, "tickets", alias="staging")
    assert str(caught.value) == "Project 'tickets' has no staging model to serve."


def test_a_host_follows_a_promotion_and_a_rollback(setup: Setup) -> None:
    watcher = ModelWatcher(setup.host().source, "tickets")
    assert watcher.check() is False and version(watcher) == 1
    two = setup.ws  # promote v2 on the server
    promote(two, "tickets", "model:tickets@2", TESTER, reason="better")
    assert watcher.check() is True and version(watcher) == 2 and watcher.switches == 1
    promote(two, "tickets", "model:tickets@1", TESTER, reason="roll back")
    assert watcher.check() is True and version(watcher) == 1 and watcher.switches == 2


def spool_segment(places: HostPlaces, ws: Workspace, count: int, start: int = 0) -> Path:
    """A prediction segment of ``count`` records, written by the log's writer into the spool."""
    spec = Client(ws.root, TESTER).projects.get("tickets").spec
    writer = SegmentWriter(
        log_folder(places.spool, "tickets", PREDICTIONS), prediction_schema(spec)
    )
    writer.append(
        {
            "ts": datetime(2026, 8, 1, 10, i % 60),
            "received_at": datetime(2026, 8, 1, 10, i % 60),
            "request_id": f"r-{i}",
            "model_id": "1",
            "model_version": 1,
            "prediction": "billing",
            "confidence": 0.9,
            "f_channel": "mail",
            "f_text": "charged twice",
        }
        for i in range(start, start + count)
    )
    writer.flush()
    return segments(places.spool, "tickets", PREDICTIONS)[-1]


def test_a_segment_shipped_twice_is_kept_once(setup: Setup) -> None:
    segment = spool_segment(setup.places, setup.ws, 7)
    copy = segment.read_bytes()
    shipper = Shipper(setup.hubs, "tickets", setup.places)
    assert shipper.ship_once() == 1 and not segment.exists()  # shipped: gone from the spool
    stored = segments(setup.ws, "tickets", PREDICTIONS)
    assert [p.name for p in stored] == [segment.name.replace(".parquet", ".host-1.parquet")]
    segment.write_bytes(copy)  # the answer was lost: the host ships it again
    assert shipper.ship_once() == 1 and shipper.stats.duplicates == 1
    assert count_records(setup.ws, "tickets", PREDICTIONS) == 7
    assert len(read_log(setup.ws, "tickets")) == 7


def test_two_hosts_segments_of_the_same_name_do_not_collide(setup: Setup) -> None:
    segment = spool_segment(setup.places, setup.ws, 3)
    other = HostPlaces(setup.places.cache, setup.places.server, "host-2")
    twin = log_folder(other.spool, "tickets", PREDICTIONS) / segment.name
    twin.parent.mkdir(parents=True)
    shutil.copyfile(segment, twin)
    Shipper(setup.hubs, "tickets", setup.places).ship_once()
    Shipper(setup.hubs, "tickets", other).ship_once()
    assert count_records(setup.ws, "tickets", PREDICTIONS) == 6


def receive(setup: Setup, path: Path, **given: str) -> Any:
    arguments = {
        "host": "host-1",
        "kind": PREDICTIONS,
        "name": "seg-1785000000000-7-000001.parquet",
    }
    client = Client(setup.ws.root, TESTER)
    return client.monitoring.receive_segment("tickets", path=path, **{**arguments, **given})


def test_a_cut_or_foreign_segment_is_refused_and_nothing_is_stored(setup: Setup) -> None:
    segment = spool_segment(setup.places, setup.ws, 5)
    cut = setup.places.cache / "cut.parquet"
    cut.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    with pytest.raises(InvalidInput) as caught:
        receive(setup, cut)
    assert str(caught.value) == (
        "Segment seg-1785000000000-7-000001.parquet is not a readable Parquet file (ArrowInvalid)."
    )
    assert caught.value.hint == "ship the segments the serving host wrote, unchanged"
    with pytest.raises(InvalidInput) as caught:
        receive(setup, segment, kind=FEEDBACK)
    assert str(caught.value) == (
        "Segment seg-1785000000000-7-000001.parquet is not a feedback log segment: it has no "
        "column label, actor."
    )
    assert segments(setup.ws, "tickets", PREDICTIONS) == []
    assert segments(setup.ws, "tickets", FEEDBACK) == []
    assert list(log_folder(setup.ws, "tickets", PREDICTIONS).parent.rglob("*")) == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"host": "../x"}, "Invalid serving host id '../x'."),
        ({"host": ""}, "Invalid serving host id ''."),
        (
            {"kind": "alerts"},
            "Unknown log 'alerts'. Expected one of: feedback, predictions, shadow.",
        ),
        ({"name": "../../store.duckdb"}, "Invalid segment name '../../store.duckdb'."),
        ({"name": "seg-1-2-3.parquet"}, "Invalid segment name 'seg-1-2-3.parquet'."),
    ],
)
def test_bad_host_ids_kinds_and_names_are_refused(
    setup: Setup, given: dict[str, str], message: str
) -> None:
    segment = spool_segment(setup.places, setup.ws, 1)
    with pytest.raises(InvalidInput) as caught:
        receive(setup, segment, **given)
    assert str(caught.value) == message
    assert segments(setup.ws, "tickets", PREDICTIONS) == []


def test_a_refused_segment_is_set_aside_in_the_spool_not_lost(setup: Setup) -> None:
    segment = spool_segment(setup.places, setup.ws, 2)
    segment.write_bytes(b"not parquet")
    shipper = Shipper(setup.hubs, "tickets", setup.places)
    assert shipper.ship_once() == 1 and shipper.stats.refused == 1
    kept = setup.places.spool / "refused" / segment.name
    assert kept.read_bytes() == b"not parquet"
    assert "is not a readable Parquet file" in (kept.parent / f"{segment.name}.why.txt").read_text()


def test_monitoring_counts_shipped_segments_exactly_as_local_ones(
    setup: Setup, tmp_path: Path
) -> None:
    local = Client(shutil.copytree(setup.ws.root, tmp_path / "local"), TESTER).workspace
    segment = spool_segment(setup.places, setup.ws, 40)
    log_folder(local, "tickets", PREDICTIONS).mkdir(parents=True)
    shutil.copyfile(segment, log_folder(local, "tickets", PREDICTIONS) / segment.name)
    Shipper(setup.hubs, "tickets", setup.places).ship_once()
    shipped = Client(setup.ws.root, TESTER).monitoring.compute_windows("tickets", grain="hour")
    here = Client(local.root, TESTER).monitoring.compute_windows("tickets", grain="hour")
    assert [w.metrics for w in shipped.windows] == [w.metrics for w in here.windows]
    assert [w.start for w in shipped.windows] == [datetime(2026, 8, 1, 10)]
    assert shipped.windows[0].value("volume") == 40


def test_a_segment_shipped_after_an_outage_is_counted_in_windows_computed_before(
    setup: Setup,
) -> None:
    """Its records carry the time they were made (long before the last monitor run); the window
    is computed again because the segment arrived after that run."""
    client = Client(setup.ws.root, TESTER)
    spool_segment(setup.places, setup.ws, 10)
    Shipper(setup.hubs, "tickets", setup.places).ship_once()
    first = client.monitoring.compute_windows("tickets", grain="hour")
    assert [w.value("volume") for w in first.windows] == [10]
    spool_segment(setup.places, setup.ws, 15, start=10)  # spooled while the server was away
    Shipper(setup.hubs, "tickets", setup.places).ship_once()
    again = client.monitoring.compute_windows("tickets", grain="hour")
    assert [(w.start, w.value("volume")) for w in again.windows] == [(datetime(2026, 8, 1, 10), 25)]


def test_a_host_service_serves_logs_and_ships_over_http(setup: Setup) -> None:
    """The whole host in this process: predictions and feedback over HTTP while the server is
    down, then shipped once it is back; a promotion followed."""
    host = setup.host()
    app = create_app(host.backend(), "tickets", poll_seconds=0.05, flush_seconds=0.05)
    with BackgroundServer(app) as running:
        first = httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json()
        assert first["model"]["version"] == 1
        setup.hub.down = True
        ids = [
            httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json()["request_id"]
            for _ in range(5)
        ]
        answer = httpx.post(
            f"{running.url}/feedback",
            json={"request_id": ids[0], "label": "billing"},
            headers={"Authorization": "Bearer llt.sender"},
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"].startswith(DOWN.rstrip("."))
        health = httpx.get(f"{running.url}/health").json()
        assert health["ship_error"] == DOWN and health["host_id"] == "host-1"
        setup.hub.down = False
        promote(setup.ws, "tickets", "model:tickets@2", TESTER, reason="better")
        wait_for(
            lambda: (
                httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json()["model"][
                    "version"
                ]
                == 2
            )
        )
        answer = httpx.post(
            f"{running.url}/feedback",
            json={"request_id": ids[0], "label": "billing"},
            headers={"Authorization": "Bearer llt.sender"},
        )
        assert answer.status_code == 200 and answer.json() == {
            "accepted": 1,
            "actor": "sender",
        }, answer.text
    logged = read_log(setup.ws, "tickets")
    assert logged["request_id"].is_unique
    assert set(ids) | {first["request_id"]} <= set(logged["request_id"])
    assert len(read_log(setup.ws, "tickets", FEEDBACK)) == 1
    assert segments(setup.places.spool, "tickets", PREDICTIONS) == []


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_host_and_the_workspaces_own_service_answer_alike(setup: Setup) -> None:
    local = create_app(setup.ws, "tickets", flush_seconds=0.05)
    remote = create_app(setup.host().backend(), "tickets", flush_seconds=0.05)
    answers = []
    for app in (local, remote):
        with BackgroundServer(app) as running:
            answer = httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json()
            model = httpx.get(f"{running.url}/model").json()
            del model["model"]["loaded_at"]
        answers.append(({k: v for k, v in answer.items() if k != "request_id"}, model))
    assert answers[0] == answers[1]
    assert answers[0][1]["model"]["ref"] == "model:tickets@1"
    assert count_records(setup.ws, "tickets", PREDICTIONS) == 2  # the local one and the shipped


def test_a_damaged_model_is_refused_to_a_new_host_and_polls_do_not_rehash(setup: Setup) -> None:
    from core.errors import Immutable

    production = find_alias(setup.ws, "tickets")
    assert production is not None
    role = "classifier.skops"
    path = setup.ws.blobs.path(production.file(role).blob_hash)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"x")
    client = Client(setup.ws.root, TESTER)
    with pytest.raises(Immutable) as caught:
        client.serving.production_model("tickets")
    assert str(caught.value).startswith(
        f"Refusing to serve model:tickets@1 (#{production.artifact_id}): its file '{role}' "
    )
    polled = client.serving.production_model("tickets", serving=production.artifact_id)
    assert polled.artifact_id == production.artifact_id  # a host serving it checked its files
