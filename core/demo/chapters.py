"""The demo's chapters after ingest: months of labeling, then the story of builds and new data.

Driven by each sample project's demo.yaml; every step goes through the real services.
"""

from __future__ import annotations

import functools
import secrets
import shutil
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.actor import Actor
from core.artifacts.service import list_artifacts
from core.behave.suite import suite_path
from core.builds.service import list_builds, run_build
from core.data.service import ingest
from core.demo.calendar import Calendar, Step, moment
from core.errors import Forbidden
from core.labeling.freeze import freeze
from core.labeling.models import Task, TaskFilter
from core.labeling.simulate import (
    AnnotatorProfile,
    simulate_labeling,
    simulate_review,
    simulate_verdicts,
    truth_table,
)
from core.labeling.tasks import create_task, list_tasks
from core.monitoring.alerts import list_alerts
from core.monitoring.loop import send_to_labeling
from core.monitoring.requirement_rules import rules_from_requirements
from core.monitoring.retrain import request_retraining
from core.monitoring.service import compute_windows
from core.projects.service import Project
from core.registry.service import find_alias, predict_dataset
from core.releases.pipeline import release
from core.releases.policy import policy_path
from core.requirements.service import import_requirements
from core.requirements.status import recompute_statuses
from core.requirements.verify import verify_system
from core.serving.app import create_app
from core.serving.server import BackgroundServer
from core.serving.service import Placement
from core.serving.simulate import simulate
from core.store import Workspace

if TYPE_CHECKING:
    from core.demo import DemoPlan

Progress = Callable[[str, float], None]
HARD = ("hard_negative", "ambiguous")


def _truth(plan: DemoPlan, project: Project) -> dict[str, dict[str, Any]]:
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

    where = {
        str(k): tuple(str(v) for v in values) for k, values in (config.get("where") or {}).items()
    }
    probabilities, model_id = None, None
    if config.get("model"):  # suggestions and uncertainty order from a registered model
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
    work_task(ws, project, task, config, truth, hard)
    return task


def work_task(
    ws: Workspace,
    project: Project,
    task: Task,
    config: Mapping[str, Any],
    truth: Mapping[str, Mapping[str, Any]],
    hard: tuple[str, ...] = HARD,
) -> None:
    """The task's simulated annotators work through the real queue; a reviewer settles some."""
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


def label_chapter(
    ws: Workspace, project: Project, plan: DemoPlan, actor: Actor, report: Progress
) -> None:
    """Months of labeling: imported verdicts, simulated annotators, a reviewer, a frozen label set."""
    steps = label_steps(ws, project, plan, actor)
    for index, step in enumerate(steps):
        report(step.name, index / max(1, len(steps)))
        step.run()


def label_steps(ws: Workspace, project: Project, plan: DemoPlan, actor: Actor) -> list[Step]:
    """The labeling chapter's steps, in demo.yaml's order: verdicts imported, each task worked by
    simulated annotators (and a reviewer), the label set frozen."""
    config = plan.labeling
    where = f"{plan.folder.name}/demo.yaml: labeling"
    frozen: list[int] = []
    steps: list[Step] = []
    truth = functools.cache(lambda: _truth(plan, project))
    verdicts = config.get("verdicts")
    hard = tuple(config.get("hard_values", HARD))
    for task_config in config.get("tasks", []):

        def labeling(task_config: Mapping[str, Any] = task_config) -> None:
            task = run_task(ws, project, task_config, truth(), actor, hard)
            if task_config.get("freeze", True):
                frozen.append(task.task_id)

        at = moment(task_config.get("at"), f"{where}: {task_config['name']}")
        steps.append(Step(f"labeling: {task_config['name']}", labeling, at))
    freezing = config.get("freeze")
    if freezing:

        def freeze_label_set() -> None:
            if frozen:
                freeze(
                    ws,
                    project.name,
                    actor,
                    frozen,
                    rule=str(freezing.get("rule", "majority")),
                    note=str(freezing.get("note", "")),
                )

        at = moment(freezing.get("at"), f"{where}: freeze")
        steps.append(Step("freezing the label set", freeze_label_set, at))
    if verdicts:

        def import_verdicts() -> None:
            frozen.append(_verdicts(ws, project, plan, actor, verdicts, truth()))

        at = moment(verdicts.get("at"), where)
        steps.insert(_place(steps, at), Step("verdicts", import_verdicts, at))
    return steps


