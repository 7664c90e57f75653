"""`loopline build`: the CI pipeline, recorded as successful, failed or aborted.

``run_build`` is a sequence of named steps:

1. **authorize**: the actor may build (and promote, with ``promote_model``); a refusal comes
   before anything is written;
2. **start**: the build's row says ``running`` (audited ``build.running``), and this process
   holds the build's lock (core/builds/owner.py) until the row is closed;
3. **train** on the label set, evaluated on the project's test set (overall and per slice);
4. **evaluate the baseline**: the production model on the same test set (the very rows the new
   model was evaluated on, read once);
5. **behave**: the project's behavioural suite (``gates/<project>.behave.yaml``, if any) on the
   new model, its results kept per test with failing examples (core/behave);
6. **check the gate** (the suite's ``min_pass_rate`` check among the others);
7. **record**, in one transaction: the build artifact, the model (a successful build whose model
   differs from production's), the closed row with its checks, the audit row;
8. **release** (``promote_model``): the new model enters production only if it meets the
   project's promotion policy (core/releases/pipeline.py), as ``loopline promote`` does; else the
   build's log says what it lacks.

Every way out closes the row: an error in steps 3–6 is the build's outcome (``aborted``, with the
trace for a crash); an error in step 7 rolls it back and the ``finally`` closes the row as
``aborted``. A process that dies (SIGKILL) cannot close it: the next reader does
(``reap_dead_builds`` in core/builds/reaper.py).

A build trained on a CI runner (core/builds/remote.py) shares steps 1, 2 (``open_build``, under a
lease instead of a lock), 5, 6 and 7 (``_record``); steps 3 and 4 run on the runner.

Each build has a number within its project (``number``: #1, #2 … of that project), the one
people see everywhere; ``build_id`` is the workspace-wide key the tables and the API use.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from core.accounts.access import authorize
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import get_artifact, register
from core.behave.models import BehaveResult, Failure, SuiteResult
from core.behave.service import judge
from core.behave.suite import find_suite
from core.builds.gate import (
    Check,
    CheckResult,
    MeetsRequirements,
    MinPassRate,
    load_gate,
    run_gate,
)
from core.builds.owner import BuildOwner, owner_is_alive
from core.builds.reaper import reap_quietly
from core.builds.requirement_check import requirement_check
from core.errors import CoreError, InvalidInput, NotFound
from core.experiments.service import TrainResult, get_run, train
from core.ml.data import TrainingData
from core.ml.evaluate import Evaluation, evaluate
from core.ml.model import Model
from core.monitoring.retrain import (
    consume_retrain_request,
    pending_retrain_request,
    retrain_inputs,
)
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias, load_model, register_run_model
from core.releases.pipeline import readiness
from core.releases.service import promote
from core.requirements.status import recompute
from core.store import Tx, Workspace, utcnow

Progress = Callable[[str, float], None]
EXIT_CODES = {"successful": 0, "failed": 1, "aborted": 2}
ENDED = {  # the audit action of each way a build ends (literal, for the role matrix's test)
    "successful": "build.successful",
    "failed": "build.failed",
    "aborted": "build.aborted",
}
_BUILD_FIELDS = (  # Build's fields stored in builds b
    "build_id",
    "project",
    "status",
    "reason",
    "run_id",
    "label_set_id",
    "model_id",
    "baseline_model_id",
    "artifact_id",
    "trigger",
    "log",
    "started_at",
    "ended_at",
    "created_by",
    "number",
)
BUILD_COLUMNS = ", ".join(f"b.{name}" for name in _BUILD_FIELDS)
_CHECK_SELECT = {  # build id, then CheckResult field -> column of build_checks c
    "build_id": "c.build_id",
    "name": "c.check_name",
    "kind": "c.kind",
    "metric": "c.metric",
    "slice": "c.slice",
    "value": "c.value",
    "baseline": "c.baseline",
    "threshold": "c.threshold",
    "passed": "c.passed",
    "message": "c.message",
}
CHECK_COLUMNS = ", ".join(_CHECK_SELECT.values())


@dataclass(frozen=True)
class Build:
    build_id: int
    project: str
    status: str
    reason: str
    run_id: int | None
    label_set_id: int | None
    model_id: int | None
    baseline_model_id: int | None
    artifact_id: int | None
    trigger: str | None
    log: str
    started_at: datetime
    ended_at: datetime | None
    created_by: str
    number: int  # the build's number within its project: what people see (``#3``)
    checks: tuple[CheckResult, ...] = ()
    model_text: str | None = None  # the registered model as people name it: ``ooo-replies v2``
    behave: tuple[BehaveResult, ...] = ()  # the behavioural tests run on its model

    @property
    def label(self) -> str:
        """The build as people name it: ``#3`` (of its project)."""
        return f"#{self.number}"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 2)

    @property
    def registered_model(self) -> bool:
        """The build registered its model as a new version (not one identical to production)."""
        return self.model_id is not None and self.model_id != self.baseline_model_id

    @property
    def hint(self) -> str | None:
        """For an aborted build: how to fix what stopped it, when the error said."""
        hints = [line[len(HINT) :] for line in self.log.splitlines() if line.startswith(HINT)]
        return hints[-1] if hints else None


