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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from core.accounts.demo import seed_demo_users
from core.actor import Actor
from core.data.service import ingest
from core.demo.calendar import calendar, moment, timeline
from core.demo.chapters import Story, label_steps
from core.errors import CoreError, InvalidInput
from core.projects.service import create_project
from core.store import Workspace, resolve_path

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DemoPlan:
    folder: Path
    project_file: Path
    history: Path
    later: Path | None
    truth: Path | None
    labeling: Mapping[str, Any] = field(default_factory=dict)
    story: tuple[Mapping[str, Any], ...] = ()
    start: datetime | None = None  # when the project is created (None: the wall clock)


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
                story=tuple(data.get("story") or ()),
                start=moment(data.get("start"), f"{manifest}: start"),
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
        plans = demo_plans()
        with calendar(_accounts_date(plans)):  # every step is checked against these accounts
            seed_demo_users(ws)
        for index, plan in enumerate(plans):
            share = 1 / max(1, len(plans))
            play_project(ws, plan, _within(report, plan.folder.name, index * share, share))
        report("finishing", 0.99)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    report("done", 1.0)
    return Workspace.open(target)


def play_project(ws: Workspace, plan: DemoPlan, report: Progress) -> None:
    """One sample project's story on its calendar: created and its history ingested at its
    start, then its labeling and story steps merged by date."""
    actor = Actor("demo", "demo")
    name = plan.folder.name
    with calendar(plan.start) as clock:
        report("project", 0.0)
        project = create_project(ws, plan.project_file, actor)
        report("ingest history", 0.05)
        ingest(ws, project.name, plan.history, actor)
        labeling = label_steps(ws, project, plan, actor) if plan.labeling and plan.truth else []
        story = Story(ws, project, plan, actor, clock).steps() if plan.story else []
        steps = timeline(
            [(f"{name}/demo.yaml: labeling", labeling), (f"{name}/demo.yaml: story", story)]
        )
        for number, step in enumerate(steps):
            clock.advance_to(step.at)
            report(step.name, 0.1 + 0.9 * number / max(1, len(steps)))
            step.run()


def _accounts_date(plans: list[DemoPlan]) -> datetime | None:
    """The demo's accounts exist an hour before the first project's story starts."""
    starts = [p.start for p in plans if p.start is not None]
    return min(starts) - timedelta(hours=1) if starts else None


def _within(report: Progress, name: str, base: float, share: float) -> Progress:
    """A chapter's progress, mapped into its share of the whole demo's bar."""

    def inner(stage: str, fraction: float) -> None:
        report(f"{name}: {stage}", base + fraction * share)

    return inner
