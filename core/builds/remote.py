"""A build trained on a CI runner: the server plans it, keeps its lease, gates and records it.

A runner (core/remote/build.py) that cannot reach the workspace builds in four calls:

1. ``start_remote``: authorized like ``loopline build``; the build's row says ``running`` under a
   **lease** (core/builds/owner.py) instead of a process lock; the gate is loaded now (a bad gate
   file aborts the build at once, as it does locally); the plan names the files to download by
   SHA-256 (training dataset and label set, the test set's dataset and label sets, the production
   model's files) and the project file;
2. ``renew_remote`` while training: a runner that stops renewing lets the lease lapse, and the
   reaper (core/builds/reaper.py) closes the build as aborted;
3. ``finish_remote``: the model's files (one upload, a zip), the evaluation and the production
   model's evaluation on the same test set. The files are checked against the hashes the runner
   computed and must load as a model; nothing is written when they do not. Then the server checks
   **the same gate** (core/builds/gate.py with the requirements check) and records, in one
   transaction, the run, the build artifact, the model, its promotion, the closed row and the
   audit row, exactly as ``run_build``'s ``_record`` does, then the promotion it asked for,
   through the promotion policy (``release_step``);
4. ``abort_remote`` when the runner fails: the build is closed as aborted with the reason.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.accounts.access import authorize
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, read_file
from core.builds.gate import Check, default_gate, load_gate, parse_gate, run_gate
from core.builds.owner import forget, lease_path, read_lease, write_lease
from core.builds.requirement_check import requirement_check
from core.builds.service import (
    Build,
    _Attempt,
    _close,
    _close_aborted,
    _record,
    behave_step,
    get_build,
    open_build,
    release_step,
    with_behave,
)
from core.data.service import latest_dataset
from core.errors import CoreError, InvalidInput, NotFound
from core.experiments.service import TrainedRun, label_set_to_train, record_run, test_set_inputs
from core.ml.evaluate import Evaluation
from core.ml.fit import EVALUATION, run_metrics
from core.ml.model import DEFAULT_TRAINER, Model
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import find_alias
from core.store import Workspace

LEASE_S = 120.0  # a runner renews about every third of it
MAX_LEASE_S = 3600.0
MAX_MODEL_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class RemoteBuildPlan:
    """What a runner needs to train a build: files by SHA-256 (``GET /api/v1/objects/<sha>``)."""

    build_id: int
    project: str
    status: str  # "running": train and finish; "aborted": it ended already (``reason``)
    reason: str
    lease_s: float
    spec: str = ""  # the project file's text (YAML), the version the project has now
    trainer: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    label_set_id: int | None = None
    label_set_ref: str = ""
    label_set_sha: str = ""  # labels.parquet of the label set to train on
    dataset_id: int | None = None
    dataset_ref: str = ""
    dataset_sha: str = ""  # the rows of its dataset version
    test_dataset_sha: str = ""  # the rows of the latest dataset version
    test_label_set_shas: list[str] = field(default_factory=list)  # every label set, oldest first
    production_id: int | None = None
    production_ref: str = ""
    production_files: dict[str, str] = field(default_factory=dict)  # role -> sha256
    run_name: str = ""


def start_remote(
    ws: Workspace,
    project: str,
    actor: Actor,
    *,
    label_set: int | str | None = None,
    trainer: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    gate: str | None = None,
    gate_name: str = "gate file",
    promote_model: bool = False,
    trigger: str | None = None,
    lease_s: float = LEASE_S,
) -> RemoteBuildPlan:
    """Open a build for a runner (``gate``: the text of the runner's gate file, else the
    workspace's ``gates/PROJECT.yaml`` or the built-in gate)."""
    spec = get_project(ws, project).spec
    authorize(ws, actor, "build", project)
    if promote_model:
        authorize(ws, actor, "promote", project)
    lease_s = _lease_seconds(lease_s)
    base = {"actor": actor.name, "project": project}
    attempt = open_build(
        ws,
        project,
        actor,
        trigger,
        lambda build_id: _hold(ws, build_id, lease_s, base),
        lambda build_id: forget(ws.root, build_id),
    )
    try:
        plan, state = _plan(ws, spec, actor, attempt, label_set, trainer, params, seed, lease_s)
        gate_text, source, checks = _gate(ws, spec, gate, gate_name)
        attempt.log.append(f"gate: {source} ({len(checks)} checks)")
        attempt.log.append(f"training on a runner: {plan.trainer} on {plan.label_set_ref}")
    except Exception as error:  # the build's outcome, as for a local build
        attempt.abort(error)
        _close_aborted(ws, actor, attempt, error)
        forget(ws.root, attempt.build_id)
        return RemoteBuildPlan(attempt.build_id, project, "aborted", attempt.reason, lease_s)
    state.update(
        base,
        gate=gate_text,
        gate_source=source,
        promote=promote_model,
        trigger=attempt.trigger,
        request_id=attempt.request_id,
        answers=attempt.answers,
        number=attempt.number,
        log=attempt.log,
    )
    write_lease(ws.root, attempt.build_id, lease_s, state)
    return plan


def renew_remote(ws: Workspace, build_id: int, actor: Actor) -> float:
    """Renew a remote build's lease by its length; the seconds until it lapses."""
    state = _held(ws, build_id, actor)
    seconds = float(state["lease_s"])
    write_lease(ws.root, build_id, seconds, _kept(state))
    return seconds


def finish_remote(
    ws: Workspace,
    build_id: int,
    actor: Actor,
    *,
    model: Path,
    files: Mapping[str, str],
    evaluation: str,
    baseline: str | None,
    params: Mapping[str, Any],
    training_time_s: float,
    started_at: datetime,
    duration_s: float,
    environment: Mapping[str, Any],
    code_commit: str | None = None,
    code_dirty: bool | None = None,
    log: Sequence[str] = (),
) -> Build:
    """Check what the runner sent, gate it as a local build is gated, record it all at once."""
    state = _held(ws, build_id, actor)
    contents = _model_files(model, files)
    candidate = _evaluation(evaluation, "evaluation")
    before = None if baseline is None else _evaluation(baseline, "baseline")
    if state.get("production_id") is None:
        before = None  # nothing was in production to compare with when the build started
    elif before is None:
        raise InvalidInput(
            f"Build #{state['number']} of {state['project']!r}: production was "
            f"{state['production_ref']} when the build started, but no baseline evaluation "
            "was sent.",
            hint="evaluate the production model on the same test set and send it as baseline",
        )
    spec = get_project(ws, state["project"]).spec
    attempt = _attempt(state, build_id, log)
    metrics = run_metrics(candidate, training_time_s, sum(len(c) for c in contents.values()))
    _gate_outcome(ws, spec, state, attempt, candidate, before, metrics, Model.from_files(contents))
    contents[EVALUATION] = evaluation.encode()
    stored = {role: (ws.blobs.put_bytes(c), len(c)) for role, c in contents.items()}
    trained = TrainedRun(
        project=spec.name,
        name=state["run_name"],
        params=params,
        metrics=metrics,
        slice_metrics=candidate.slices,
        tags={"trainer": state["trainer"], "build": build_id, "runner": "remote"},
        inputs={"label_set": state["label_set_id"], "dataset": state["dataset_id"]},
        files=stored,
        started_at=started_at,
        duration_s=duration_s,
        environment=dict(environment),
        code_commit=code_commit,
        code_dirty=code_dirty,
    )
    _record_remote(ws, actor, attempt, trained)
    forget(ws.root, build_id)
    release_step(ws, actor, build_id, bool(state.get("promote")))
    return get_build(ws, build_id)


def abort_remote(
    ws: Workspace, build_id: int, actor: Actor, reason: str, hint: str | None = None
) -> Build:
    """Close a remote build as aborted: the runner failed (``reason``, and ``hint`` to fix it)."""
    state = _held(ws, build_id, actor)
    attempt = _attempt(state, build_id, ())
    attempt.abort(CoreError(reason.strip() or "the runner gave up", hint=hint))
    with ws.store.transaction() as tx:
        _running(tx, build_id)
        _close(tx, actor, attempt, None)
    forget(ws.root, build_id)
    return get_build(ws, build_id)


# -- start ------------------------------------------------------------------------------------


def _lease_seconds(lease_s: float) -> float:
    if not 1.0 <= float(lease_s) <= MAX_LEASE_S:
        raise InvalidInput(
            f"A build's lease lasts 1 to {MAX_LEASE_S:.0f} seconds, not {lease_s}.",
            hint=f"leave it out for {LEASE_S:.0f} s",
        )
    return float(lease_s)


def _hold(ws: Workspace, build_id: int, lease_s: float, state: dict[str, Any]) -> str:
    write_lease(ws.root, build_id, lease_s, state)
    return lease_path(ws.root, build_id).name


def _plan(
    ws: Workspace,
    spec: ProjectSpec,
    actor: Actor,
    attempt: _Attempt,
    label_set: int | str | None,
    trainer: str | None,
    params: Mapping[str, Any] | None,
    seed: int,
    lease_s: float,
) -> tuple[RemoteBuildPlan, dict[str, Any]]:
    """The files to train on and to compare with, and the state the server keeps for finishing."""
    authorize(ws, actor, "train", spec.name)
    project = get_project(ws, spec.name)
    chosen = label_set_to_train(ws, spec.name, label_set)
    attempt.label_set_id = chosen.artifact_id
    dataset = get_artifact(ws, chosen.metadata["dataset_ids"][-1])
    latest = latest_dataset(ws, spec.name)
    assert latest is not None  # a label set exists, so a dataset does
    production = find_alias(ws, spec.name, "production")
    attempt.baseline_id = production.artifact_id if production is not None else None
    plan = RemoteBuildPlan(
        attempt.build_id,
        spec.name,
        "running",
        "",
        lease_s,
        spec=read_file(ws, get_artifact(ws, project.spec_artifact_id), "spec").decode("utf-8"),
        trainer=trainer or DEFAULT_TRAINER[spec.kind],
        params=dict(params or {}),
        seed=int(seed),
        label_set_id=chosen.artifact_id,
        label_set_ref=chosen.ref,
        label_set_sha=_sha(chosen, "labels.parquet"),
        dataset_id=dataset.artifact_id,
        dataset_ref=dataset.ref,
        dataset_sha=_sha(dataset, "rows"),
        test_dataset_sha=_sha(latest, "rows"),
        test_label_set_shas=[_sha(a, "labels.parquet") for a in test_set_inputs(ws, spec)],
        production_id=attempt.baseline_id,
        production_ref=production.ref if production is not None else "",
        production_files={f.role: f.blob_hash for f in production.files} if production else {},
        run_name=f"build-{attempt.number}",
    )
    keep = ("label_set_id", "dataset_id", "production_id", "production_ref", "trainer", "run_name")
    return plan, {name: getattr(plan, name) for name in keep}


def _sha(artifact: Artifact, role: str) -> str:
    return artifact.file(role).blob_hash


def _gate(
    ws: Workspace, spec: ProjectSpec, text: str | None, name: str
) -> tuple[str | None, str, list[Check]]:
    """The gate's text (kept for ``finish_remote``), where it came from, and its checks."""
    if text is not None:
        return text, f"{name} (from the runner)", _parse(text, name)
    checks, source = load_gate(None, ws.root, spec)
    if source == "default gate":
        return None, source, checks
    return Path(source).read_text(encoding="utf-8"), source, checks


def _parse(text: str, name: str) -> list[Check]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{name}: not valid YAML ({exc}).") from exc
    return parse_gate(data, name)


# -- renew, finish, abort -----------------------------------------------------------------------


def _held(ws: Workspace, build_id: int, actor: Actor) -> dict[str, Any]:
    """The lease of a running remote build of ``actor``'s, not lapsed."""
    build = get_build(ws, build_id)  # reaps lapsed leases first
    state = read_lease(ws.root, build_id)
    if build.status != "running" or state is None or "project" not in state:
        closed = f"it is {build.status}" + (f": {build.reason}" if build.reason else "")
        raise CoreError(
            f"Build #{build.number} of {build.project!r} is not a running remote build ({closed}).",
            hint=f"start a new build with `loopline build {build.project}`",
        )
    if float(state.get("expires", 0)) <= time.time():
        raise CoreError(
            f"The lease of build #{build.number} of {build.project!r} lapsed: the build counts "
            "as aborted.",
            hint=f"start a new build with `loopline build {build.project}`",
        )
    authorize(ws, actor, "build", state["project"])
    state.setdefault("number", build.number)  # a lease written before builds had numbers
    if state["actor"] != actor.name:
        raise CoreError(
            f"Build #{build.number} of {build.project!r} belongs to {state['actor']}, "
            f"not {actor.name}.",
            hint="renew, finish or abort a build with the token that started it",
        )
    return state


def _kept(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("expires", "lease_s")}


def _attempt(state: dict[str, Any], build_id: int, log: Sequence[str]) -> _Attempt:
    attempt = _Attempt(
        build_id,
        state["project"],
        state.get("trigger"),
        state.get("request_id"),
        [(str(r), int(a)) for r, a in state.get("answers", [])],
        number=int(state["number"]),
        log=[*state.get("log", []), *(f"runner: {line}" for line in log)],
    )
    attempt.label_set_id = state.get("label_set_id")
    attempt.baseline_id = state.get("production_id")
    return attempt


def _model_files(bundle: Path, files: Mapping[str, str]) -> dict[str, bytes]:
    """The model's files from the uploaded zip, each matching the SHA-256 the runner sent, and
    loadable as a model; refused (nothing written) otherwise."""
    if not Path(bundle).is_file():
        raise InvalidInput(
            "The model's files were not uploaded.", hint="upload the model bundle again"
        )
    try:
        with zipfile.ZipFile(bundle) as archive:
            entries = {i.filename: i for i in archive.infolist() if not i.is_dir()}
            too_big = [n for n, i in entries.items() if i.file_size > MAX_MODEL_FILE_BYTES]
            if too_big:
                raise InvalidInput(f"Model file(s) {', '.join(too_big)} are over 1 GiB.")
            contents = {name: archive.read(name) for name in entries}
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"The model bundle is not a readable zip file ({exc}).") from exc
    _check_hashes(contents, files)
    try:
        Model.from_files(contents)
    except CoreError as exc:
        raise InvalidInput(f"The model's files do not load as a model: {exc.message}") from exc
    return contents