HINT = "hint: "


@dataclass
class _Attempt:
    """A build under way: what the steps found so far. Until the gate has spoken it is aborted."""

    build_id: int
    project: str
    trigger: str | None
    request_id: int | None  # the retraining request this build answers
    answers: list[tuple[str, int]]
    number: int = 0  # within the project
    log: list[str] = field(default_factory=list)
    status: str = "aborted"
    reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    run_id: int | None = None
    label_set_id: int | None = None
    baseline_id: int | None = None
    model_id: int | None = None
    behave: SuiteResult | None = None

    def abort(self, error: BaseException) -> None:
        """The build ends aborted by ``error``: its message (and hint) or, for a bug, its trace."""
        self.status = "aborted"
        if isinstance(error, CoreError):
            self.reason = error.message
            self.log.append(f"aborted: {error.message}")
            if error.hint:
                self.log.append(HINT + error.hint)
        elif isinstance(error, Exception):  # a crash is a build outcome, recorded with its trace
            self.reason = f"{type(error).__name__}: {error}"
            self.log.append("aborted:\n" + traceback.format_exc(limit=8))
        else:  # KeyboardInterrupt, SystemExit
            self.reason = f"interrupted ({type(error).__name__})"
            self.log.append(f"aborted: {self.reason}")


def run_build(
    ws: Workspace,
    project: str,
    actor: Actor,
    *,
    label_set: int | str | None = None,
    trainer: str | None = None,
    params: dict[str, Any] | None = None,
    gate: Path | None = None,
    promote_model: bool = False,
    trigger: str | None = None,
    dask_address: str | None = None,
    behave: Path | None = None,
    progress: Progress | None = None,
) -> Build:
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    _authorize(ws, actor, project, promote_model)
    attempt, owner = _start(ws, project, actor, trigger)
    try:
        try:
            gate_checks = _load_gate(ws, spec, gate, attempt)
            result = _train(ws, actor, attempt, label_set, trainer, params, dask_address, report)
            baseline = _evaluate_baseline(ws, spec, attempt, result.test_set, report)
            behave_step(ws, spec, attempt, result.model, behave, report)
            _check_gate(ws, spec, attempt, gate_checks, result, baseline)
        except Exception as error:  # the build's outcome: recorded below
            attempt.abort(error)
        report("recording the build", 0.9)
        _record(ws, actor, replace(attempt, log=[*attempt.log]))  # a failure rolls back all
        # of it and leaves `attempt` as it was
    except BaseException as error:  # recording failed, or an interrupt: nothing of it was kept
        attempt.abort(error)
        _close_aborted(ws, actor, attempt, error)
        if not isinstance(error, Exception):
            raise
    finally:
        owner.release()
    release_step(ws, actor, attempt.build_id, promote_model)
    report("done", 1.0)
    return get_build(ws, attempt.build_id)


def _authorize(ws: Workspace, actor: Actor, project: str, promote_model: bool) -> None:
    """Refused before anything is written: building, and promoting when the build is to."""
    authorize(ws, actor, "build", project)
    if promote_model:
        authorize(ws, actor, "promote", project)


