"""Builds: the CI history, one build, running one (here, or trained on a CI runner), and what a
comparison fails on."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from core.api.area import Area, Progress
from core.builds.remote import (
    RemoteBuildPlan,
    abort_remote,
    finish_remote,
    renew_remote,
    start_remote,
)
from core.builds.runner import RunnerResult, files_needed, train_plan
from core.builds.service import (
    Build,
    get_build,
    get_build_number,
    junit_xml,
    list_builds,
    run_build,
)
from core.builds.slices import SliceFinding, slice_findings
from core.registry.compare import compare_runs

__all__ = ["Builds", "RemoteBuildPlan", "RunnerResult"]  # the runner names the plan's types


class Builds(Area):
    def list(self, project: str) -> builtins.list[Build]:
        """The project's builds, newest first (one whose process died is closed as aborted,
        noticed by the client's user)."""
        return list_builds(self._ws, project, self._actor)

    def get(self, build_id: int) -> Build:
        return get_build(self._ws, build_id)

    def get_number(self, project: str, number: int) -> Build:
        """The project's build ``#number`` (the number people see)."""
        return get_build_number(self._ws, project, number)

    def run(
        self,
        project: str,
        *,
        label_set: int | str | None = None,
        trainer: str | None = None,
        params: Mapping[str, Any] | None = None,
        gate: Path | None = None,
        promote: bool = False,
        trigger: str | None = None,
        dask_address: str | None = None,
        behave: Path | None = None,
        progress: Progress | None = None,
    ) -> Build:
        """Train, evaluate against production on the same test set, run the behavioural suite,
        gate, register on success (``promote``: and promote; ``dask_address``: fit on that Dask
        cluster; ``behave``: a suite file instead of ``gates/<project>.behave.yaml``)."""
        return run_build(
            self._ws,
            project,
            self._actor,
            label_set=label_set,
            trainer=trainer,
            params=dict(params) if params is not None else None,
            gate=gate,
            promote_model=promote,
            trigger=trigger,
            dask_address=dask_address,
            behave=behave,
            progress=progress,
        )

    def start_remote(
        self,
        project: str,
        *,
        label_set: int | str | None = None,
        trainer: str | None = None,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        gate: str | None = None,
        gate_name: str = "gate file",
        promote: bool = False,
        trigger: str | None = None,
        lease_s: float = 120.0,
    ) -> RemoteBuildPlan:
        """Open a build that a CI runner trains: its row says running under a lease the runner
        renews; the plan names the files to download (``gate``: the gate file's text)."""
        return start_remote(
            self._ws,
            project,
            self._actor,
            label_set=label_set,
            trainer=trainer,
            params=params,
            seed=seed,
            gate=gate,
            gate_name=gate_name,
            promote_model=promote,
            trigger=trigger,
            lease_s=lease_s,
        )

    def renew_remote(self, build_id: int) -> float:
        """Renew a remote build's lease; the seconds it lasts from now."""
        return renew_remote(self._ws, build_id, self._actor)

    def finish_remote(
        self,
        build_id: int,
        *,
        model: Path,
        files: Mapping[str, str],
        evaluation: str,
        baseline: str | None = None,
        params: Mapping[str, Any],
        training_time_s: float,
        started_at: datetime,
        duration_s: float,
        environment: Mapping[str, Any],
        code_commit: str | None = None,
        code_dirty: bool | None = None,
        log: Sequence[str] = (),
    ) -> Build:
        """Gate and record what a runner trained (``model``: a zip of the model's files, each
        matching ``files``' SHA-256; ``evaluation``/``baseline``: the candidate's and
        production's evaluation JSON on the same test set), all in one transaction."""
        return finish_remote(
            self._ws,
            build_id,
            self._actor,
            model=model,
            files=files,
            evaluation=evaluation,
            baseline=baseline,
            params=params,
            training_time_s=training_time_s,
            started_at=started_at,
            duration_s=duration_s,
            environment=environment,
            code_commit=code_commit,
            code_dirty=code_dirty,
            log=log,
        )

    def abort_remote(self, build_id: int, reason: str, hint: str | None = None) -> Build:
        """Close a remote build as aborted: the runner failed."""
        return abort_remote(self._ws, build_id, self._actor, reason, hint)

    @staticmethod
    def files_needed(plan: RemoteBuildPlan) -> builtins.list[str]:
        """The SHA-256 of every file a remote build's runner downloads, each once."""
        return files_needed(plan)

    @staticmethod
    def train_plan(
        plan: RemoteBuildPlan,
        paths: Mapping[str, Path],
        *,
        dask_address: str | None = None,
        progress: Progress | None = None,
    ) -> RunnerResult:
        """On a runner, without a workspace: train and evaluate as ``run`` does, on the plan's
        downloaded files (``paths``: SHA-256 -> file); what ``finish_remote`` takes."""
        return train_plan(plan, paths, dask_address=dask_address, progress=progress)

    @staticmethod
    def junit_xml(build: Build) -> str:
        """A build as JUnit XML, one test case per gate check, for any CI server."""
        return junit_xml(build)

    def slice_findings(
        self, run_ids: Sequence[int], metric: str = "accuracy"
    ) -> builtins.list[SliceFinding]:
        """The slices of the compared runs (and production) that fail a gate threshold or an ML
        requirement on ``metric``."""
        return slice_findings(self._ws, compare_runs(self._ws, run_ids, metric), metric)
