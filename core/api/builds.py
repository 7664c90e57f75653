"""Builds: the CI history, one build, running one, and what a comparison fails on."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.api.area import Area, Progress
from core.builds.service import Build, get_build, junit_xml, list_builds, run_build
from core.builds.slices import SliceFinding, slice_findings
from core.registry.compare import compare_runs


class Builds(Area):
    def list(self, project: str) -> builtins.list[Build]:
        """The project's builds, newest first (one whose process died is closed as aborted,
        noticed by the client's user)."""
        return list_builds(self._ws, project, self._actor)

    def get(self, build_id: int) -> Build:
        return get_build(self._ws, build_id)

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
        progress: Progress | None = None,
    ) -> Build:
        """Train, evaluate against production on the same test set, gate, register on success
        (``promote``: and promote)."""
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
            progress=progress,
        )

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
