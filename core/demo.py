"""`loopline demo`: a workspace where the sample projects have lived through a few months.

Everything is made through the real paths (project files, ingest, …), driven by each sample
project's ``demo.yaml``; nothing here knows the case studies. The workspace is built in a
temporary folder next to the target and renamed into place, so an interrupted demo leaves none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from core.actor import Actor
from core.data.service import ingest
from core.errors import CoreError, InvalidInput
from core.projects.service import Project, create_project
from core.store import Workspace, resolve_path

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DemoPlan:
    folder: Path
    project_file: Path
    history: Path
    later: Path | None
    truth: Path | None
    labeling: Mapping[str, Any] = field(default_factory=dict)


def demo_plans(root: Path | None = None) -> list[DemoPlan]:
    root = root or SAMPLE_DATA
    if not root.is_dir():
        raise CoreError(
            f"The sample data folder {root} is missing.",
            hint="run from a full checkout of Loopline",
        )
    plans: list[DemoPlan] = []
    for manifest in sorted(root.glob("*/demo.yaml")):
        data: dict[str, Any] = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        for key in ("project", "history"):
            if not data.get(key):
                raise InvalidInput(f"{manifest}: {key}: missing.")
        folder = manifest.parent
        optional = {
            key: folder / str(data[key]) if data.get(key) else None for key in ("later", "truth")
        }
        plans.append(
            DemoPlan(
                folder,
                folder / str(data["project"]),
                folder / str(data["history"]),
                **optional,
                labeling=data.get("labeling") or {},
            )
        )
    return plans


def build_demo(
    path: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Workspace:
    target = resolve_path(path)
    if Workspace.exists(target) and not force:
        raise CoreError(
            f"A workspace already exists at {target}.",
            hint="use --force to replace it with a fresh demo, or --if-missing to keep it",
        )
    staging = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    report = progress or (lambda stage, fraction: None)
    try:
        ws = Workspace.init(staging)
        actor = Actor("demo", "demo")
        plans = demo_plans()
        for index, plan in enumerate(plans):
            share = 1 / max(1, len(plans))
            base = index * share
            report(f"{plan.folder.name}: project", base)
            project = create_project(ws, plan.project_file, actor)
            report(f"{plan.folder.name}: ingest history", base + 0.1 * share)
            ingest(ws, project.name, plan.history, actor)
            if plan.labeling and plan.truth:
                label_chapter(
                    ws, project, plan, actor, _within(report, plan.folder.name, base, share)
                )
        report("finishing", 0.99)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    report("done", 1.0)
    return Workspace.open(target)


def _within(report: Progress, name: str, base: float, share: float) -> Progress:
    """A chapter's progress, mapped into its share of the whole demo's bar."""

    def inner(stage: str, fraction: float) -> None:
        report(f"{name}: {stage}", base + (0.2 + 0.8 * fraction) * share)

    return inner


def label_chapter(
    ws: Workspace, project: Project, plan: DemoPlan, actor: Actor, report: Progress
) -> None:
    """Months of labeling: imported verdicts, simulated annotators, a reviewer, a frozen label set."""
    from core.labeling.freeze import freeze
    from core.labeling.models import TaskFilter
    from core.labeling.simulate import (
        AnnotatorProfile,
        simulate_labeling,
        simulate_review,
        simulate_verdicts,
        truth_table,
    )
    from core.labeling.tasks import create_task

    spec = project.spec
    config = plan.labeling
    assert plan.truth is not None
    truth = truth_table(pd.read_csv(plan.truth, dtype=str, keep_default_na=False), spec.id_column)
    classes = spec.labels.classes
    hard = tuple(config.get("hard_values", ("hard_negative", "ambiguous")))
    frozen: list[int] = []
    verdicts = config.get("verdicts")
    if verdicts:
        report("verdicts", 0.0)
        history_ids = pd.read_csv(plan.history, usecols=[spec.id_column], dtype=str)[
            spec.id_column
        ].tolist()
        result = simulate_verdicts(
            ws,
            project.name,
            truth,
            history_ids,
            [AnnotatorProfile.from_dict(o) for o in verdicts["operators"]],
            classes,
            actor,
            second_opinion=float(verdicts.get("second_opinion", 0.0)),
            seed=int(verdicts.get("seed", 0)),
            task_name=str(verdicts.get("name", "Verdicts")),
        )
        frozen.append(result.task_id)
    for index, task_config in enumerate(config.get("tasks", [])):
        report(f"labeling: {task_config['name']}", 0.1 + 0.7 * index / max(1, len(config["tasks"])))
        task = create_task(
            ws,
            project.name,
            actor,
            name=str(task_config["name"]),
            task_filter=TaskFilter(
                limit=task_config.get("limit"),
                seed=int(task_config.get("seed", 0)),
                untasked_only=bool(task_config.get("untasked_only", False)),
            ),
            overlap=int(task_config.get("overlap", 1)),
            agreement_sample=float(task_config.get("agreement_sample", 0.0)),
            agreement_overlap=int(task_config.get("agreement_overlap", 2)),
            instructions=str(task_config.get("instructions", "")),
        )
        profiles = [AnnotatorProfile.from_dict(a) for a in task_config["annotators"]]
        simulate_labeling(
            ws,
            task.task_id,
            truth,
            profiles,
            classes,
            seed=int(task_config.get("seed", 0)),
            hard_values=hard,
            stop_after=task_config.get("stop_after"),
        )
        review = task_config.get("review")
        if review:
            simulate_review(ws, task.task_id, truth, str(review["reviewer"]), int(review["limit"]))
        if task_config.get("freeze", True):
            frozen.append(task.task_id)
    if frozen and config.get("freeze"):
        report("freezing the label set", 0.95)
        freeze(
            ws,
            project.name,
            actor,
            frozen,
            rule=str(config["freeze"].get("rule", "majority")),
            note=str(config["freeze"].get("note", "")),
        )