def _place(steps: list[Step], at: Any) -> int:
    """Where a dated step goes among steps written in date order: before the first later one."""
    if at is None:
        return 0
    return next((i for i, s in enumerate(steps) if s.at is not None and s.at > at), len(steps))


def _verdicts(
    ws: Workspace,
    project: Project,
    plan: DemoPlan,
    actor: Actor,
    verdicts: Mapping[str, Any],
    truth: Mapping[str, Mapping[str, Any]],
) -> int:
    """Labels recorded elsewhere (screening operators' verdicts, a labeling vendor's batch) on
    the history's items, imported as a task: all of them, or a seeded sample of ``limit`` items
    that no task holds yet."""
    spec = project.spec
    ids = pd.read_csv(plan.history, usecols=[spec.id_column], dtype=str)[spec.id_column].tolist()
    if verdicts.get("limit"):
        ids = _sample(ws, project.name, ids, int(verdicts["limit"]), int(verdicts.get("seed", 0)))
    result = simulate_verdicts(
        ws,
        project.name,
        truth,
        ids,
        [AnnotatorProfile.from_dict(o) for o in verdicts["operators"]],
        spec.labels.classes,
        actor,
        second_opinion=float(verdicts.get("second_opinion", 0.0)),
        seed=int(verdicts.get("seed", 0)),
        task_name=str(verdicts.get("name", "Verdicts")),
    )
    return result.task_id


def _sample(ws: Workspace, project: str, ids: list[str], limit: int, seed: int) -> list[str]:
    """A seeded sample of ``limit`` of ``ids`` that are in no task of the project yet."""
    with ws.store.read() as tx:
        tasked = {
            str(r[0])
            for r in tx.rows(
                "SELECT DISTINCT i.item_id FROM task_items i JOIN tasks t USING (task_id) "
                "WHERE t.project = ?",
                [project],
            )
        }
    free = [i for i in ids if i not in tasked]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(free), size=min(limit, len(free)), replace=False)
    return [free[int(i)] for i in sorted(picks)]