def _start(
    ws: Workspace, project: str, actor: Actor, trigger: str | None
) -> tuple[_Attempt, BuildOwner]:
    """The build's row, ``running`` from the moment this process holds its lock."""
    owners: list[BuildOwner] = []

    def hold(build_id: int) -> str:
        owners.append(BuildOwner.take(ws.root, build_id))
        return owners[0].path.name

    attempt = open_build(ws, project, actor, trigger, hold, lambda build_id: owners[0].release())
    return attempt, owners[0]


def open_build(
    ws: Workspace,
    project: str,
    actor: Actor,
    trigger: str | None,
    hold: Callable[[int], str],
    let_go: Callable[[int], None],
) -> _Attempt:
    """Insert the build's row as ``running`` (audited ``build.running``), once ``hold(build_id)``
    holds what says the build is alive (a lock, or a runner's lease; its name for the audit row);
    ``let_go`` gives it up when the row cannot be written. Refused while another build of the
    project is running with a live owner (one build of a project at a time)."""
    with ws.store.transaction() as tx:
        _refuse_second_build(tx, ws.root, project)
        build_id = int(tx.scalar("SELECT nextval('build_ids')"))
        number = int(
            tx.scalar(
                "SELECT coalesce(max(number), 0) + 1 FROM builds WHERE project = ?", [project]
            )
        )
        request = pending_retrain_request(tx, project)  # an alert asked for this build
        answers: list[tuple[str, int]] = []
        if request is not None:
            trigger = f"{request.trigger}; {trigger}" if trigger else request.trigger
            answers = retrain_inputs(tx, request.request_id)
        owner = hold(build_id)
        try:
            tx.execute(
                "INSERT INTO builds (build_id, number, project, status, reason, trigger, log, "
                "started_at, created_by) VALUES (?, ?, ?, 'running', '', ?, '', ?, ?)",
                [build_id, number, project, trigger, utcnow(), actor.name],
            )
            record(
                tx,
                actor,
                "build.running",
                project=project,
                target=f"build {number}",  # as people know it; its id in the details
                details={
                    "trigger": trigger,
                    "owner": owner,
                    "number": number,
                    "build_id": build_id,
                },
            )
        except BaseException:
            let_go(build_id)
            raise
    request_id = request.request_id if request is not None else None
    return _Attempt(build_id, project, trigger, request_id, answers, number)


def _refuse_second_build(tx: Tx, root: Path, project: str) -> None:
    """A running build whose process (or runner's lease) is alive holds the project; one whose
    owner is gone does not (the reaper closes it)."""
    rows = tx.rows(
        "SELECT build_id, number, created_by, started_at FROM builds "
        "WHERE project = ? AND status = 'running' ORDER BY build_id",
        [project],
    )
    for build_id, number, created_by, started_at in rows:
        if owner_is_alive(root, int(build_id)):
            raise InvalidInput(
                f"Build #{number} of {project!r} is still running (started by {created_by} at "
                f"{started_at:%Y-%m-%d %H:%M} UTC): one build of a project runs at a time.",
                hint=f"wait for it to end (`loopline builds {project}` shows it), then build again",
            )


def _load_gate(
    ws: Workspace, spec: ProjectSpec, gate: Path | None, attempt: _Attempt
) -> list[Check]:
    checks, source = load_gate(gate, ws.root, spec)
    attempt.log.append(f"gate: {source} ({len(checks)} checks)")
    return checks


def _train(
    ws: Workspace,
    actor: Actor,
    attempt: _Attempt,
    label_set: int | str | None,
    trainer: str | None,
    params: dict[str, Any] | None,
    dask_address: str | None,
    report: Progress,
) -> TrainResult:
    result = train(
        ws,
        attempt.project,
        actor,
        label_set=label_set,
        trainer=trainer,
        params=params,
        name=f"build-{attempt.number}",  # named as people number builds (per project)
        tags={"build": attempt.build_id},
        dask_address=dask_address,
        progress=lambda stage, f: report(stage, 0.7 * f),
    )
    attempt.run_id, attempt.label_set_id = result.run_id, result.label_set.artifact_id
    overall = result.evaluation.overall
    attempt.log.append(
        f"trained run #{result.run_id} on {result.label_set.ref}: "
        + ", ".join(f"{k} {overall[k]:.3f}" for k in ("accuracy", "f1_macro") if k in overall)
    )
    return result


