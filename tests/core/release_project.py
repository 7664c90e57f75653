"""The tickets project with two model versions: v1 in production, v2 (trained with a very
different C, so the two disagree now and then) in acceptance. Seconds to make; tests copy it."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.actor import Actor
from core.api import Client
from tests.conftest import shadow_stage_policy
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
FIXTURES = Path(__file__).parents[1] / "fixtures"


def two_models(folder: Path) -> Path:
    """A workspace under ``folder``: tickets labeled, model v1 in production and v2 in
    acceptance (both moved with the plain alias move, as a build does), under a policy with a
    shadow stage (production waits for 200 served or shadowed predictions)."""
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(FIXTURES / "tickets.yaml")
    label_tickets(client, folder)
    first = client.runs.train(PROJECT, params={"C": 8.0})
    second = client.runs.train(PROJECT, params={"C": 0.05}, seed=1)
    v1 = client.models.register_run(first.run_id)
    v2 = client.models.register_run(second.run_id)
    client.models.promote(PROJECT, v1.artifact_id, reason="first model")
    client.models.promote(PROJECT, v2.artifact_id, alias="acceptance", reason="try it")
    shadow_stage_policy(folder / "ws", PROJECT)
    return folder / "ws"


def copy(source: Path, target: Path) -> Client:
    shutil.copytree(source, target)
    return Client(target, ADMIN)
