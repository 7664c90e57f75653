"""The prediction service over real HTTP: `loopline serve` in a subprocess on a free port.

Predictions (one, a batch, with spans), /model and /health, hostile and oversized bodies,
feedback with and without a token, a hot switch after a promotion, and the log surviving SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.accounts.tokens import create_token
from core.accounts.users import create_user
from core.actor import Actor
from core.data.service import latest_dataset, load_rows
from core.experiments.search import search_runs
from core.projects.service import get_project
from core.registry.service import find_alias, load_model, register_run_model
from core.releases.service import promote
from core.serving.log import FEEDBACK, PREDICTIONS, read_log, segments
from core.serving.replay import payloads
from core.serving.server import wait_healthy
from core.store import Workspace
from tests.conftest import ROOT

LEAD = Actor("lead", "test")


class Service:
    """`loopline serve PROJECT --port 0` in a subprocess; its output is kept for failures."""

    def __init__(self, workspace: Path, project: str, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "--workspace",
                str(workspace),
                "serve",
                project,
                "--port",
                "0",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.output = [self.process.stdout.readline()]
        threading.Thread(target=self._drain, daemon=True).start()
        if " at http://" not in self.output[0]:
            self.process.wait(timeout=30)
            raise AssertionError(f"the service did not start:\n{self.text}")
        self.url = self.output[0].split(" at ")[-1].strip()
        wait_healthy(self.url, timeout=60, alive=lambda: self.process.poll() is None)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


def copy_of(demo_workspace: Path, target: Path) -> Path:
    """A private copy of the demo without its live traffic: these tests read the log they write."""
    shutil.copytree(demo_workspace, target, ignore=shutil.ignore_patterns("logs"))
    return target


def roll_back_to_v1(path: Path, project: str) -> None:
    """Production v1 again: trained before the later data, so there is later data to replay."""
    ws = Workspace.open(path)
    with ws.store.read() as tx:
        first = tx.scalar(
            "SELECT artifact_id FROM artifacts WHERE kind = 'model' AND name = ? AND version = 1",
            [project],
        )
    current = find_alias(ws, project)
    if first is not None and (current is None or current.artifact_id != first):
        promote(ws, project, int(first), LEAD, reason="serving tests replay the later data")


def ensure_production(path: Path, project: str) -> None:
    """The demo's build may have stopped at the gate: then its run's model becomes production."""
    ws = Workspace.open(path)
    if find_alias(ws, project) is None:
        runs = search_runs(ws, project, "", ["run_id"], limit=10).frame
        first = int(runs[runs["status"] == "finished"]["run_id"].min())
        model = register_run_model(ws, first, LEAD)
        promote(ws, project, model.artifact_id, LEAD, reason="serving tests")


def admin_of(ws: Workspace) -> Actor:
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT user_name FROM user_roles WHERE role = 'admin' ORDER BY user_name LIMIT 1"
        )
    if row is not None:
        return Actor(str(row[0]), "test")
    create_user(ws, Actor("bootstrap", "test"), "root", roles=["admin"])
    return Actor("root", "test")


def token_for(path: Path, name: str, role: str) -> str:
    ws = Workspace.open(path)
    admin = admin_of(ws)
    create_user(ws, admin, name, roles=[role])
    return create_token(ws, admin, name, "serving tests")


def inputs(path: Path, project: str, count: int) -> list[dict[str, Any]]:
    ws = Workspace.open(path)
    spec = get_project(ws, project).spec
    rows = load_rows(ws, latest_dataset(ws, project))  # type: ignore[arg-type]
    return payloads(rows.sample(count, random_state=5).reset_index(drop=True), spec)


def wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def hw(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_of(demo_workspace, tmp_path_factory.mktemp("serving") / "ws")
    ensure_production(path, "hw-triage")
    return path


@pytest.fixture(scope="module")
def service(hw: Path) -> Iterator[Service]:
    """hw-triage served for the module; test_a_graceful_stop_flushes_everything, its last user,
    stops it."""
    running = Service(hw, "hw-triage")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rows(hw: Path) -> list[dict[str, Any]]:
    return inputs(hw, "hw-triage", 60)


def test_one_prediction(service: Service, rows: list[dict[str, Any]], hw: Path) -> None:
    answer = service.client.post(
        "/predict", json={"request_id": "one-1", "inputs": rows[0], "time": "2026-07-02T08:00:00Z"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["request_id"] == "one-1" and body["item_id"] == rows[0]["unit_id"]
    classes = ["software_fault", "hardware_fault", "no_fault_found"]
    assert list(body["probabilities"]) == classes and body["prediction"] in classes
    assert body["confidence"] == max(body["probabilities"].values())
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-6
    ws = Workspace.open(hw)
    production = find_alias(ws, "hw-triage")
    assert production is not None and body["model"]["artifact_id"] == production.artifact_id
    spec = get_project(ws, "hw-triage").spec
    expected = load_model(ws, production).row_predictor(spec).predict_proba([rows[0]])[0]
    np.testing.assert_allclose(list(body["probabilities"].values()), expected, atol=1e-9)


def test_a_batch(service: Service, rows: list[dict[str, Any]]) -> None:
    items = [{"inputs": r} for r in rows[:20]]
    items[3]["request_id"] = "my-own-id"
    answer = service.client.post("/predict", json={"request_id": "batch-1", "items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["request_id"] == "batch-1" and len(body["items"]) == 20
    ids = [item["request_id"] for item in body["items"]]
    assert ids[:3] == ["batch-1:0", "batch-1:1", "batch-1:2"] and ids[3] == "my-own-id"
    assert [i["item_id"] for i in body["items"]] == [r["unit_id"] for r in rows[:20]]
    generated = service.client.post("/predict", json={"items": items[:2]}).json()
    assert generated["items"][0]["request_id"] == f"{generated['request_id']}:0"


def test_model_and_health(service: Service, hw: Path) -> None:
    model = service.client.get("/model").json()
    production = find_alias(Workspace.open(hw), "hw-triage")
    assert production is not None
    assert model["project"] == "hw-triage" and model["alias"] == "production"
    assert model["model"]["artifact_id"] == production.artifact_id
    assert model["model"]["version"] == production.version
    assert model["classes"] == ["software_fault", "hardware_fault", "no_fault_found"]
    assert model["features"][:3] == ["unit_type", "region", "firmware_version"]
    firmware = next(f for f in model["fields"] if f["name"] == "firmware_version")
    assert firmware == {
        "name": "firmware_version",
        "type": "category",
        "input": True,
        "required": True,
        "values": ["R23.1", "R23.2", "R23.4", "R24.1"],
    }
    health = service.client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["version"] == production.version


def test_refused_bodies_name_the_field(service: Service, rows: list[dict[str, Any]]) -> None:
    post = service.client.post
    wrong = post(
        "/predict", json={"request_id": "bad-1", "inputs": {**rows[0], "reboot_count": "7"}}
    )
    assert wrong.status_code == 422
    assert wrong.json()["problems"] == [
        {"field": "inputs.reboot_count", "problem": 'input should be a valid integer (got "7")'}
    ]
    assert wrong.json()["error"] == (
        "The request body was refused (1 problem): inputs.reboot_count: input should be a valid "
        'integer (got "7")'
    )
    firmware = post("/predict", json={"items": [{"inputs": {**rows[0], "firmware_version": "R9"}}]})
    assert firmware.json()["problems"] == [
        {
            "field": "items[0].inputs.firmware_version",
            "problem": "input should be 'R23.1', 'R23.2', 'R23.4' or 'R24.1' (got \"R9\")",
        }
    ]
    missing = dict(rows[0])
    del missing["region"]
    assert post("/predict", json={"inputs": missing}).json()["problems"] == [
        {"field": "inputs.region", "problem": "required field is missing"}
    ]
    unknown = post("/predict", json={"inputs": {**rows[0], "colour": "red"}}).json()
    assert unknown["problems"][0]["field"] == "inputs.colour"
    assert unknown["problems"][0]["problem"].startswith("unknown field; expected one of: unit_id")
    garbage = post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["problems"][0]["field"] == "(body)"
    deep = post("/predict", content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code in (400, 422)
    assert post("/predict", json={"inputs": rows[0]}).status_code == 200  # still serving


def test_hostile_strings_are_data(service: Service, rows: list[dict[str, Any]], hw: Path) -> None:
    strange = [
        "'; DROP TABLE aliases; --",
        "Robert'); DELETE FROM audit_log WHERE ('1'='1",
        "Ünïcødé 🚀 ‮reversed‬ \u0000 null",
        "x" * 5000,
    ]
    items = [
        {"request_id": f"hostile-{i}", "inputs": {**rows[i], "last_error_code": text}}
        for i, text in enumerate(strange)
    ]
    answer = service.client.post("/predict", json={"items": items})
    assert answer.status_code == 200, answer.text
    sneaky = service.client.post(
        "/predict", json={"inputs": {**rows[0], "region": "NA' OR '1'='1"}}
    )
    assert sneaky.status_code == 422
    assert sneaky.json()["problems"][0]["field"] == "inputs.region"
    wait_for(lambda: len(_logged(hw, "hostile-")) == 4)
    logged = _logged(hw, "hostile-").sort_values("request_id")
    assert logged["f_last_error_code"].tolist() == strange
    assert Workspace.open(hw).store is not None and find_alias(Workspace.open(hw), "hw-triage")


def test_oversized_bodies_get_413(service: Service) -> None:
    big = b'{"inputs": {"last_error_code": "' + b"x" * 1_100_000 + b'"}}'
    declared = service.client.post("/predict", content=big)
    assert declared.status_code == 413
    assert declared.json()["error"] == (
        f"The body is {len(big):,} bytes; this service takes at most 1,000,000 bytes."
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while it streams
        for _ in range(40):
            yield b"x" * 50_000

    streamed = httpx.post(f"{service.url}/predict", content=chunks(), timeout=30)
    assert streamed.status_code == 413
    assert streamed.json()["error"].startswith("The body is more than 1,000,000 bytes")


def test_feedback_needs_a_token(service: Service, hw: Path, rows: list[dict[str, Any]]) -> None:
    predicted = service.client.post("/predict", json={"request_id": "fb-1", "inputs": rows[1]})
    assert predicted.status_code == 200
    body = {"request_id": "fb-1", "label": "hardware_fault", "time": "2026-07-05T10:00:00Z"}
    anonymous = service.client.post("/feedback", json=body)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"].startswith("Feedback needs a token")
    forged = service.client.post(
        "/feedback", json=body, headers={"Authorization": "Bearer llt.repair.not-a-secret"}
    )
    assert forged.status_code == 403
    assert forged.json()["error"] == "The API token is not valid for this workspace."
    token = token_for(hw, "repair-shop", "service")
    annotator = token_for(hw, "anna", "annotator")
    refused = service.client.post(
        "/feedback", json=body, headers={"Authorization": f"Bearer {annotator}"}
    )
    assert refused.status_code == 403
    assert "may not send feedback on predictions" in refused.json()["error"]
    accepted = service.client.post(
        "/feedback", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"accepted": 1, "actor": "repair-shop"}
    stray = service.client.post(
        "/feedback",
        json={
            "items": [
                {"request_id": "fb-1", "label": "no_fault_found"},
                {"request_id": "nobody-1", "label": "no_fault_found"},
            ]
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert stray.status_code == 200 and stray.json()["unknown_request_ids"] == ["nobody-1"]
    assert stray.json()["warning"].startswith("1 of 2 request id(s) match no logged prediction")
    bad_label = service.client.post(
        "/feedback",
        json={"items": [{"request_id": "x", "label": "broken"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad_label.status_code == 422
    assert bad_label.json()["problems"][0]["field"] == "items[0].label"

    def logged() -> list[Any]:
        frame = read_log(hw, "hw-triage", FEEDBACK)
        return [] if frame.empty else frame.to_dict("records")

    wait_for(lambda: len(logged()) == 3)
    row = logged()[0]
    assert (row["request_id"], row["label"], row["actor"]) == (
        "fb-1",
        "hardware_fault",
        "repair-shop",
    )
    assert str(row["ts"]) == "2026-07-05 10:00:00"


def test_refused_items_are_logged_with_the_error(service: Service, hw: Path) -> None:
    wait_for(lambda: len(_logged(hw, "bad-1")) == 1)
    (row,) = _logged(hw, "bad-1").to_dict("records")
    assert row["error"] == 'inputs.reboot_count: input should be a valid integer (got "7")'
    assert pd.isna(row["prediction"]) and pd.isna(row["confidence"])


def _logged(path: Path, prefix: str) -> Any:
    frame = read_log(path, "hw-triage", PREDICTIONS)
    if frame.empty:
        return frame
    return frame[frame["request_id"].str.startswith(prefix)]


def test_sigkill_loses_at_most_the_last_second(hw: Path, rows: list[dict[str, Any]]) -> None:
    killed = Service(hw, "hw-triage")
    try:
        for index in range(200):
            item = {"request_id": f"kill-{index}", "inputs": rows[index % len(rows)]}
            assert killed.client.post("/predict", json=item).status_code == 200
        batch = [{"inputs": r} for r in rows[:50]]
        assert (
            killed.client.post(
                "/predict", json={"request_id": "kill-b", "items": batch}
            ).status_code
            == 200
        )
        time.sleep(1.2)  # more than the flush interval: these are on disk now
        wait_for(lambda: killed.client.get("/health").json()["log"]["pending"] == 0, 5)
        for index in range(30):
            killed.client.post("/predict", json={"request_id": f"late-{index}", "inputs": rows[0]})
    finally:
        killed.stop(signal.SIGKILL)
    for segment in segments(hw, "hw-triage", PREDICTIONS):
        pq.read_table(segment)  # every finished segment reads
    assert len(_logged(hw, "kill-")) == 250
    assert len(_logged(hw, "late-")) <= 30


def test_a_graceful_stop_flushes_everything(
    service: Service, hw: Path, rows: list[dict[str, Any]]
) -> None:
    """Stops the module's service: the last test to use it (a service start costs seconds of
    CPU: loading the model imports scikit-learn and skops)."""
    assert service.process.poll() is None, service.text
    items = [{"inputs": r, "time": "2026-07-09T12:30:00Z"} for r in rows[:40]]
    answer = service.client.post("/predict", json={"request_id": "term", "items": items})
    assert answer.status_code == 200
    service.stop(signal.SIGTERM)  # at once: the records are still in the buffer
    logged = _logged(hw, "term:")
    assert len(logged) == 40
    first = logged.sort_values("request_id").iloc[0]
    assert str(first["ts"]) == "2026-07-09 12:30:00" and pd.isna(first["error"])
    assert first["model_version"] == answer.json()["model"]["version"]
    assert first["f_firmware_version"] == rows[0]["firmware_version"]


def test_text_spans_and_a_switch_without_restart(hw: Path) -> None:
    """On the module's copy of the demo (its other tests serve hw-triage, this one ooo-replies)."""
    path = hw
    ws = Workspace.open(path)
    production = find_alias(ws, "ooo-replies")
    assert production is not None and production.version >= 2
    service = Service(path, "ooo-replies")
    try:
        reply = {
            "subject": "Automatic reply: Abwesenheitsnotiz",
            "body": "Thank you for your email. I am out of the office until 14 August 2026 "
            "with limited access to email. For urgent matters please contact "
            "jane.doe@example.com or call +49 30 1234567.",
        }
        first = service.client.post("/predict", json={"request_id": "ooo-1", "inputs": reply})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["prediction"] == "out_of_office"
        assert body["model"]["version"] == production.version
        spans = {(s["type"], s["text"]) for s in body["spans"]}
        assert ("RETURN_DATE", "14 August 2026") in spans
        assert ("CONTACT", "jane.doe@example.com") in spans
        promote(ws, "ooo-replies", "model:ooo-replies@1", LEAD, reason="roll back (test)")
        wait_for(lambda: service.client.get("/model").json()["model"]["version"] == 1)
        after = service.client.post("/predict", json={"request_id": "ooo-2", "inputs": reply})
        assert after.json()["model"]["version"] == 1
        assert service.client.get("/model").json()["switches"] == 1
    finally:
        service.stop()
    logged = read_log(path, "ooo-replies").set_index("request_id")
    assert logged.loc["ooo-1", "model_version"] == production.version
    assert logged.loc["ooo-2", "model_version"] == 1
    assert json.loads(logged.loc["ooo-1", "spans"])[0]["type"] in ("RETURN_DATE", "CONTACT")
    assert logged.loc["ooo-1", "f_body"] == reply["body"]
    assert "now serving model:ooo-replies@1" in service.text
    assert os.path.isdir(path / "logs" / "ooo-replies" / "predictions")