def _evaluate_baseline(
    ws: Workspace, spec: ProjectSpec, attempt: _Attempt, test: TrainingData, report: Progress
) -> Evaluation | None:
    """The production model on the test set the new model was evaluated on (``test``, read once
    per build; None: nothing is in production yet)."""
    production = find_alias(ws, attempt.project, "production")
    if production is None:
        return None
    report(f"evaluating production {production.ref} on the same test set", 0.75)
    baseline = evaluate(load_model(ws, production), test.frame, list(test.labels), test.spans, spec)
    attempt.baseline_id = production.artifact_id
    attempt.log.append(f"production {production.ref}: accuracy {baseline.overall['accuracy']:.3f}")
    return baseline


def behave_step(
    ws: Workspace,
    spec: ProjectSpec,
    attempt: _Attempt,
    model: Model,
    suite_file: Path | None,
    report: Progress,
) -> None:
    """The project's behavioural suite on the new model (nothing when the project has none)."""
    suite = find_suite(suite_file, ws.root, spec)
    if suite is None:
        attempt.log.append(f"behavioural suite: none (gates/{spec.name}.behave.yaml)")
        return
    report(f"running the behavioural suite {suite.source}", 0.8)
    attempt.behave = judge(ws, spec, suite, model, f"build #{attempt.number}")
    failed = len(attempt.behave.failed)
    attempt.log.append(
        f"behavioural suite {suite.source}: {len(suite.tests) - failed} of {len(suite.tests)} "
        "tests passed"
    )


def with_behave(checks: list[Check], behave: SuiteResult | None) -> list[Check]:
    """The gate's ``min_pass_rate`` checks given the suite's results (one is added when the
    project has a suite and the gate lists none); the requirements check may read them too
    (metric ``behave_pass_rate``, slice ``test = NAME``)."""
    if behave is None and not any(isinstance(c, MinPassRate) for c in checks):
        return checks
    listed = checks if any(isinstance(c, MinPassRate) for c in checks) else [*checks, MinPassRate()]
    if behave is None:
        return listed
    return [
        replace(c, results=behave.tests, suite=behave.source)
        if isinstance(c, MinPassRate)
        else replace(c, behave=behave.tests)
        if isinstance(c, MeetsRequirements)
        else c
        for c in listed
    ]


def _check_gate(
    ws: Workspace,
    spec: ProjectSpec,
    attempt: _Attempt,
    gate_checks: list[Check],
    result: TrainResult,
    baseline: Evaluation | None,
) -> None:
    gate_checks = requirement_check(
        ws,
        attempt.project,
        gate_checks,
        run_id=result.run_id,
        label_set=result.label_set,
        dataset=result.dataset,
    )
    gate_checks = with_behave(gate_checks, attempt.behave)
    attempt.checks = run_gate(gate_checks, result.evaluation, baseline, spec)
    failed = [c for c in attempt.checks if not c.passed]
    attempt.status = "failed" if failed else "successful"
    attempt.reason = "; ".join(c.message for c in failed) if failed else "every gate check passed"
    attempt.log.extend(
        f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}" for c in attempt.checks
    )


def _record(ws: Workspace, actor: Actor, attempt: _Attempt) -> None:
    """One transaction: no reader ever sees a registered model of a build still ``running``."""
    with ws.store.transaction() as tx:
        artifact = _register_build_artifact(ws, actor, attempt)
        if attempt.status == "successful":
            _register_model(ws, actor, attempt, artifact.artifact_id)
            if attempt.request_id is not None:  # a failed build leaves the request pending
                consume_retrain_request(tx, attempt.request_id, attempt.build_id)
                attempt.log.append(f"answered retraining request #{attempt.request_id}")
        _close(tx, actor, attempt, artifact.artifact_id)