def _check_hashes(contents: Mapping[str, bytes], files: Mapping[str, str]) -> None:
    wanted = {role: sha for role, sha in files.items() if role != EVALUATION}
    missing = sorted(set(wanted) - set(contents))
    extra = sorted(set(contents) - set(wanted))
    changed = sorted(
        role
        for role, sha in wanted.items()
        if role in contents and hashlib.sha256(contents[role]).hexdigest() != sha
    )
    if missing or extra or changed or "model.json" not in contents:
        said = "; ".join(
            text
            for text in (
                f"missing: {', '.join(missing)}" if missing else "",
                f"not announced: {', '.join(extra)}" if extra else "",
                f"other bytes than announced: {', '.join(changed)}" if changed else "",
                "no model.json" if "model.json" not in contents else "",
            )
            if text
        )
        raise InvalidInput(
            f"The model's files do not match what the runner announced ({said}); nothing was "
            "registered.",
            hint="run the build again; if it recurs, something alters the files on the way",
        )


def _evaluation(text: str, what: str) -> Evaluation:
    """An evaluation as ``json.dumps(as_dict(evaluation))`` wrote it."""
    try:
        data = json.loads(text)
        return Evaluation(
            overall={str(k): float(v) for k, v in data["overall"].items()},
            slices={
                str(name): {str(k): float(v) for k, v in values.items()}
                for name, values in data["slices"].items()
            },
            sizes={str(k): int(v) for k, v in data["sizes"].items()},
            confusion=[[int(c) for c in row] for row in data["confusion"]],
            classes=[str(c) for c in data["classes"]],
            latency={str(k): float(v) for k, v in data.get("latency", {}).items()},
            disagreements=[str(i) for i in data.get("misclassified", [])],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"The {what} is not an evaluation as Loopline writes it ({type(exc).__name__}: {exc}).",
            hint="send json.dumps(core.ml.evaluate.as_dict(evaluation))",
        ) from exc


