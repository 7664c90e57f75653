"""Remote builds on the server's side, in-process on real workspaces: plan → train store-free on
copies of the planned files → finish gives what a local build gives; a lapsed lease is reaped;
a tampered or missing upload is refused and registers nothing."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.api import Actor, Client, CoreError, InvalidInput
from core.api.builds import Builds, RemoteBuildPlan
from core.api.types import AuditQuery, Build
from core.builds.owner import lease_path
from core.builds.reaper import LAPSED
from tests.core.other_project import build_in_another_project
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
LATENCY = ("latency_p50_ms", "latency_p95_ms", "batch_latency_per_item_ms", "training_time_s")


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the tickets project labeled and frozen (copy it: tests change it), and a
    build of another project, so a tickets build's id is not its number."""
    folder = tmp_path_factory.mktemp("small")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder)
    build_in_another_project(client, folder)
    return folder / "ws"


def _copy(labeled: Path, tmp_path: Path, name: str) -> Client:
    shutil.copytree(labeled, tmp_path / name)
    return Client(tmp_path / name, ADMIN)


def _download(client: Client, plan: RemoteBuildPlan, folder: Path) -> dict[str, Path]:
    """What a runner downloads: each planned file, copied out of the object store."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs = client.workspace.blobs
    return {
        sha: Path(shutil.copyfile(blobs.path(sha), folder / sha))
        for sha in Builds.files_needed(plan)
    }


def _finish(client: Client, plan: RemoteBuildPlan, folder: Path, **change: Any) -> Build:
    result = Builds.train_plan(plan, _download(client, plan, folder / "files"))
    bundle = folder / "model.zip"
    bundle.write_bytes(change.pop("bundle", result.bundle))
    arguments: dict[str, Any] = {
        "model": bundle,
        "files": result.files,
        "evaluation": result.evaluation,
        "baseline": result.baseline,
        "params": result.params,
        "training_time_s": result.training_time_s,
        "started_at": result.started_at,
        "duration_s": result.duration_s,
        "environment": result.environment,
        "log": result.log,
    }
    return client.builds.finish_remote(plan.build_id, **{**arguments, **change})


def _remote_build(client: Client, folder: Path, **start: Any) -> Build:
    plan = client.builds.start_remote(PROJECT, **start)
    assert plan.status == "running", plan.reason
    return _finish(client, plan, folder)


def _outcome(client: Client, build: Build) -> dict[str, Any]:
    """What must be equal between a local and a remote build of the same data and seed."""
    assert build.run_id is not None
    run = client.runs.get(build.run_id)
    return {
        "status": build.status,
        "reason": build.reason if build.status != "successful" else "",
        "checks": [
            (c.name, c.passed, None if c.metric in LATENCY else c.value) for c in build.checks
        ],
        "metrics": {k: v for k, v in run.metrics.items() if k not in LATENCY},
        "slices": run.slice_metrics,
        "params": run.params,
        "model_files": {r: h for r, h in run.files.items() if r != "evaluation.json"},
        "registered": build.registered_model,
        "same_as_production": build.model_id is not None and not build.registered_model,
    }


def test_a_remote_build_gates_and_records_what_a_local_build_does(
    labeled: Path, tmp_path: Path
) -> None:
    local, remote = _copy(labeled, tmp_path, "local"), _copy(labeled, tmp_path, "remote")
    first_local = local.builds.run(PROJECT, promote=True)
    first_remote = _remote_build(remote, tmp_path / "r1", promote=True)
    assert first_remote.status == first_local.status == "successful"
    assert _outcome(remote, first_remote) == _outcome(local, first_local)
    production = remote.models.find_alias(PROJECT, "production")
    assert production is not None and production.artifact_id == first_remote.model_id
    run = remote.runs.get(first_remote.run_id)  # type: ignore[arg-type]
    assert run.tags["runner"] == "remote" and run.tags["build"] == str(first_remote.build_id)
    assert run.inputs["label_set"] == first_remote.label_set_id
    # again, now against production: the baseline is evaluated on the runner, the model is the same
    again_local = local.builds.run(PROJECT)
    again_remote = _remote_build(remote, tmp_path / "r2")
    assert _outcome(remote, again_remote) == _outcome(local, again_local)
    assert again_remote.model_id == again_remote.baseline_model_id == production.artifact_id
    assert any(c.name == "no regression of f1_macro" and c.baseline for c in again_remote.checks)
    assert not lease_path(remote.location, again_remote.build_id).exists()
    assert (again_remote.number, again_remote.build_id) == (2, 3)  # after the other project's
    entries, _ = remote.accounts.audit(AuditQuery(action="build.", project=PROJECT))
    audited = {(e.action, e.target, e.details["build_id"]) for e in entries}
    assert audited == {
        (action, f"build {b.number}", b.build_id)
        for b in (first_remote, again_remote)
        for action in ("build.running", "build.successful")
    }
    assert not [p for p in remote.artifacts.verify().problems if p.severity == "error"]


def test_a_lapsed_lease_is_reaped_as_aborted_and_the_runner_is_refused(
    labeled: Path, tmp_path: Path
) -> None:
    client = _copy(labeled, tmp_path, "ws")
    plan = client.builds.start_remote(PROJECT, lease_s=1)
    assert client.builds.renew_remote(plan.build_id) == 1.0
    assert client.builds.get(plan.build_id).status == "running"
    time.sleep(1.3)
    build = client.builds.list(PROJECT)[0]
    assert (build.build_id, build.status, build.reason) == (plan.build_id, "aborted", LAPSED)
    with pytest.raises(CoreError) as refused:
        client.builds.renew_remote(plan.build_id)
    assert plan.build_id == 2  # number 1 of tickets
    assert refused.value.message == (
        f"Build #1 of 'tickets' is not a running remote build (it is aborted: {LAPSED})."
    )
    with pytest.raises(CoreError, match="is not a running remote build"):
        _finish(client, plan, tmp_path)
    assert client.runs.search(PROJECT).total == 0
    assert not lease_path(client.location, plan.build_id).exists()
    assert not [p for p in client.artifacts.verify().problems if p.severity == "error"]


def _tampered(bundle: bytes, role: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, content + b" " if name == role else content)
    return out.getvalue()


def test_a_tampered_or_missing_upload_is_refused_and_registers_nothing(
    labeled: Path, tmp_path: Path
) -> None:
    client = _copy(labeled, tmp_path, "ws")
    plan = client.builds.start_remote(PROJECT)
    honest = Builds.train_plan(plan, _download(client, plan, tmp_path / "files"))
    before = (client.runs.search(PROJECT).total, len(client.artifacts.list()))
    with pytest.raises(InvalidInput) as refused:
        _finish(client, plan, tmp_path, bundle=_tampered(honest.bundle, "model.json"))
    assert refused.value.message == (
        "The model's files do not match what the runner announced (other bytes than announced: "
        "model.json); nothing was registered."
    )
    with pytest.raises(InvalidInput, match=r"^The model's files were not uploaded\.$"):
        _finish(client, plan, tmp_path, model=tmp_path / "nothing.zip")
    assert (client.runs.search(PROJECT).total, len(client.artifacts.list())) == before
    assert client.builds.get(plan.build_id).status == "running"
    closed = client.builds.abort_remote(plan.build_id, "the runner gave up", "try again")
    assert (closed.status, closed.reason, closed.hint) == (
        "aborted",
        "the runner gave up",
        "try again",
    )
    assert not lease_path(client.location, plan.build_id).exists()
    assert not [p for p in client.artifacts.verify().problems if p.severity == "error"]


def test_a_bad_gate_aborts_the_remote_build_at_once(labeled: Path, tmp_path: Path) -> None:
    client = _copy(labeled, tmp_path, "ws")
    plan = client.builds.start_remote(PROJECT, gate="checks: 3\n", gate_name="ci-gate.yaml")
    assert (plan.status, plan.reason) == (
        "aborted",
        "ci-gate.yaml: expected a mapping with a list of 'checks'.",
    )
    build = client.builds.get(plan.build_id)
    assert (build.status, build.exit_code) == ("aborted", 2)
    assert not lease_path(client.location, plan.build_id).exists()


def test_only_the_runner_that_started_a_build_may_finish_it(labeled: Path, tmp_path: Path) -> None:
    client = _copy(labeled, tmp_path, "ws")
    plan = client.builds.start_remote(PROJECT)
    other = client.acting_as(Actor("someone", "test"))
    with pytest.raises(CoreError) as refused:
        other.builds.abort_remote(plan.build_id, "not mine")
    assert plan.build_id == 2  # number 1 of tickets
    assert refused.value.message == "Build #1 of 'tickets' belongs to admin, not someone."
    assert client.builds.abort_remote(plan.build_id, "done").status == "aborted"


def test_with_dask_the_runner_and_a_local_build_fit_the_same_model(
    labeled: Path, tmp_path: Path
) -> None:
    from dask.distributed import LocalCluster

    client = _copy(labeled, tmp_path, "ws")
    plan = client.builds.start_remote(PROJECT)
    paths = _download(client, plan, tmp_path / "files")
    here = Builds.train_plan(plan, paths)
    with LocalCluster(
        n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        on_dask = Builds.train_plan(plan, paths, dask_address=address)
        client.builds.abort_remote(plan.build_id, "compared only")
        local = client.builds.run(PROJECT, dask_address=address)
    assert on_dask.files == here.files
    assert on_dask.log[0].endswith(f"on Dask at {address}: " + here.log[0].split(": ", 1)[1])
    run = client.runs.get(local.run_id)  # type: ignore[arg-type]
    assert {r: h for r, h in run.files.items() if r != "evaluation.json"} == here.files


def test_messages_to_the_runner_name_the_build_by_its_number(labeled: Path, tmp_path: Path) -> None:
    from core.builds.remote import _running
    from core.errors import NotFound

    client = _copy(labeled, tmp_path, "ws")
    local = client.builds.run(PROJECT, promote=True)
    assert (local.status, local.number, local.build_id) == ("successful", 1, 2)
    plan = client.builds.start_remote(PROJECT)
    assert (plan.build_id, plan.production_ref) == (3, "model:tickets@1")
    with pytest.raises(InvalidInput) as refused:
        _finish(client, plan, tmp_path, baseline=None)
    assert refused.value.message == (
        "Build #2 of 'tickets': production was model:tickets@1 when the build started, but no "
        "baseline evaluation was sent."
    )
    client.builds.abort_remote(plan.build_id, "the runner gave up")
    with client.workspace.store.read() as tx, pytest.raises(NotFound) as closed:
        _running(tx, plan.build_id)  # what a runner whose build was reaped meanwhile is told
    assert closed.value.message == (
        "Build #2 of 'tickets' is aborted, no longer running; nothing was recorded."
    )
