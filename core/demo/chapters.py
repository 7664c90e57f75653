"""The demo's chapters after ingest: months of labeling, then the story of builds and new data.

Driven by each sample project's demo.yaml; every step goes through the real services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.actor import Actor
from core.labeling.models import Task
from core.projects.service import Project
from core.store import Workspace

if TYPE_CHECKING:
    from core.demo import DemoPlan

Progress = Callable[[str, float], None]
HARD = ("hard_negative", "ambiguous")


def _truth(plan: DemoPlan, project: Project) -> dict[str, dict[str, Any]]:
    from core.labeling.simulate import truth_table

    assert plan.truth is not None
    return truth_table(
        pd.read_csv(plan.truth, dtype=str, keep_default_na=False), project.spec.id_column
    )


def run_task(
    ws: Workspace,
    project: Project,
    config: Mapping[str, Any],
    truth: Mapping[str, Mapping[str, Any]],
    actor: Actor,
    hard: tuple[str, ...] = HARD,
) -> Task:
    """Create a task from the config and let its simulated annotators (and reviewer) work it."""
    from core.labeling.models import TaskFilter
    from core.labeling.simulate import AnnotatorProfile, simulate_labeling, simulate_review
    from core.labeling.tasks import create_task

    where = {
        str(k): tuple(str(v) for v in values) for k, values in (config.get("where") or {}).items()
    }
    probabilities, model_id = None, None
    if config.get("model"):  # suggestions and uncertainty order from a registered model
        from core.registry.service import find_alias, predict_dataset

        model = find_alias(ws, project.name, str(config["model"]))
        if model is not None:
            probabilities, model_id = predict_dataset(ws, model), model.artifact_id
    task = create_task(
        ws,
        project.name,
        actor,
        name=str(config["name"]),
        task_filter=TaskFilter(
            limit=config.get("limit"),
            seed=int(config.get("seed", 0)),
            equals=where,
            date_from=config.get("from"),
            untasked_only=bool(config.get("untasked_only", False)),
        ),
        overlap=int(config.get("overlap", 1)),
        agreement_sample=float(config.get("agreement_sample", 0.0)),
        agreement_overlap=int(config.get("agreement_overlap", 2)),
        instructions=str(config.get("instructions", "")),
        ordering=str(config.get("order", "random")) if probabilities is not None else "random",
        probabilities=probabilities,
        model_id=model_id,
    )
    profiles = [AnnotatorProfile.from_dict(a) for a in config["annotators"]]
    simulate_labeling(
        ws,
        task.task_id,
        truth,
        profiles,
        project.spec.labels.classes,
        seed=int(config.get("seed", 0)),
        hard_values=hard,
        stop_after=config.get("stop_after"),
    )
    review = config.get("review")
    if review:
        simulate_review(ws, task.task_id, truth, str(review["reviewer"]), int(review["limit"]))
    return task


def label_chapter(
    ws: Workspace, project: Project, plan: DemoPlan, actor: Actor, report: Progress
) -> None:
    """Months of labeling: imported verdicts, simulated annotators, a reviewer, a frozen label set."""
    from core.labeling.freeze import freeze
    from core.labeling.simulate import AnnotatorProfile, simulate_verdicts

    spec = project.spec
    config = plan.labeling
    truth = _truth(plan, project)
    hard = tuple(config.get("hard_values", HARD))
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
            spec.labels.classes,
            actor,
            second_opinion=float(verdicts.get("second_opinion", 0.0)),
            seed=int(verdicts.get("seed", 0)),
            task_name=str(verdicts.get("name", "Verdicts")),
        )
        frozen.append(result.task_id)
    tasks = config.get("tasks", [])
    for index, task_config in enumerate(tasks):
        report(f"labeling: {task_config['name']}", 0.1 + 0.7 * index / max(1, len(tasks)))
        task = run_task(ws, project, task_config, truth, actor, hard)
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


def story_chapter(
    ws: Workspace, project: Project, plan: DemoPlan, actor: Actor, report: Progress
) -> None:
    """Steps after the first label set: builds, new data arriving, labeling it, more builds."""
    from core.artifacts.service import list_artifacts
    from core.builds.service import run_build
    from core.data.service import ingest
    from core.labeling.freeze import freeze

    truth: dict[str, dict[str, Any]] | None = None
    tasks: dict[str, int] = {}
    ci = Actor("ci", "cli")
    for index, step in enumerate(plan.story):
        fraction = index / max(1, len(plan.story))
        kind, config = next(iter(step.items()))
        config = config or {}
        if kind == "build":
            report(f"build: {config.get('note', '')}", fraction)
            run_build(
                ws,
                project.name,
                ci,
                promote_model=bool(config.get("promote")),
                trigger=config.get("note"),
            )
        elif kind == "ingest":
            report("ingest: new data arrives", fraction)
            source = getattr(plan, str(config.get("file", "later")))
            ingest(ws, project.name, source, actor)
        elif kind == "task":
            report(f"labeling: {config['name']}", fraction)
            truth = truth or _truth(plan, project)
            tasks[str(config["name"])] = run_task(ws, project, config, truth, actor).task_id
        elif kind == "freeze":
            report("freezing a label set", fraction)
            extends = None
            if config.get("extends"):
                versions = {
                    a.version: a.artifact_id
                    for a in list_artifacts(ws, kind="label_set", project=project.name)
                }
                extends = versions[int(config["extends"])]
            freeze(
                ws,
                project.name,
                actor,
                [tasks[str(n)] for n in config["tasks"]],
                rule=str(config.get("rule", "majority")),
                extends=extends,
                note=str(config.get("note", "")),
            )
        else:
            raise ValueError(f"unknown demo step {kind!r}")
