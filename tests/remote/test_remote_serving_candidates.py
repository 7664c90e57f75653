"""Shadow and canary on serving hosts, end to end: `loopline server` over a workspace in one
process, a serving host (`loopline serve` with LOOPLINE_URL and a service token, DuckDB made
unimportable) in another, and `loopline candidate PROJECT --shadow | --canary P` run against the
server as the one command that starts a candidate on every host.

The host takes the acceptance model and the mode from the server, pulls the candidate through its
cache, logs which model answered, and ships the shadow segments like the rest: Monitoring's
candidate-against-production comparison on the server counts every request the host served. A
canary started while the host runs is picked up at its next poll, answers a sticky share of the
keys, and stops within the poll interval when the server rolls it back; a promotion of the
candidate to production is followed too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from core.serving.log import PREDICTIONS, SHADOW, read_log
from tests.remote.conftest import CLEARED
from tests.remote.test_remote_serving import (
    HOST_ROLE,
    POLL,
    ROW,
    Server,
    ServingHost,
    served_base,
    server,
    tokens,
    wait_for,
)

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base
__all__ = ["served_base", "server"]  # the fixtures, shared with the serving hosts' tests

RELEASE = "release_manager"


def call(server: Server, token: str, area: str, method: str, **kwargs: Any) -> Any:
    """One API call on the server, as the token's user."""
    answer = httpx.post(
        f"{server.url}/api/v1/call/{area}/{method}",
        json=kwargs,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def move(server: Server, token: str, alias: str, version: int) -> None:
    call(
        server,
        token,
        "models",
        "promote",
        project="tickets",
        model=f"model:tickets@{version}",
        alias=alias,
        reason=f"serving hosts' candidate test: v{version} to {alias}",
    )


def candidate_command(server: Server, token: str, *flags: str) -> str:
    """`loopline candidate tickets FLAGS` against the server, in a process of its own."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(LOOPLINE_URL=server.url, LOOPLINE_TOKEN=token)
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "candidate", "tickets", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def comparison(server: Server, token: str) -> dict[str, Any]:
    found: dict[str, Any] = call(server, token, "models", "compare_candidate", project="tickets")
    return found


def beside(host: ServingHost) -> tuple[str | None, float | None, int | None]:
    """What the host runs beside production: (mode, share, candidate version)."""
    found = host.health()["candidate"]
    if found is None:
        return None, None, None
    model = found["model"]
    return found["mode"], found["share"], model["version"] if model else None


def predict(host: ServingHost, request_id: str, key: str) -> int:
    """The version that answered a prediction for canary key ``key``."""
    answer = host.http.post(
        "/predict",
        json={"request_id": request_id, "inputs": ROW},
        headers={"X-Canary-Key": key},
    )
    assert answer.status_code == 200, f"{answer.text}\n{host.output()}"
    version: int = answer.json()["model"]["version"]
    return version


def test_the_servers_shadow_mode_runs_the_candidate_on_a_host_and_monitoring_sees_it(
    served_base: Path, server: Server, tmp_path: Path
) -> None:
    keys = tokens(served_base)
    move(server, keys[RELEASE], "acceptance", 2)
    said = candidate_command(server, keys[RELEASE], "--shadow")
    assert said.startswith("tickets: the acceptance model runs in the shadow (scored on every ")
    host = ServingHost(server, keys[HOST_ROLE], "eu-1", tmp_path / "cache")
    try:
        wait_for(
            lambda: "candidate: model:tickets@2 in the shadow" in host.output(), 30, host.output
        )
        assert beside(host) == ("shadow", None, 2)
        answers = [host.predict() for _ in range(30)]
        assert {a["model"]["version"] for a in answers} == {1}  # the shadow never answers
        rm = keys[RELEASE]
        wait_for(lambda: comparison(server, rm)["pairs"] == 30, 60, host.output)
        wait_for(host.shipped_all, 60, host.output)
    finally:
        host.stop()
    compared = comparison(server, keys[RELEASE])
    assert (compared["pairs"], compared["canary_answers"]) == (30, 0)  # in the shadow
    assert compared["agreement"]["n"] == 30
    shadow = read_log(server.workspace, "tickets", SHADOW)
    assert sorted(shadow["request_id"]) == sorted(host.sent)
    assert set(shadow["model_version"]) == {2} and set(shadow["route"]) == {"shadow"}
    answered = read_log(server.workspace, "tickets", PREDICTIONS)
    assert set(answered["model_version"]) == {1} and set(answered["route"]) == {"production"}
    stored = {p.name for p in (server.workspace / "logs/tickets/shadow").iterdir()}
    assert stored and all(name.endswith(".eu-1.parquet") for name in stored)


def test_one_command_starts_a_canary_on_a_running_host_and_a_rollback_stops_it(
    served_base: Path, server: Server, tmp_path: Path
) -> None:
    keys = tokens(served_base)
    rm = keys[RELEASE]
    host = ServingHost(server, keys[HOST_ROLE], "eu-1", tmp_path / "cache")
    try:
        assert beside(host) == (None, None, None)  # no mode on the server: production only
        move(server, rm, "acceptance", 2)
        said = candidate_command(server, rm, "--canary", "50")
        assert said.startswith("tickets: the acceptance model runs as a canary answering 50% ")
        wait_for(lambda: beside(host) == ("canary", 50.0, 2), POLL + 30, host.output)

        first = {f"key-{i}": predict(host, f"c{i}", f"key-{i}") for i in range(40)}
        again = {f"key-{i}": predict(host, f"c{i}-again", f"key-{i}") for i in range(40)}
        assert again == first  # sticky per key
        by_canary = sorted(k for k, v in first.items() if v == 2)
        assert 5 <= len(by_canary) <= 35 and set(first.values()) == {1, 2}
        wait_for(lambda: comparison(server, rm)["pairs"] == 80, 60, host.output)
        compared = comparison(server, rm)
        assert compared["canary_answers"] == 2 * len(by_canary)

        move(server, rm, "acceptance", 1)  # rolled back: acceptance is production's model again
        rolled = time.monotonic()
        wait_for(lambda: beside(host) == ("canary", 50.0, None), POLL + 10, host.output)
        stopped_seconds = time.monotonic() - rolled
        assert {predict(host, f"after-{k}", k) for k in by_canary} == {1}

        move(server, rm, "acceptance", 2)  # the canary again, then promoted to production
        wait_for(lambda: beside(host)[2] == 2, POLL + 30, host.output)
        move(server, rm, "production", 2)
        # a prediction from version 2 alone could be the canary's answer: wait for the host to
        # see the promotion itself, which leaves nothing beside the promoted model
        wait_for(lambda: beside(host) == ("canary", 50.0, None), POLL + 30, host.output)
        assert host.serves(2)
        assert {predict(host, f"promoted-{i}", f"key-{i}") for i in range(40)} == {2}

        said = candidate_command(server, rm, "--off")
        assert said.startswith("tickets: no candidate runs beside production")
        wait_for(lambda: beside(host) == (None, None, None), POLL + 30, host.output)
        wait_for(host.shipped_all, 60, host.output)
    finally:
        host.stop()
    assert stopped_seconds < POLL + 5, stopped_seconds
    answered = read_log(server.workspace, "tickets", PREDICTIONS)
    first_80 = answered[answered["request_id"].str.fullmatch(r"c\d+(-again)?")]
    canary = first_80[first_80["route"] == "canary"]
    assert len(first_80) == 80 and len(canary) == 2 * len(by_canary)
    assert set(canary["model_version"]) == {2}
    after = answered[answered["request_id"].str.startswith("after-")]
    assert set(after["route"]) == {"production"} and set(after["model_version"]) == {1}
    print(
        f"\ncanary stopped on the host {stopped_seconds:.2f} s after the rollback (poll {POLL} s)"
    )
