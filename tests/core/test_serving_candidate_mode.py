"""The project's candidate mode (core.serving.placements): set once, followed by every service at
its poll — a serving host (the mode and the acceptance model come with its poll of production,
the candidate's files through its cache, the cached candidate while the server is down) and the
workspace's own service started without --shadow/--canary. Bad input with its exact message, the
audit row, the permission.

The server here is the public API in this process (``InProcessHub`` of the serving hosts'
tests); tests/remote/test_remote_serving_candidates.py runs it over real HTTP with a real host
process."""

from __future__ import annotations

import json

import httpx
import pytest

from core.api import Actor, Client
from core.errors import CoreError, Forbidden, InvalidInput, NotFound
from core.releases.service import promote
from core.serving.app import create_app
from core.serving.log import PREDICTIONS, SHADOW, read_log
from core.serving.placements import mode_path, read_mode, set_mode
from core.serving.server import BackgroundServer
from core.serving.service import ModelWatcher, Placement
from tests.core.test_requirements_support import TESTER
from tests.core.test_serving_hosts import (
    ROW,
    Setup,
    hosts_base,
    setup,
    wait_for,
)

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base
__all__ = ["hosts_base", "setup"]  # the serving hosts' fixtures


def versions(watcher: ModelWatcher) -> tuple[int, int | None]:
    candidate = watcher.candidate
    return watcher.current.artifact.version, candidate.artifact.version if candidate else None


@pytest.mark.parametrize(
    ("mode", "share", "message"),
    [
        (
            "blue-green",
            None,
            "Unknown candidate mode 'blue-green'. Expected one of: canary, off, shadow.",
        ),
        ("canary", None, "A canary needs the share of keys it answers."),
        ("shadow", 10, "A share is for a canary only; the shadow mode takes none (got 10)."),
        ("canary", 0, "A canary answers a share of the requests between 0 and 100 percent, got 0."),
        (
            "canary",
            150,
            "A canary answers a share of the requests between 0 and 100 percent, got 150.",
        ),
    ],
)
def test_a_mode_no_service_could_run_is_refused_and_nothing_changes(
    setup: Setup, mode: str, share: float | None, message: str
) -> None:
    set_mode(setup.ws, "tickets", TESTER, "shadow")
    with pytest.raises(InvalidInput) as caught:
        set_mode(setup.ws, "tickets", TESTER, mode, share)
    assert str(caught.value) == message
    assert read_mode(setup.ws, "tickets").mode == "shadow"  # type: ignore[union-attr]


def test_setting_the_mode_is_audited_needs_the_promote_permission_and_names_the_project(
    setup: Setup,
) -> None:
    root = setup.ws.root
    admin = Client(root, Actor("admin", "test"))
    admin.accounts.create_user("admin", roles=["admin"])
    admin.accounts.create_user("svc", roles=["service"])
    admin.accounts.create_user("rel", roles=["release_manager"])
    with pytest.raises(Forbidden) as refused:
        Client(root, Actor("svc", "test")).serving.place_candidate("tickets", "canary", 5)
    assert "promote or roll back models" in str(refused.value)
    assert not mode_path(setup.ws, "tickets").exists()  # nothing half-written
    with pytest.raises(NotFound):
        admin.serving.place_candidate("nope", "shadow")

    placed = Client(root, Actor("rel", "test")).serving.place_candidate("tickets", "canary", 12.5)
    assert placed is not None and (placed.mode, placed.share, placed.updated_by) == (
        "canary",
        12.5,
        "rel",
    )
    assert placed.text() == "as a canary answering 12.5% of the keys"
    assert read_mode(setup.ws, "tickets") == placed
    assert Client(root, Actor("rel", "test")).serving.place_candidate("tickets", "off") is None
    assert read_mode(setup.ws, "tickets") is None
    with setup.ws.store.read() as tx:
        rows = tx.rows(
            "SELECT actor, action, target, details FROM audit_log "
            "WHERE action = 'candidate.mode' ORDER BY audit_id"
        )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("rel", "candidate.mode", "candidate of tickets")
    ] * 2
    details = [json.loads(r[3]) for r in rows]
    assert [(d["mode"], d["share"], d["previous"]) for d in details] == [
        ("canary", 12.5, "off"),
        ("off", None, "canary 12.5%"),
    ]


def test_a_damaged_mode_file_is_named_and_can_be_set_again(setup: Setup) -> None:
    path = mode_path(setup.ws, "tickets")
    path.parent.mkdir(parents=True)
    path.write_text('{"mode": "canary", "share": 400}')
    with pytest.raises(CoreError) as caught:
        read_mode(setup.ws, "tickets")
    assert str(caught.value).startswith(f"The candidate mode in {path} cannot be read (KeyError")
    assert caught.value.hint == (
        "set it again: `loopline candidate tickets --shadow | --canary PERCENT | --off`"
    )
    # a host's poll of production still answers (nothing beside it), and setting it mends it
    info = setup.hub.call("serving", "production_model", {"project": "tickets"})
    assert info["beside"] == {"artifact_id": None, "promoted_at": None, "mode": None, "share": None}
    assert set_mode(setup.ws, "tickets", TESTER, "shadow") == read_mode(setup.ws, "tickets")