def _register_build_artifact(ws: Workspace, actor: Actor, attempt: _Attempt) -> Artifact:
    inputs = [
        (relation, artifact_id)
        for relation, artifact_id in (
            ("labeled_with", attempt.label_set_id),
            ("compared_with", attempt.baseline_id),
        )
        if artifact_id
    ]
    return register(
        ws,
        NewArtifact(
            "build",
            attempt.project,
            project=attempt.project,
            files={
                "log.txt": "\n".join(attempt.log).encode(),
                "checks.json": json.dumps([c.__dict__ for c in attempt.checks], indent=1).encode(),
                **(
                    {"behave.json": _behave_json(attempt.behave)}
                    if attempt.behave is not None
                    else {}
                ),
            },
            inputs=inputs + attempt.answers,
            metadata={
                "build_id": attempt.build_id,
                "number": attempt.number,
                "status": attempt.status,
                "reason": attempt.reason,
                "run_id": attempt.run_id,
                "trigger": attempt.trigger,
                "failed_checks": [c.name for c in attempt.checks if not c.passed],
            },
        ),
        actor,
    )


def _behave_json(behave: SuiteResult) -> bytes:
    return json.dumps(
        {
            "suite": behave.source,
            "model": behave.model,
            "tests": [dataclasses.asdict(t) for t in behave.tests],
        },
        indent=1,
        ensure_ascii=False,
    ).encode()


def _register_model(ws: Workspace, actor: Actor, attempt: _Attempt, build_artifact: int) -> None:
    """A new model version; nothing new when production's is identical."""
    same = _same_as_production(ws, attempt.run_id, attempt.baseline_id)
    if same is not None:
        attempt.model_id = same
        attempt.log.append(
            f"the model is identical to production (#{same}): nothing new to register"
        )
        return
    if attempt.run_id is None:
        return
    model = register_run_model(ws, attempt.run_id, actor, build_artifact=build_artifact)
    attempt.model_id = model.artifact_id
    attempt.log.append(f"registered {model.ref} (#{model.artifact_id})")


def release_step(ws: Workspace, actor: Actor, build_id: int, promote_model: bool) -> None:
    """``--promote``: a successful build's new model enters production only if it meets the
    project's promotion policy (core/releases), as ``loopline promote`` does; otherwise the build
    stays successful, its model registered, and its log says what the model still lacks."""
    build = get_build(ws, build_id)
    if not promote_model or build.status != "successful" or not build.registered_model:
        return
    assert build.model_id is not None
    try:
        line = _release(ws, actor, build)
    except CoreError as error:  # the build stands; its model was not promoted
        line = f"not promoted: {error.message}"
    with ws.store.transaction() as tx:
        tx.execute(
            "UPDATE builds SET log = log || chr(10) || ? WHERE build_id = ?", [line, build_id]
        )


def _release(ws: Workspace, actor: Actor, build: Build) -> str:
    assert build.model_id is not None
    ready = readiness(ws, build.project, build.model_id, "production")
    if ready.unmet:
        return f"not promoted: {ready.summary()}"
    promote(
        ws,
        build.project,
        build.model_id,
        actor,
        reason=f"build {build.label} passed the gate and the promotion policy",
        build_id=build.build_id,
    )
    return "promoted to production (the promotion policy is met)"


def _close(tx: Tx, actor: Actor, attempt: _Attempt, artifact_id: int | None) -> None:
    """The row gets its outcome, checks and audit row; requirement statuses follow."""
    tx.execute(
        "UPDATE builds SET status = ?, reason = ?, run_id = ?, label_set_id = ?, model_id = ?, "
        "baseline_model_id = ?, artifact_id = ?, log = ?, ended_at = ? "
        "WHERE build_id = ? AND status = 'running'",
        [
            attempt.status,
            attempt.reason,
            attempt.run_id,
            attempt.label_set_id,
            attempt.model_id,
            attempt.baseline_id,
            artifact_id,
            "\n".join(attempt.log),
            utcnow(),
            attempt.build_id,
        ],
    )
    tx.executemany(
        "INSERT INTO build_checks (build_id, check_name, kind, metric, slice, value, baseline, "
        "threshold, passed, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(attempt.build_id, *_check_row(c)) for c in attempt.checks],
    )
    _store_behave(tx, attempt)
    record(
        tx,
        actor,
        ENDED[attempt.status],
        project=attempt.project,
        target=f"build {attempt.number}",  # as people know it; its id in the details
        details={
            "reason": attempt.reason,
            "model_id": attempt.model_id,
            "build_id": attempt.build_id,
            "number": attempt.number,
        },
    )
    recompute(tx, attempt.project, cause=f"build #{attempt.number} {attempt.status}")


