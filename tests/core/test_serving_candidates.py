"""A candidate beside production through real HTTP: `loopline serve --shadow` scores every request
with the acceptance model and logs it apart, never answering with it; `--canary P` answers a
sticky share of the keys with it and scores production beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.api import Client
from core.errors import InvalidInput
from core.serving.log import PREDICTIONS, SHADOW, read_log
from core.serving.service import Placement
from core.store import Workspace
from tests.core.release_project import ADMIN, copy, two_models
from tests.core.small_project import PROJECT
from tests.core.test_serving_http import Service


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_models(tmp_path_factory.mktemp("release"))


@pytest.fixture()
def ws_path(released: Path, tmp_path: Path) -> Iterator[Path]:
    copy(released, tmp_path / "ws")
    yield tmp_path / "ws"


def _text(i: int) -> dict[str, object]:
    words = ["invoice refund", "crash error", "quote demo", "price broken buy"][i % 4]
    return {
        "ticket_id": f"K-{i}",
        "opened_at": "2026-05-02T10:00:00Z",
        "channel": "mail",
        "text": f"please help {words} {i}",
    }


def _models(path: Path) -> tuple[int, int]:
    client = Client(path, ADMIN)
    production = client.models.find_alias(PROJECT)
    acceptance = client.models.find_alias(PROJECT, "acceptance")
    assert production is not None and acceptance is not None
    return production.artifact_id, acceptance.artifact_id


def test_shadow_scores_every_request_and_never_answers(ws_path: Path) -> None:
    production, candidate = _models(ws_path)
    service = Service(ws_path, PROJECT, "--shadow")
    try:
        assert f"candidate: model:{PROJECT}@2 in the shadow" in service.text
        health = service.client.get("/health").json()
        assert health["candidate"] == {
            "mode": "shadow",
            "share": None,
            "model": {"artifact_id": candidate, "version": 2},
        }
        for i in range(30):
            answer = service.client.post(
                "/predict", json={"request_id": f"r{i}", "inputs": _text(i)}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"]["artifact_id"] == production
        batch = service.client.post(
            "/predict", json={"request_id": "b", "items": [{"inputs": _text(i)} for i in range(5)]}
        )
        assert all("model" not in item for item in batch.json()["items"])
    finally:
        service.stop()
    ws = Workspace.open(ws_path)
    answers, shadow = read_log(ws, PROJECT, PREDICTIONS), read_log(ws, PROJECT, SHADOW)
    assert len(answers) == 35 and set(answers["model_id"]) == {str(production)}
    assert set(answers["route"]) == {"production"}
    assert len(shadow) == 35 and set(shadow["model_id"]) == {str(candidate)}
    assert set(shadow["route"]) == {"shadow"}
    assert sorted(shadow["request_id"]) == sorted(answers["request_id"])
    assert shadow["f_text"].isna().all()  # the inputs are the answer's (same request id)


def test_canary_answers_a_sticky_share_of_the_keys(ws_path: Path) -> None:
    production, candidate = _models(ws_path)
    service = Service(ws_path, PROJECT, "--canary", "30")
    try:
        by_key: dict[str, set[int]] = {}
        for round_ in range(2):
            for i in range(100):
                body = {"request_id": f"c{round_}-{i}", "inputs": _text(i)}  # item id K-i
                answer = service.client.post("/predict", json=body)
                assert answer.status_code == 200, answer.text
                by_key.setdefault(f"K-{i}", set()).add(answer.json()["model"]["artifact_id"])
        header = service.client.post(
            "/predict", json={"inputs": _text(1)}, headers={"X-Canary-Key": "customer-7"}
        )
        expected = candidate if Placement("canary", 30).answers("customer-7") else production
        assert header.json()["model"]["artifact_id"] == expected
    finally:
        service.stop()
    assert all(len(models) == 1 for models in by_key.values())  # sticky per key
    canary_keys = sum(1 for models in by_key.values() if models == {candidate})
    assert 18 <= canary_keys <= 42  # about 30 of 100 keys
    ws = Workspace.open(ws_path)
    answers, shadow = read_log(ws, PROJECT, PREDICTIONS), read_log(ws, PROJECT, SHADOW)
    routes = answers.groupby("route")["model_id"].agg(set).to_dict()
    assert routes == {"canary": {str(candidate)}, "production": {str(production)}}
    assert len(answers) == 201 and len(shadow) == 201
    pairs = answers.merge(shadow, on="request_id", suffixes=("", "_other"))
    assert len(pairs) == 201 and (pairs["model_id"] != pairs["model_id_other"]).all()


def test_a_canary_share_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        Placement("canary", 0)
    assert str(refused.value) == (
        "A canary answers a share of the requests between 0 and 100 percent, got 0."
    )
