"""`loopline build`: the CI pipeline, recorded as successful, failed or aborted.

Train on the label set, evaluate on the project's test set (overall and per slice), evaluate the
production model on the same data, run the gate, and record a build artifact. Only a successful
build registers its model (and, with ``promote``, moves ``production`` to it).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from core.actor import Actor
from core.artifacts.models import Artifact, NewArtifact
from core.artifacts.service import register
from core.builds.gate import CheckResult, load_gate, run_gate
from core.errors import CoreError, NotFound
from core.experiments.service import project_test_set, train
from core.models.evaluate import evaluate
from core.projects.service import get_project
from core.registry.service import find_alias, load_model, promote, register_run_model
from core.store import Workspace, utcnow
from core.store.audit import record

Progress = Callable[[str, float], None]
EXIT_CODES = {"successful": 0, "failed": 1, "aborted": 2}


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
    checks: tuple[CheckResult, ...] = ()
    model_text: str | None = None  # the registered model as people name it: ``ooo-replies v2``

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 2)


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
    progress: Progress | None = None,
) -> Build:
    from core.accounts.access import authorize

    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    authorize(ws, actor, "build", project)  # refused before anything is written
    log: list[str] = []
    started = utcnow()
    from core.monitoring.retrain import (
        consume_retrain_request,
        pending_retrain_request,
        retrain_inputs,
    )

    with ws.store.transaction() as tx:
        build_id = int(tx.scalar("SELECT nextval('build_ids')"))
        request = pending_retrain_request(tx, project)  # an alert asked for this build
        answers: list[tuple[str, int]] = []
        if request is not None:
            trigger = f"{request.trigger}; {trigger}" if trigger else request.trigger
            answers = retrain_inputs(tx, request.request_id)
        tx.execute(
            "INSERT INTO builds VALUES (?, ?, 'running', '', NULL, NULL, NULL, NULL, NULL, ?, '', ?, NULL, ?)",
            [build_id, project, trigger, started, actor.name],
        )
    status, reason, checks = "aborted", "", []
    run_id = label_set_id = model_id = baseline_id = None
    try:
        gate_checks, gate_source = load_gate(gate, ws.root, spec)
        log.append(f"gate: {gate_source} ({len(gate_checks)} checks)")
        result = train(
            ws,
            project,
            actor,
            label_set=label_set,
            trainer=trainer,
            params=params,
            name=f"build-{build_id}",
            tags={"build": build_id},
            progress=lambda stage, f: report(stage, 0.7 * f),
        )
        run_id, label_set_id = result.run_id, result.label_set.artifact_id
        log.append(
            f"trained run #{run_id} on {result.label_set.ref}: "
            + ", ".join(
                f"{k} {result.evaluation.overall[k]:.3f}"
                for k in ("accuracy", "f1_macro")
                if k in result.evaluation.overall
            )
        )
        baseline_model = find_alias(ws, project, "production")
        baseline = None
        if baseline_model is not None:
            report(f"evaluating production {baseline_model.ref} on the same test set", 0.75)
            test = project_test_set(ws, spec)
            baseline = evaluate(
                load_model(ws, baseline_model), test.frame, list(test.labels), test.spans, spec
            )
            baseline_id = baseline_model.artifact_id
            log.append(
                f"production {baseline_model.ref}: accuracy {baseline.overall['accuracy']:.3f}"
            )
        from core.requirements.gate import requirement_check

        gate_checks = requirement_check(
            ws,
            project,
            gate_checks,
            run_id=result.run_id,
            label_set=result.label_set,
            dataset=result.dataset,
        )
        checks = run_gate(gate_checks, result.evaluation, baseline, spec)
        failed = [c for c in checks if not c.passed]
        status = "failed" if failed else "successful"
        reason = "; ".join(c.message for c in failed) if failed else "every gate check passed"
        log.extend(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}" for c in checks)
    except CoreError as error:
        reason = error.message
        log.append(f"aborted: {error.full()}")
    except Exception as error:  # a training crash is a build outcome, recorded with its trace
        reason = f"{type(error).__name__}: {error}"
        log.append("aborted:\n" + traceback.format_exc(limit=8))
    report("recording the build", 0.9)
    artifact = register(
        ws,
        NewArtifact(
            "build",
            project,
            project=project,
            files={
                "log.txt": "\n".join(log).encode(),
                "checks.json": json.dumps([c.__dict__ for c in checks], indent=1).encode(),
            },
            inputs=[
                (r, i)
                for r, i in (("labeled_with", label_set_id), ("compared_with", baseline_id))
                if i
            ]
            + answers,
            metadata={
                "build_id": build_id,
                "status": status,
                "reason": reason,
                "run_id": run_id,
                "trigger": trigger,
                "failed_checks": [c.name for c in checks if not c.passed],
            },
        ),
        actor,
    )
    same = _same_as_production(ws, run_id, baseline_id) if status == "successful" else None
    if same is not None:
        model_id = same
        log.append(f"the model is identical to production (#{same}): nothing new to register")
    elif status == "successful" and run_id is not None:
        model_id = register_run_model(
            ws, run_id, actor, build_artifact=artifact.artifact_id
        ).artifact_id
        log.append(f"registered model #{model_id}")
        if promote_model:
            promote(
                ws,
                project,
                model_id,
                actor,
                reason=f"build #{build_id} passed the gate",
                build_id=build_id,
            )
            log.append("promoted to production")
    with ws.store.transaction() as tx:
        if request is not None and status == "successful":  # a failed build leaves it pending
            consume_retrain_request(tx, request.request_id, build_id)
            log.append(f"answered retraining request #{request.request_id}")
        tx.execute(
            "UPDATE builds SET status = ?, reason = ?, run_id = ?, label_set_id = ?, model_id = ?, "
            "baseline_model_id = ?, artifact_id = ?, log = ?, ended_at = ? WHERE build_id = ?",
            [
                status,
                reason,
                run_id,
                label_set_id,
                model_id,
                baseline_id,
                artifact.artifact_id,
                "\n".join(log),
                utcnow(),
                build_id,
            ],
        )
        for c in checks:
            tx.execute(
                "INSERT INTO build_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    build_id,
                    c.name,
                    c.kind,
                    c.metric,
                    c.slice,
                    c.value,
                    c.baseline,
                    c.threshold,
                    c.passed,
                    c.message,
                ],
            )
        record(
            tx,
            actor,
            f"build.{status}",
            project=project,
            target=f"build #{build_id}",
            details={"reason": reason, "model_id": model_id},
        )
        from core.requirements.status import recompute

        recompute(tx, project, cause=f"build #{build_id} {status}")
    report("done", 1.0)
    return get_build(ws, build_id)


def _same_as_production(ws: Workspace, run_id: int | None, baseline_id: int | None) -> int | None:
    """The production model's id when the run trained byte-identical model files (same inputs)."""
    if run_id is None or baseline_id is None:
        return None
    from core.artifacts.service import get_artifact
    from core.experiments.service import get_run

    files = {r: h for r, h in get_run(ws, run_id).files.items() if r != "evaluation.json"}
    production = {
        f.role: f.blob_hash
        for f in get_artifact(ws, baseline_id).files
        if f.role != "evaluation.json"
    }
    return baseline_id if files == production else None


