"""The release components the Builds and Monitoring pages call: the pipeline of environments
with what a candidate lacks, and the candidate beside production on live traffic (after real
requests through a service running it in the shadow)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from core.api import Client
from core.serving.app import create_app
from core.serving.server import BackgroundServer
from core.serving.service import Placement
from tests.core.release_project import ADMIN, two_models
from tests.core.small_project import PROJECT


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("components")
    client = Client(two_models(folder), ADMIN)
    app = create_app(client.workspace, PROJECT, placement=Placement("shadow"), flush_seconds=0.1)
    with BackgroundServer(app) as server:
        for i in range(30):
            text = ["invoice refund", "crash error", "quote demo"][i % 3]
            body = {
                "inputs": {
                    "ticket_id": f"K-{i}",
                    "opened_at": "2026-05-02T10:00:00Z",
                    "channel": "mail",
                    "text": f"please help {text}",
                }
            }
            assert httpx.post(f"{server.url}/predict", json=body).status_code == 200
    return folder / "ws"  # leaving the server flushed its logs


def _environments(path: str) -> None:
    from app.components.environments import environments_panel
    from core.actor import Actor
    from core.api import Client

    environments_panel(Client(path, Actor("admin", "test")), "tickets")


def _candidate(path: str) -> None:
    from app.components.candidates import candidate_panel
    from core.actor import Actor
    from core.api import Client

    candidate_panel(Client(path, Actor("admin", "test")), "tickets")


def test_the_pipeline_shows_each_environment_and_what_is_missing(shadowed: Path) -> None:
    at = AppTest.from_function(_environments, args=(str(shadowed),), default_timeout=60).run()
    assert not at.exception
    assert [(m.label, m.value) for m in at.metric] == [
        ("Acceptance", f"model:{PROJECT}@2"),
        ("Production", f"model:{PROJECT}@1"),
    ]
    assert at.expander[0].label == f"model:{PROJECT}@2 → production: 1 condition(s) unmet"
    assert "30 of 200 predictions served or shadowed" in at.expander[0].markdown[0].value


def test_the_candidate_beside_production(shadowed: Path) -> None:
    at = AppTest.from_function(_candidate, args=(str(shadowed),), default_timeout=60).run()
    assert not at.exception
    assert at.subheader[0].value.endswith("(shadow)")
    agreement = at.metric[0]
    assert agreement.label == "Agreement" and agreement.delta == "n = 30"
    sides = at.dataframe[0].value
    assert list(sides["model"]) == [
        f"production #{_id(shadowed, 1)}",
        f"candidate #{_id(shadowed, 2)}",
    ]
    assert list(sides["answered"]) == [30, 0]


def _id(path: Path, version: int) -> int:
    from core.actor import Actor
    from core.api import Client

    return (
        Client(path, Actor("admin", "test")).artifacts.get(f"model:{PROJECT}@{version}").artifact_id
    )
