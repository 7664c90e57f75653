"""Shared setup for the requirements tests: a small real workspace with evidence of every kind.

``evidence_base`` (once per session): the tickets project with 120 ingested tickets, labeled by two
simulated annotators (overlap 2 on part of them, so the label set has an agreement), a frozen label
set, a trained model registered and promoted. ``evidence_ws`` is a private copy per test.

``logged_model`` logs a run with exactly the metrics a test needs (through the tracking API, with
the trained model's files) and registers it, so a status can be put just above or below a
threshold. ``add_window`` writes monitoring figures into ``monitor_metrics``, the table that is
the contract with monitoring.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.actor import Actor
from core.artifacts.models import Artifact
from core.store import Workspace, utcnow

TESTER = Actor("tester", "test")
CLASSES = {
    "billing": "invoice refund charge",
    "bug": "crash error broken",
    "sales": "buy seats upgrade",
}
TICKETS_YAML = """
project: tickets
system:
  - {id: SYS-1, title: Tickets reach the right team, category: reliability, owner: maria}
  - {id: SYS-2, title: Mail tickets are routed well, parent: SYS-1, owner: maria}
  - {id: SYS-3, title: Routing is fast, category: performance, owner: lead}
ml:
  - {id: ML-1, title: Accuracy, derived_from: [SYS-1], metric: accuracy, threshold: 0.5}
  - {id: ML-2, title: Mail accuracy, derived_from: [SYS-2], metric: accuracy, slice: channel = mail, threshold: 0.5}
  - {id: ML-3, title: Latency, derived_from: [SYS-3], metric: latency_p95_ms, threshold: 10000, evidence: build}