def _store_behave(tx: Tx, attempt: _Attempt) -> None:
    """Each behavioural test's figure (pass rate, n, Wilson interval) and failing examples, tied
    to the build's run so a requirement with evidence 'build' can read it."""
    if attempt.behave is None:
        return
    now = utcnow()
    tx.executemany(
        "INSERT INTO behave_results (build_id, project, run_id, model_id, suite, test_name, "
        "test_kind, capability, n, passed_n, pass_rate, lower, upper, threshold, passed, "
        "failures, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                attempt.build_id,
                attempt.project,
                attempt.run_id,
                attempt.model_id,
                attempt.behave.source,
                t.name,
                t.kind,
                t.capability,
                t.n,
                t.passed_n,
                t.pass_rate,
                t.interval.lower,
                t.interval.upper,
                t.threshold,
                t.passed,
                json.dumps(
                    {
                        "expectation": t.expectation,
                        "examples": [dataclasses.asdict(f) for f in t.failures],
                    },
                    ensure_ascii=False,
                ),
                now,
            )
            for t in attempt.behave.tests
        ],
    )


def _check_row(c: CheckResult) -> tuple[Any, ...]:
    return (
        c.name,
        c.kind,
        c.metric,
        c.slice,
        c.value,
        c.baseline,
        c.threshold,
        c.passed,
        c.message,
    )


def _close_aborted(ws: Workspace, actor: Actor, attempt: _Attempt, error: BaseException) -> None:
    """Recording failed (rolled back): close the row as aborted if the store still takes that
    write; else the error stands and the next reader reaps the row once our lock is gone."""
    try:
        with ws.store.transaction() as tx:
            _close(tx, actor, attempt, None)
    except CoreError:
        raise error from None


def _same_as_production(ws: Workspace, run_id: int | None, baseline_id: int | None) -> int | None:
    """The production model's id when the run trained byte-identical model files (same inputs)."""
    if run_id is None or baseline_id is None:
        return None
    files = {r: h for r, h in get_run(ws, run_id).files.items() if r != "evaluation.json"}
    production = {
        f.role: f.blob_hash
        for f in get_artifact(ws, baseline_id).files
        if f.role != "evaluation.json"
    }
    return baseline_id if files == production else None


_BUILD_SELECT = (
    f"SELECT {BUILD_COLUMNS}, a.name || ' v' || a.version FROM builds b "
    "LEFT JOIN artifacts a ON a.artifact_id = b.model_id"
)


def _build(
    row: tuple[Any, ...],
    checks: list[tuple[Any, ...]],
    behave: Sequence[tuple[Any, ...]] = (),
) -> Build:
    """A ``_BUILD_SELECT`` row (``BUILD_COLUMNS``, then its model as ``name vN``), its
    ``CHECK_COLUMNS`` rows and its ``BEHAVE_COLUMNS`` rows."""
    values = dict(zip((*_BUILD_FIELDS, "model_text"), row, strict=True))
    return Build(
        **values,
        checks=tuple(_check_result(check) for check in checks),
        behave=tuple(_behave_result(b) for b in behave),
    )


BEHAVE_COLUMNS = (
    "r.build_id, r.test_name, r.test_kind, r.capability, r.n, r.passed_n, r.threshold, r.failures"
)


def _behave_result(row: tuple[Any, ...]) -> BehaveResult:
    """A row of ``BEHAVE_COLUMNS``."""
    _, name, kind, capability, n, passed_n, threshold, failures = row
    detail = json.loads(failures)
    return BehaveResult(
        name,
        kind,
        capability,
        detail["expectation"],
        int(n),
        int(passed_n),
        float(threshold),
        tuple(Failure(**f) for f in detail["examples"]),
    )


def _check_result(row: tuple[Any, ...]) -> CheckResult:
    """A row of ``CHECK_COLUMNS``."""
    values = dict(zip(_CHECK_SELECT, row, strict=True))
    del values["build_id"]
    values["metric"], values["slice"] = values["metric"] or "", values["slice"] or ""
    return CheckResult(**values)