def _gate_outcome(
    ws: Workspace,
    spec: ProjectSpec,
    state: dict[str, Any],
    attempt: _Attempt,
    candidate: Evaluation,
    baseline: Evaluation | None,
    metrics: Mapping[str, float],
    model: Model,
) -> None:
    """The gate kept at start, with the requirements check, on what the runner measured, and
    the behavioural suite run here on the model the runner trained."""
    try:
        behave_step(ws, spec, attempt, model, None, lambda stage, fraction: None)
        text = state.get("gate")
        checks = default_gate(spec) if text is None else _parse(text, state["gate_source"])
        checks = requirement_check(
            ws,
            spec.name,
            checks,
            run_metrics=metrics,
            label_set=get_artifact(ws, state["label_set_id"]),
            dataset=get_artifact(ws, state["dataset_id"]),
        )
        checks = with_behave(checks, attempt.behave)
        attempt.checks = run_gate(checks, candidate, baseline, spec)
    except Exception as error:  # the build's outcome, as for a local build
        attempt.abort(error)
        return
    failed = [c for c in attempt.checks if not c.passed]
    attempt.status = "failed" if failed else "successful"
    attempt.reason = "; ".join(c.message for c in failed) if failed else "every gate check passed"
    attempt.log.extend(
        f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}" for c in attempt.checks
    )