"""


def _tickets_csv(path: Path) -> tuple[Path, Path]:
    rows, truth = [], []
    names = list(CLASSES)
    for i in range(120):
        label = names[i % 3]
        channel = ["mail", "chat", "phone"][(i // 3) % 3]
        words = CLASSES[label].split()
        text = f"{words[i % 3]} {words[(i + 1) % 3]} ticket {i}"
        rows.append(
            {
                "ticket_id": f"T-{i:03d}",
                "opened_at": f"2026-0{3 + i % 2}-{i % 28 + 1:02d}T10:00:00Z",
                "channel": channel,
                "text": text,
                "priority": 1 + i % 5,
                "amount": "" if i % 10 == 0 else f"{i * 1.5:.2f}",
                "vip": "true" if i % 7 == 0 else "false",
            }
        )
        truth.append({"ticket_id": f"T-{i:03d}", "label": label, "spans": "[]"})
    data, labels = path / "tickets.csv", path / "truth.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    pd.DataFrame(truth).to_csv(labels, index=False)
    return data, labels


def build_base(root: Path) -> Path:
    from core.data.service import ingest
    from core.experiments.service import train
    from core.labeling.freeze import freeze
    from core.labeling.models import TaskFilter
    from core.labeling.simulate import AnnotatorProfile, simulate_labeling, truth_table
    from core.labeling.tasks import create_task
    from core.projects.service import create_project
    from core.registry.service import register_run_model
    from core.releases.service import promote
    from tests.conftest import FIXTURES

    ws = Workspace.init(root / "ws")
    create_project(ws, FIXTURES / "tickets.yaml", TESTER)
    data, labels = _tickets_csv(root)
    ingest(ws, "tickets", data, TESTER)
    task = create_task(
        ws,
        "tickets",
        TESTER,
        name="all tickets",
        task_filter=TaskFilter(),
        agreement_sample=0.4,
        agreement_overlap=2,
    )
    truth = truth_table(pd.read_csv(labels, dtype=str, keep_default_na=False), "ticket_id")
    simulate_labeling(
        ws,
        task.task_id,
        truth,
        [AnnotatorProfile("ann", error_rate=0.02), AnnotatorProfile("ben", error_rate=0.05)],
        list(CLASSES),
        seed=1,
    )
    freeze(ws, "tickets", TESTER, [task.task_id], note="all tickets")
    result = train(ws, "tickets", TESTER)
    model = register_run_model(ws, result.run_id, TESTER)
    promote(ws, "tickets", model.artifact_id, TESTER, reason="first model")
    return root / "ws"


@pytest.fixture(scope="session")
def evidence_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("evidence"))


@pytest.fixture
def evidence_ws(evidence_base: Path, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(evidence_base, target)
    return Workspace.open(target)


def production(ws: Workspace) -> Artifact:
    from core.registry.service import find_alias

    found = find_alias(ws, "tickets")
    assert found is not None
    return found


def logged_model(
    ws: Workspace,
    metrics: Mapping[str, float],
    slices: Mapping[str, Mapping[str, float]] | None = None,
    *,
    promote_it: bool = False,
) -> Artifact:
    """A model version whose run recorded exactly these metrics (overall and per slice)."""
    from core.experiments.service import get_run, load_run_model
    from core.experiments.tracking import Tracker
    from core.registry.service import register_run_model
    from core.releases.service import promote

    base = get_run(ws, int(production(ws).metadata["run_id"]))
    model = load_run_model(ws, base.run_id)
    with (
        Tracker(ws, TESTER) as tracker,
        tracker.start_run(
            "tickets",
            inputs={"dataset": base.inputs["dataset"], "label_set": base.inputs["label_set"]},
        ) as run,
    ):
        run.log_metrics(dict(metrics))
        for name, values in (slices or {}).items():
            run.log_metrics(dict(values), slice=name)
        run.log_model(model)
    registered = register_run_model(ws, run.run_id, TESTER)
    if promote_it:
        promote(ws, "tickets", registered.artifact_id, TESTER, reason="test evidence")
    return registered


def add_window(
    ws: Workspace,
    figures: Mapping[tuple[str, str], tuple[float, int]],
    *,
    model_version: int,
    end: datetime,
    days: int = 1,
    project: str = "tickets",
    grain: str = "day",
    kind: str = "realized",
) -> None:
    """One monitoring window: {(metric, slice): (value, n)} as monitoring writes it."""
    with ws.store.transaction() as tx:
        for (metric, slice_name), (value, n) in figures.items():
            tx.execute(
                "INSERT INTO monitor_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    project,
                    str(model_version),
                    model_version,
                    grain,
                    end - timedelta(days=days),
                    end,
                    metric,
                    slice_name,
                    value,
                    n,
                    "estimated" if metric.startswith("estimated.") else kind,
                    utcnow(),
                ],
            )


def after_monitoring(ws: Workspace, project: str, days: int = 60) -> datetime:
    """A window end far enough after the workspace's own monitoring that none of it falls in a
    requirement's last 30 days (the demo monitors its story; tests add their own month)."""
    with ws.store.read() as tx:
        last = tx.scalar("SELECT max(window_end) FROM monitor_metrics WHERE project = ?", [project])
    return (last or datetime(2026, 9, 30)) + timedelta(days=days)


def import_text(
    ws: Workspace, text: str, tmp_path: Path, name: str = "req.yaml", actor: Actor = TESTER
):  # type: ignore[no-untyped-def]
    from core.requirements.service import import_requirements

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_requirements(ws, path, actor)


def statuses(ws: Workspace, project: str = "tickets") -> dict[str, str]:
    from core.requirements.status import current_statuses

    return {k: s.status for k, s in current_statuses(ws, project).items()}


def test_the_base_workspace_has_evidence_of_every_kind(evidence_ws: Workspace) -> None:
    """The fixture itself: a production model with per-slice metrics and a label set with alpha."""
    from core.artifacts.service import get_artifact
    from core.experiments.service import get_run

    model = production(evidence_ws)
    run = get_run(evidence_ws, int(model.metadata["run_id"]))
    assert "channel = mail" in run.slice_metrics and "accuracy" in run.metrics
    label_set = get_artifact(evidence_ws, int(model.metadata["label_set_id"]))
    assert label_set.metadata["alpha"] is not None
    assert json.loads(json.dumps(dict(model.metadata)))["run_id"] == run.run_id
