"""Acceptance before production: the promotion policy's named checks, refusals that list every
unmet condition, an admin's audited --force, the MLflow model Loopline cannot serve, the
pipeline of environments, and a canary rolled back when a rule fires on it (through real HTTP,
the service dropping the canary at its next poll)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from core.accounts.users import create_user
from core.actor import Actor
from core.api import Client
from core.artifacts.models import NewArtifact
from core.artifacts.service import register
from core.errors import Forbidden, InvalidInput
from core.monitoring.rules import AlertRule
from core.releases.canary import check_canary
from core.releases.policy import CHECKS, Facts, parse_policy
from core.serving.app import create_app
from core.serving.log import FEEDBACK, FEEDBACK_SCHEMA, SegmentWriter, log_folder, read_log
from core.serving.server import BackgroundServer
from core.serving.service import Placement
from tests.conftest import shadow_stage_policy
from tests.core.release_project import ADMIN, copy, two_models
from tests.core.small_project import PROJECT

WAIT = "(serve it with `loopline serve PROJECT --shadow` while in acceptance)"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_models(tmp_path_factory.mktemp("policy"))


@pytest.fixture()
def client(released: Path, tmp_path: Path) -> Client:
    found = copy(released, tmp_path / "ws")
    shadow_stage_policy(tmp_path / "ws", PROJECT)  # production waits for served predictions
    return found


def _text(i: int) -> dict[str, object]:
    words = ["invoice refund", "crash error", "quote demo", "price broken buy"][i % 4]
    return {
        "ticket_id": f"K-{i}",
        "opened_at": "2026-05-02T10:00:00Z",
        "channel": ["mail", "chat", "phone"][i % 3],
        "text": f"please help {words} {i}",
    }


def _serve(client: Client, placement: Placement, requests: int) -> None:
    """``requests`` predictions through a real service with the candidate beside production."""
    app = create_app(client.workspace, PROJECT, placement=placement, flush_seconds=0.1)
    with BackgroundServer(app) as server:
        for i in range(requests):
            answer = httpx.post(
                f"{server.url}/predict", json={"request_id": f"r{i}", "inputs": _text(i)}
            )
            assert answer.status_code == 200, answer.text
        _wait(
            lambda: (
                app.state.logs.shadow.stats().written_records
                + app.state.logs.shadow.stats().pending
                >= requests
            )
        )


def _wait(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_production_is_refused_with_every_unmet_condition(client: Client) -> None:
    with pytest.raises(InvalidInput) as refused:
        client.models.release(PROJECT, f"model:{PROJECT}@2", to="production", reason="looks good")
    assert str(refused.value) == (
        f"model:{PROJECT}@2 cannot enter production: 1 of 5 conditions unmet — "
        f"min_served: 0 of 200 predictions served or shadowed {WAIT}."
    )
    assert refused.value.hint == (
        f"meet them (see `loopline environments {PROJECT}`), or an admin promotes past them "
        "with --force and a --reason"
    )
    assert client.models.find_alias(PROJECT).version == 1  # type: ignore[union-attr]


def test_a_policy_file_adds_conditions_and_all_unmet_ones_are_listed(client: Client) -> None:
    policies = client.workspace.root / "policies"
    policies.mkdir(exist_ok=True)
    (policies / f"{PROJECT}.yaml").write_text(
        "production:\n"
        "  - check: min_served\n    predictions: 40\n"
        "  - check: requirements_met\n    strict: true\n"
        "  - check: no_open_alerts\n",
        encoding="utf-8",
    )
    client.requirements.import_file(_requirements(client.workspace.root))
    ready = client.models.readiness(PROJECT, f"model:{PROJECT}@2")
    assert [(c.check, c.met) for c in ready.conditions] == [
        ("min_served", False),
        ("requirements_met", False),
        ("no_open_alerts", True),
    ]
    assert ready.policy == f"policies/{PROJECT}.yaml"  # as the workspace names it, not a path
    with pytest.raises(InvalidInput) as refused:
        client.models.release(PROJECT, f"model:{PROJECT}@2", to="production", reason="r")
    message = str(refused.value)
    assert message.startswith(
        f"model:{PROJECT}@2 cannot enter production: 2 of 3 conditions unmet — "
    )
    assert (
        f"min_served: 0 of 40 predictions served or shadowed {WAIT}; requirements_met: " in message
    )

    _serve(client, Placement("shadow"), 40)  # in the shadow for 40 requests
    ready = client.models.readiness(PROJECT, f"model:{PROJECT}@2")
    assert ready.conditions[0].met and ready.conditions[0].detail == (
        "40 of 40 predictions served or shadowed"
    )


def _requirements(folder: Path) -> Path:
    path = folder / "reqs.yaml"
    path.write_text(
        f"project: {PROJECT}\n"
        "system:\n"
        "  - id: SYS-1\n    title: Tickets reach the right team\n"
        "ml:\n"
        "  - id: ML-1\n    title: Nearly every ticket is routed right\n"
        "    derived_from: [SYS-1]\n    metric: accuracy\n    comparator: '>='\n"
        "    threshold: 0.999\n    evidence: build\n",
        encoding="utf-8",
    )
    return path


def test_force_is_for_admins_and_audited(client: Client) -> None:
    create_user(client.workspace, ADMIN, "root", roles=["admin"])
    create_user(client.workspace, Actor("root", "test"), "rel", roles=["release_manager"])
    manager = Client(client.workspace.root, Actor("rel", "test"))
    ref = f"model:{PROJECT}@2"
    version = manager.artifacts.get(ref)
    with pytest.raises(Forbidden) as refused:
        manager.models.release(
            PROJECT, version.artifact_id, to="production", reason="ship", force=True
        )
    assert str(refused.value) == (
        f"rel may not force {ref} into production past 1 unmet condition(s); only an admin may."
    )
    root = Client(client.workspace.root, Actor("root", "test"))
    done = root.models.release(PROJECT, ref, to="production", reason="hotfix", force=True)
    assert done.version == 2 and root.models.find_alias(PROJECT).version == 2  # type: ignore[union-attr]
    with client.workspace.store.read() as tx:
        details = tx.scalar(
            "SELECT details FROM audit_log WHERE action = 'promote' ORDER BY audit_id DESC LIMIT 1"
        )
    assert json.loads(details)["forced_past"] == [
        f"min_served: 0 of 200 predictions served or shadowed {WAIT}"
    ]


def test_an_imported_mlflow_model_cannot_be_promoted(client: Client) -> None:
    mlflow = register(
        client.workspace,
        NewArtifact(
            "model",
            "triage-sklearn",
            project=PROJECT,
            files={"MLmodel": b"flavors: {}\n", "model/model.skops": b"not loaded here"},
            metadata={
                "source": "mlflow",
                "trainer": "mlflow.sklearn",
                "mlflow": {"name": "triage-sklearn", "version": 3},
            },
        ),
        ADMIN,
    )
    for to in ("acceptance", "production"):
        with pytest.raises(InvalidInput) as refused:
            client.models.release(PROJECT, mlflow.artifact_id, to=to, reason="r", force=True)
        assert str(refused.value) == (
            f"Cannot promote model:triage-sklearn@1 to {to}: model:triage-sklearn@1 was imported "
            "from MLflow (triage-sklearn version 3, mlflow.sklearn): Loopline keeps it for "
            "comparison and lineage but cannot serve it."
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            [],
            "p.yaml: expected a mapping of environments (acceptance, production) to lists of checks.",
        ),
        (
            {"staging": []},
            "p.yaml: Unknown environment 'staging'. Expected one of: acceptance, production.",
        ),
        ({"production": "servable"}, "p.yaml: production: expected a list of {check: NAME, …}."),
        (
            {"production": [{"check": "min_servd"}]},
            "p.yaml: production[0].check: Unknown check 'min_servd'. Expected one of: "
            "behaviour_passed, min_served, no_open_alerts, requirements_met, servable.",
        ),
        (
            {"production": [{"check": "min_served", "requests": 5}]},
            "p.yaml: production[0]: MinServed.__init__() got an unexpected keyword argument "
            "'requests'.",
        ),
    ],
)
def test_bad_policy_files(data: object, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_policy(data, "p.yaml")
    assert str(refused.value) == message


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_registered_check_judges_a_model(name: str, client: Client) -> None:
    model = client.artifacts.get(f"model:{PROJECT}@2")
    facts = Facts(client.workspace, PROJECT, model, client.models.find_alias(PROJECT))
    condition = CHECKS[name]().run(facts)
    assert condition.check == name and isinstance(condition.met, bool) and condition.detail


def test_the_pipeline_of_environments(client: Client) -> None:
    view = client.models.environments(PROJECT)
    assert [(s.environment, s.model) for s in view.stages] == [
        ("acceptance", f"model:{PROJECT}@2"),
        ("production", f"model:{PROJECT}@1"),
    ]
    assert [(c.model, c.environment, c.ready) for c in view.candidates] == [
        (f"model:{PROJECT}@2", "production", False)
    ]
    assert view.policy == "policies/tickets.yaml"  # the shadow-stage policy of the fixture


def test_a_canary_whose_rule_fires_is_rolled_back_and_audited(client: Client) -> None:
    ws = client.workspace
    app = create_app(
        ws, PROJECT, placement=Placement("canary", 50), poll_seconds=0.1, flush_seconds=0.1
    )
    watcher = app.state.watcher
    with BackgroundServer(app) as server:
        answers = [
            httpx.post(
                f"{server.url}/predict", json={"request_id": f"r{i}", "inputs": _text(i)}
            ).json()
            for i in range(80)
        ]
        canary = [a for a in answers if a["model"]["version"] == 2]
        assert 20 <= len(canary) <= 60
        logs = app.state.logs
        _wait(lambda: logs.shadow.stats().written_records + logs.shadow.stats().pending >= 80)
        logs.predictions.flush(), logs.shadow.flush()
        # the truth comes back: every answer the canary gave was wrong
        wrong = {a["request_id"]: _other(a["prediction"]) for a in canary}
        _feedback(ws, wrong)
        rule = AlertRule("canary-accuracy", "accuracy", "<", 0.5, "critical", min_volume=20)
        checked = check_canary(ws, PROJECT, ADMIN, rules=[rule])
        assert checked.rolled_back and checked.candidate == f"model:{PROJECT}@2"
        assert checked.breaches[0].startswith("rule canary-accuracy: accuracy 0.000 < 0.5 (n = ")
        _wait(lambda: watcher.candidate is None)  # the service dropped the canary
        after = [
            httpx.post(f"{server.url}/predict", json={"inputs": _text(i)}).json()["model"][
                "version"
            ]
            for i in range(20)
        ]
        assert set(after) == {1}
    assert client.models.find_alias(PROJECT, "acceptance").version == 1  # type: ignore[union-attr]
    history = client.models.promotion_history(PROJECT)[0]
    assert history.alias == "acceptance" and history.reason.startswith(
        f"canary model:{PROJECT}@2 rolled back automatically: rule canary-accuracy"
    )
    again = check_canary(ws, PROJECT, ADMIN, rules=[rule])
    assert not again.rolled_back and again.candidate is None


def _other(label: str) -> str:
    return next(c for c in ("billing", "bug", "sales") if c != label)


def _feedback(ws: object, labels: dict[str, str]) -> None:
    from datetime import datetime

    writer = SegmentWriter(log_folder(ws, PROJECT, FEEDBACK), FEEDBACK_SCHEMA)  # type: ignore[arg-type]
    now = datetime(2026, 5, 3)
    writer.append(
        {"ts": now, "received_at": now, "request_id": r, "label": label, "actor": "ops"}
        for r, label in labels.items()
    )
    writer.flush()
    assert len(read_log(ws, PROJECT, FEEDBACK)) == len(labels)  # type: ignore[arg-type]


def test_a_canary_with_an_open_alert_is_rolled_back(client: Client) -> None:
    """The canary answers everything; monitoring's windows are its own, the truth says it is
    wrong, the accuracy rule opens an alert on it, and the check rolls it back."""
    ws = client.workspace
    app = create_app(ws, PROJECT, placement=Placement("canary", 100), flush_seconds=0.1)
    with BackgroundServer(app) as server:
        answers = [
            httpx.post(
                f"{server.url}/predict", json={"request_id": f"a{i}", "inputs": _text(i)}
            ).json()
            for i in range(60)
        ]
    assert {a["model"]["version"] for a in answers} == {2}
    _feedback(ws, {a["request_id"]: _other(a["prediction"]) for a in answers})
    candidate = client.models.find_alias(PROJECT, "acceptance")
    assert candidate is not None
    report = client.monitoring.compute_windows(PROJECT)
    opened = [a for a in report.open_alerts if a.model_id == candidate.artifact_id]
    assert opened, [(a.rule, a.model_id) for a in report.open_alerts]
    # computing the windows rolled the canary back at once, as Loopline itself (the person
    # computing them need not be allowed to promote), audited as canary.rollback
    assert client.models.find_alias(PROJECT, "acceptance").version == 1  # type: ignore[union-attr]
    moved = client.models.promotion_history(PROJECT)[0]
    assert (moved.alias, moved.actor) == ("acceptance", "loopline")
    assert moved.reason.startswith(
        f"canary model:{PROJECT}@2 rolled back automatically: alert #{opened[0].alert_id} "
    )
    with ws.store.read() as tx:
        action = tx.scalar("SELECT action FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert action == "canary.rollback"
    assert not client.models.check_canary(PROJECT).rolled_back  # nothing left to roll back
