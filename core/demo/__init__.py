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

import yaml

from core.accounts.demo import seed_demo_users
from core.actor import Actor
from core.data.service import ingest
from core.demo.chapters import label_chapter, story_chapter
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

        seed_demo_users(ws)  # every step below is checked against these accounts' roles
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
                    ws, project, plan, actor, _within(report, plan.folder.name, base, share * 0.6)
                )
            if plan.story:
                chapter = _within(report, plan.folder.name, base + 0.5 * share, share * 0.5)
                story_chapter(ws, project, plan, actor, chapter)
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