def _record_remote(ws: Workspace, actor: Actor, attempt: _Attempt, trained: TrainedRun) -> None:
    """One transaction: the run, then everything ``run_build`` records; on failure nothing of it
    is kept and the row is closed as aborted."""
    try:
        with ws.store.transaction() as tx:
            _running(tx, attempt.build_id)
            attempt.run_id = record_run(tx, actor, trained)
            overall = trained.metrics
            attempt.log.append(
                f"trained run #{attempt.run_id} on a runner: "
                + ", ".join(
                    f"{k} {overall[k]:.3f}"
                    for k in ("accuracy", "f1_macro")
                    if overall.get(k) is not None
                )
            )
            _record(ws, actor, replace(attempt, log=[*attempt.log]))
    except Exception as error:
        if get_build(ws, attempt.build_id).status != "running":
            raise  # reaped meanwhile: closed already, nothing to add
        attempt.run_id = None
        attempt.abort(error)
        _close_aborted(ws, actor, attempt, error)


def _running(tx: Any, build_id: int) -> None:
    """Refuse to record a build that is no longer running (reaped while the runner worked)."""
    row = tx.one("SELECT status, number, project FROM builds WHERE build_id = ?", [build_id])
    status, number, project = row if row is not None else (None, None, None)
    if status != "running":
        named = f"#{number} of {project!r}" if number is not None else f"(id {build_id})"
        raise NotFound(
            f"Build {named} is {status or 'unknown'}, no longer running; nothing was recorded.",
            hint="its lease lapsed: run the build again",
        )