_BUILD_SELECT = (
    "SELECT b.*, a.name || ' v' || a.version FROM builds b "
    "LEFT JOIN artifacts a ON a.artifact_id = b.model_id"
)


def _build(row: tuple[Any, ...], checks: list[tuple[Any, ...]]) -> Build:
    """A ``_BUILD_SELECT`` row: the build's columns, then its model as ``name vN``."""
    results = tuple(
        CheckResult(
            name, kind, metric or "", slice_name or "", value, baseline, threshold, passed, message
        )
        for _, name, kind, metric, slice_name, value, baseline, threshold, passed, message in checks
    )
    fields: list[Any] = [*row[:-1], results, row[-1]]
    return Build(*fields)


def get_build(ws: Workspace, build_id: int) -> Build:
    with ws.store.read() as tx:
        row = tx.one(f"{_BUILD_SELECT} WHERE b.build_id = ?", [int(build_id)])
        if row is None:
            raise NotFound(
                f"No build #{build_id}.", hint="list builds with `loopline builds PROJECT`"
            )
        checks = tx.rows("SELECT * FROM build_checks WHERE build_id = ? ORDER BY rowid", [build_id])
    return _build(row, checks)


def list_builds(ws: Workspace, project: str) -> list[Build]:
    with ws.store.read() as tx:
        rows = tx.rows(f"{_BUILD_SELECT} WHERE b.project = ? ORDER BY b.build_id DESC", [project])
        checks = tx.rows(
            "SELECT c.* FROM build_checks c JOIN builds b USING (build_id) WHERE b.project = ? "
            "ORDER BY c.rowid",
            [project],
        )
    return [_build(row, [c for c in checks if c[0] == row[0]]) for row in rows]


def junit_xml(build: Build) -> str:
    """One test case per gate check (and one error case for an aborted build), for any CI server."""
    cases = []
    for check in build.checks:
        body = (
            ""
            if check.passed
            else f"<failure message={quoteattr(check.message)}>{escape(check.message)}</failure>"
        )
        group = "requirements" if check.kind == "requirement" else "gate"
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
        f"<testsuites><testsuite name={quoteattr(f'loopline build #{build.build_id} {build.project}')} "
        f'tests="{len(cases)}" failures="{failures}" errors="{errors}">\n'
        + "\n".join(cases)
        + "\n  </testsuite></testsuites>\n"
    )


def model_of(ws: Workspace, build: Build) -> Artifact | None:
    from core.artifacts.service import get_artifact

    return get_artifact(ws, build.model_id) if build.model_id else None