def test_a_host_follows_the_mode_and_the_acceptance_model_from_its_polls(setup: Setup) -> None:
    host = setup.host()
    watcher = ModelWatcher(host.source, "tickets", follow=host.source.placement)
    assert (watcher.placement, versions(watcher)) == (None, (1, None))
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="try it")
    watcher.check()
    assert (watcher.placement, versions(watcher)) == (None, (1, None))  # no mode: no candidate

    downloads = setup.hub.downloads
    set_mode(setup.ws, "tickets", TESTER, "canary", 25)
    watcher.check()
    assert (watcher.placement, versions(watcher)) == (Placement("canary", 25), (1, 2))
    assert setup.hub.downloads > downloads  # the candidate's files, into the cache
    calls = len(setup.hub.calls)
    watcher.check()  # one call a poll once the candidate is loaded
    assert setup.hub.calls[calls:] == ["serving.production_model"]

    set_mode(setup.ws, "tickets", TESTER, "shadow")
    watcher.check()
    assert (watcher.placement, versions(watcher)) == (Placement("shadow"), (1, 2))
    promote(setup.ws, "tickets", "model:tickets@1", TESTER, alias="acceptance", reason="rolled")
    watcher.check()
    assert versions(watcher) == (1, None)  # a rolled-back candidate is dropped
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="again")
    watcher.check()
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, reason="promoted")
    watcher.check()
    assert versions(watcher) == (2, None)  # promoted: nothing beside production
    set_mode(setup.ws, "tickets", TESTER, "off")
    watcher.check()
    assert watcher.placement is None


def test_a_host_restarted_while_the_server_is_down_runs_its_cached_candidate(
    setup: Setup,
) -> None:
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="try it")
    set_mode(setup.ws, "tickets", TESTER, "shadow")
    first = setup.host()
    assert versions(ModelWatcher(first.source, "tickets", follow=first.source.placement)) == (1, 2)
    setup.hub.down = True
    again = setup.host()
    watcher = ModelWatcher(again.source, "tickets", follow=again.source.placement)
    assert (watcher.placement, versions(watcher)) == (Placement("shadow"), (1, 2))
    assert watcher.last_poll_error is None


def test_a_candidate_the_server_refuses_never_stops_production(setup: Setup) -> None:
    candidate = promote(
        setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="try it"
    )
    set_mode(setup.ws, "tickets", TESTER, "shadow")
    path = setup.ws.blobs.path(candidate.file("classifier.skops").blob_hash)
    path.chmod(0o644)
    kept = path.read_bytes()
    path.write_bytes(kept + b"x")  # damaged on the server: it refuses to hand it out
    host = setup.host()
    watcher = ModelWatcher(host.source, "tickets", follow=host.source.placement)
    assert versions(watcher) == (1, None)
    assert (watcher.last_poll_error or "").startswith(
        f"Refusing to serve model:tickets@2 (#{candidate.artifact_id}): its file "
        "'classifier.skops' "
    )
    path.write_bytes(kept)  # mended: the next poll loads it
    watcher.check()
    assert versions(watcher) == (1, 2)


def test_the_workspaces_own_service_follows_the_mode_and_logs_the_shadow(setup: Setup) -> None:
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="try it")
    app = create_app(setup.ws, "tickets", poll_seconds=0.05, flush_seconds=0.05)
    with BackgroundServer(app) as running:
        assert httpx.get(f"{running.url}/health").json()["candidate"] is None
        set_mode(setup.ws, "tickets", TESTER, "canary", 100)
        # the mode is seen at one poll, the candidate loaded at the next: until then production
        # answers
        wait_for(
            lambda: (httpx.get(f"{running.url}/health").json()["candidate"] or {}).get("model")
        )
        answers = [
            httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json() for _ in range(5)
        ]
        assert {a["model"]["version"] for a in answers} == {2}
        set_mode(setup.ws, "tickets", TESTER, "off")
        wait_for(lambda: httpx.get(f"{running.url}/health").json()["candidate"] is None)
        answers += [
            httpx.post(f"{running.url}/predict", json={"inputs": ROW}).json() for _ in range(3)
        ]
        assert [a["model"]["version"] for a in answers[5:]] == [1, 1, 1]
    answered = read_log(setup.ws, "tickets", PREDICTIONS)
    assert sorted(answered["route"]) == ["canary"] * 5 + ["production"] * 3
    shadow = read_log(setup.ws, "tickets", SHADOW)  # production scored beside the canary
    assert len(shadow) == 5 and set(shadow["model_version"]) == {1}


def test_a_service_started_with_its_own_mode_keeps_it(setup: Setup) -> None:
    promote(setup.ws, "tickets", "model:tickets@2", TESTER, alias="acceptance", reason="try it")
    set_mode(setup.ws, "tickets", TESTER, "canary", 100)
    watcher = ModelWatcher(setup.host().source, "tickets", placement=Placement("shadow"))
    watcher.check()
    assert (watcher.placement, versions(watcher)) == (Placement("shadow"), (1, 2))