def get_build(ws: Workspace, build_id: int) -> Build:
    reap_quietly(ws)  # a build whose process died shows as aborted, not running
    with ws.store.read() as tx:
        row = tx.one(f"{_BUILD_SELECT} WHERE b.build_id = ?", [int(build_id)])
        if row is None:
            raise NotFound(
                f"No build with id {build_id} in this workspace (a build's #number counts "
                "within its project).",
                hint="list builds with `loopline builds PROJECT`",
            )
        checks = tx.rows(
            f"SELECT {CHECK_COLUMNS} FROM build_checks c WHERE c.build_id = ? ORDER BY c.rowid",
            [build_id],
        )
        behave = tx.rows(
            f"SELECT {BEHAVE_COLUMNS} FROM behave_results r WHERE r.build_id = ? ORDER BY r.rowid",
            [build_id],
        )
    return _build(row, checks, behave)


def get_build_number(ws: Workspace, project: str, number: int) -> Build:
    """The project's build ``#number``."""
    with ws.store.read() as tx:
        found = tx.scalar(
            "SELECT build_id FROM builds WHERE project = ? AND number = ?", [project, int(number)]
        )
    if found is None:
        raise NotFound(
            f"Project {project!r} has no build #{number}.",
            hint=f"list its builds with `loopline builds {project}`",
        )
    return get_build(ws, int(found))


def list_builds(ws: Workspace, project: str, actor: Actor | None = None) -> list[Build]:
    """The project's builds, newest first; one whose process died shows as aborted (``actor``:
    who is looking, named in the audit row of that)."""
    reap_quietly(ws, actor)
    with ws.store.read() as tx:
        rows = tx.rows(f"{_BUILD_SELECT} WHERE b.project = ? ORDER BY b.build_id DESC", [project])
        checks = tx.rows(
            f"SELECT {CHECK_COLUMNS} FROM build_checks c JOIN builds b USING (build_id) "
            "WHERE b.project = ? ORDER BY c.rowid",
            [project],
        )
        behave = tx.rows(
            f"SELECT {BEHAVE_COLUMNS} FROM behave_results r WHERE r.project = ? ORDER BY r.rowid",
            [project],
        )
    return [
        _build(row, [c for c in checks if c[0] == row[0]], [b for b in behave if b[0] == row[0]])
        for row in rows
    ]


def junit_xml(build: Build) -> str:
    """One test case per gate check (a behavioural test's with its failing examples, and one
    error case for an aborted build), for any CI server."""
    examples = {f"behave: {t.name}": t.failures for t in build.behave}
    cases = []
    for check in build.checks:
        body = (
            ""
            if check.passed
            else f"<failure message={quoteattr(check.message)}>"
            f"{escape(_failure_text(check, examples.get(check.name, ())))}</failure>"
        )
        group = {"requirement": "requirements", "behave": "behave"}.get(check.kind, "gate")
        cases.append(
            f'    <testcase classname="loopline.{group}.{build.project}" name={quoteattr(check.name)}>{body}</testcase>'
        )
    if build.status == "aborted":
        cases.append(
            f'    <testcase classname="loopline.build.{build.project}" name="build">'
            f"<error message={quoteattr(build.reason)}>{escape(build.log)}</error></testcase>"
        )
    failures = sum(not c.passed for c in build.checks)
    errors = int(build.status == "aborted")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<testsuites><testsuite name={quoteattr(f'loopline build {build.label} {build.project}')} "
        f'tests="{len(cases)}" failures="{failures}" errors="{errors}">\n'
        + "\n".join(cases)
        + "\n  </testsuite></testsuites>\n"
    )


def _failure_text(check: CheckResult, failures: Sequence[Failure]) -> str:
    lines = [check.message]
    for failure in failures:
        lines.append(f"- {failure.example}\n  expected: {failure.expected}\n  got: {failure.got}")
    return "\n".join(lines)


def model_of(ws: Workspace, build: Build) -> Artifact | None:
    return get_artifact(ws, build.model_id) if build.model_id else None