class Story:
    """The story's steps, one method each (``step_<kind>`` for a ``<kind>:`` entry)."""

    def __init__(
        self,
        ws: Workspace,
        project: Project,
        plan: DemoPlan,
        actor: Actor,
        calendar: Calendar | None = None,
    ) -> None:
        self.ws, self.project, self.plan, self.actor = ws, project, plan, actor
        self.calendar = calendar or Calendar(None)
        self.ci = Actor("ci", "cli")  # CI runs builds, the service and monitoring
        self.lead = Actor("lead", "app")  # the data scientist who acts on alerts
        self.tasks: dict[str, int] = {}
        self.alert_id: int | None = None
        self.replayed_until: Any = None
        self._truth: dict[str, dict[str, Any]] | None = None

    def steps(self) -> list[Step]:
        """demo.yaml's story, one step per entry, each with its date (``at:``)."""
        steps: list[Step] = []
        for index, entry in enumerate(self.plan.story):
            kind, config = next(iter(entry.items()))
            handler = getattr(self, f"step_{kind}", None)
            if handler is None:
                raise ValueError(f"unknown demo step {kind!r} in {self.plan.folder.name}/demo.yaml")
            config = config or {}
            label = str(config.get("note") or config.get("name") or "")
            where = f"{self.plan.folder.name}/demo.yaml: story step {index + 1} ({kind}): at"
            steps.append(
                Step(
                    f"{kind}: {label}".rstrip(": "),
                    functools.partial(handler, config),
                    moment(config.get("at"), where),
                )
            )
        return steps

    @property
    def truth(self) -> dict[str, dict[str, Any]]:
        if self._truth is None:
            self._truth = _truth(self.plan, self.project)
        return self._truth

    def _recompute(self, cause: str) -> None:
        recompute_statuses(self.ws, self.project.name, cause=cause)

    def _task_id(self, name: str) -> int:
        if name not in self.tasks:
            found = {t.name: t.task_id for t in list_tasks(self.ws, self.project.name)}
            if name not in found:
                raise ValueError(f"{self.plan.folder.name}/demo.yaml: no task named {name!r}")
            self.tasks[name] = found[name]
        return self.tasks[name]

    def step_requirements(self, config: Mapping[str, Any]) -> None:
        """The requirements file (YAML, CSV or a requirements tool's ReqIF read with its
        ``mapping``) imported as a new version of the project's set."""
        mapping = config.get("mapping")
        import_requirements(
            self.ws,
            self.plan.folder / str(config.get("file", "requirements.yaml")),
            Actor(str(config.get("by", "maria")), "app"),
            project=self.project.name,
            note=str(config.get("note", "Requirements agreed with the product team")),
            mapping=self.plan.folder / str(mapping) if mapping else None,
        )
        self._recompute("requirements imported")

    def step_build(self, config: Mapping[str, Any]) -> None:
        run_build(
            self.ws,
            self.project.name,
            self.ci,
            promote_model=bool(config.get("promote")),
            trigger=config.get("note"),
        )

    def step_ingest(self, config: Mapping[str, Any]) -> None:
        ingest(
            self.ws,
            self.project.name,
            getattr(self.plan, str(config.get("file", "later"))),
            self.actor,
        )

    def step_task(self, config: Mapping[str, Any]) -> None:
        self.tasks[str(config["name"])] = run_task(
            self.ws, self.project, config, self.truth, self.actor
        ).task_id

    def step_verdicts(self, config: Mapping[str, Any]) -> None:
        """Verdicts for the items of a later file received in [``from``, ``before``), brought in
        through the importer: all of them, or a seeded sample of ``limit`` items that no task
        holds yet (a labeling vendor's batch)."""
        spec = self.project.spec
        frame = pd.read_csv(getattr(self.plan, str(config.get("file", "later"))), dtype=str)
        stamps = pd.to_datetime(frame[spec.time_column], utc=True)
        keep = pd.Series(True, index=frame.index)
        if config.get("from"):
            keep &= stamps >= pd.Timestamp(str(config["from"]), tz="UTC")
        if config.get("before"):
            keep &= stamps < pd.Timestamp(str(config["before"]), tz="UTC")
        ids = frame.loc[keep, spec.id_column].tolist()
        if config.get("limit"):
            ids = _sample(
                self.ws, self.project.name, ids, int(config["limit"]), int(config.get("seed", 0))
            )
        result = simulate_verdicts(
            self.ws,
            self.project.name,
            self.truth,
            ids,
            [AnnotatorProfile.from_dict(o) for o in config["operators"]],
            spec.labels.classes,
            self.actor,
            second_opinion=float(config.get("second_opinion", 0.0)),
            seed=int(config.get("seed", 0)),
            task_name=str(config["name"]),
        )
        self.tasks[str(config["name"])] = result.task_id

    def step_serve(self, config: Mapping[str, Any]) -> None:
        """Live traffic: the project's later data through the real service, with delayed
        feedback; then monitoring computes its windows and requirement statuses follow."""

        self._serve(config)

    def _serve(
        self, config: Mapping[str, Any], url: str | None = None, token: str | None = None
    ) -> None:
        assert self.plan.truth is not None
        result = simulate(
            self.ws,
            self.project.name,
            url=url,
            token=token,
            days=float(config["days"]),
            start=config.get("start") or self.replayed_until,
            feedback_rate=float(config.get("feedback_rate", 0.7)),
            feedback_delay_days=float(config.get("feedback_delay_days", 3.0)),
            truth=self.plan.truth,
            rate_per_hour=config.get("rate_per_hour"),
            seed=int(config.get("seed", 0)),
            actor=self.ci,
        )
        self.replayed_until = result.end
        # monitoring's nightly job runs on the window's last evening, after its last request
        self.calendar.advance_to(result.end - MONITORING_LAG)
        for grain in config.get("grains", ["day"]):
            compute_windows(
                self.ws,
                self.project.name,
                grain=str(grain),
                extra_rules=_requirement_rules(self.ws, self.project.name),
                actor=self.ci,
            )
        self._recompute("monitoring windows")

    def step_alert(self, config: Mapping[str, Any]) -> None:
        """Act on the open alert: send its drifted, uncertain items to labeling (the simulated
        annotators label them) and ask for a retraining build."""

        alerts = [
            a
            for a in list_alerts(self.ws, self.project.name, status="open")
            if a.grain == str(config.get("grain", a.grain))
            and str(a.metric).startswith(str(config.get("metric", "")))
        ]
        if not alerts:
            raise ValueError(
                f"{self.plan.folder.name}/demo.yaml expects an open alert"
                f" on {config.get('metric') or 'any metric'}, and monitoring raised none"
            )
        # the longest-standing problem first, then the most severe
        alert = max(alerts, key=lambda a: (a.windows, SEVERITIES.get(a.severity, 0), -a.alert_id))
        self.alert_id = alert.alert_id
        task_config = config.get("task")
        if task_config:
            task = send_to_labeling(
                self.ws,
                alert.alert_id,
                self.lead,
                limit=int(task_config.get("limit", 200)),
                name=str(task_config["name"]),
            )
            work_task(self.ws, self.project, task, task_config, self.truth)
            self.tasks[str(task_config["name"])] = task.task_id
        if config.get("retrain"):
            request_retraining(
                self.ws, alert.alert_id, self.lead, reason=str(config["retrain"].get("note", ""))
            )

    def step_suite(self, config: Mapping[str, Any]) -> None:
        """The project's behavioural suite is put in place (``gates/<project>.behave.yaml``):
        every build from now on runs it."""
        target = suite_path(self.ws.root, self.project.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.plan.folder / str(config.get("file", "behave.yaml")), target)

    def step_policy(self, config: Mapping[str, Any]) -> None:
        """The project's promotion policy is put in place (``policies/<project>.yaml``): every
        later promotion, ``build --promote`` included, is judged by it."""
        target = policy_path(self.ws, self.project.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.plan.folder / str(config.get("file", "policy.yaml")), target)

    def step_release(self, config: Mapping[str, Any]) -> None:
        """The latest build's model enters an environment (``to``) under the promotion policy:
        refused, with every unmet condition named, when the policy is not met."""
        build = max(list_builds(self.ws, self.project.name), key=lambda b: b.build_id)
        if build.model_id is None or not build.registered_model:
            raise ValueError(
                f"{self.plan.folder.name}/demo.yaml: release: build #{build.number} registered "
                f"no model ({build.status}: {build.reason})"
            )
        release(
            self.ws,
            self.project.name,
            build.model_id,
            Actor(str(config.get("by", "lead")), "app"),
            to=str(config["to"]),
            reason=str(config.get("note", "")),
        )
        self._recompute(f"released to {config['to']}")

    def step_shadow(self, config: Mapping[str, Any]) -> None:
        """Live traffic with the acceptance model in the shadow: production answers, the
        candidate scores the same requests (``loopline serve --shadow``)."""
        secret = secrets.token_urlsafe(24)

        def service_token(given: str) -> Actor:
            if not secrets.compare_digest(given, secret):
                raise Forbidden("Not the demo's token.")
            return Actor(self.ci.name, "service")

        app = create_app(
            self.ws, self.project.name, authenticate=service_token, placement=Placement("shadow")
        )
        with BackgroundServer(app) as server:
            self._serve(config, url=server.url, token=secret)

    def step_verify(self, config: Mapping[str, Any]) -> None:
        """`loopline verify-system`: the production model end to end on the large test set,
        evidence for the system-level requirements."""
        verify_system(self.ws, self.project.name, self.lead)

    def step_freeze(self, config: Mapping[str, Any]) -> None:

        extends = None
        if config.get("extends"):
            versions = {
                a.version: a.artifact_id
                for a in list_artifacts(self.ws, kind="label_set", project=self.project.name)
            }
            extends = versions[int(config["extends"])]
        freeze(
            self.ws,
            self.project.name,
            self.actor,
            [self._task_id(str(n)) for n in config["tasks"]],
            rule=str(config.get("rule", "majority")),
            extends=extends,
            note=str(config.get("note", "")),
        )


SEVERITIES = {"info": 0, "warning": 1, "critical": 2}
MONITORING_LAG = timedelta(hours=1)


def _requirement_rules(ws: Workspace, project: str) -> list[Any]:
    """Alert rules from the project's ML requirements checked against monitoring."""
    return rules_from_requirements(ws, project)
