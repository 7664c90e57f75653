"""Artifacts: the registry, lineage, previews, verifying the workspace, reproducing a version."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from core.api.area import Area, OnUse, Progress
from core.artifacts.lineage import lineage, lineage_tree_lines
from core.artifacts.models import Artifact, Lineage, Problem, VerifyReport
from core.artifacts.preview import Preview, preview
from core.artifacts.service import count_by_kind, find_artifact, get_artifact, list_artifacts
from core.artifacts.verify import PruneReport, prune_blobs, verify_workspace
from core.builds.reaper import DEAD_OWNER, reap_dead_builds
from core.store import Workspace

if TYPE_CHECKING:
    import core.data.service as data_service
else:  # datasets, models and builds import pandas: imported by the methods that need them
    data_service = OnUse("core.data.service")


class Artifacts(Area):
    def list(
        self,
        *,
        kind: str | None = None,
        project: str | None = None,
        name: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[Artifact]:
        return list_artifacts(self._ws, kind=kind, project=project, name=name, limit=limit)

    def get(self, ref: int | str) -> Artifact:
        """By id (``12``) or reference (``dataset:emails@3``); NotFound when there is none."""
        return get_artifact(self._ws, ref)

    def find(self, ref: int | str) -> Artifact | None:
        return find_artifact(self._ws, ref)

    def count_by_kind(self, project: str | None = None) -> dict[str, int]:
        return count_by_kind(self._ws, project)

    def lineage(self, ref: int | str, direction: str = "up", max_depth: int = 100) -> Lineage:
        """What ``ref`` was made from (``up``) or what was made from it (``down``)."""
        return lineage(self._ws, ref, direction, max_depth)

    @staticmethod
    def lineage_lines(graph: Lineage) -> builtins.list[str]:
        """A lineage as an indented tree, one line per artifact (one reached twice is printed
        once)."""
        return lineage_tree_lines(graph)

    def preview(self, ref: int | str, limit: int = 50) -> builtins.list[Preview]:
        """The first rows, the JSON or the text of each of the artifact's files."""
        return preview(self._ws, get_artifact(self._ws, ref), limit)

    def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Close the builds whose process died, then re-hash every blob and check every
        artifact, alias and hash chain; each closed build is named as a warning."""
        closed = reap_dead_builds(self._ws, self._actor)
        count = (
            None
            if progress is None
            else (lambda done, total: progress("re-hashing blobs", done / max(1, total)))
        )
        report = verify_workspace(self._ws, count)
        reaped = _closed_builds(self._ws, closed) if closed else ()
        return dataclasses.replace(report, problems=reaped + report.problems)

    def prune(
        self, *, older_than: timedelta = timedelta(hours=1), dry_run: bool = False
    ) -> PruneReport:
        """Delete the blobs nothing refers to (admins only), and uploads to a server that were
        cut off (``.part``) or never used."""
        report = prune_blobs(self._ws, self._actor, older_than=older_than, dry_run=dry_run)
        if not dry_run:
            from core.api.server_support import ServerSupport  # the server's uploads folder

            ServerSupport(self._client).clean_uploads(
                older_than=max(older_than, timedelta(hours=24)), parts_older_than=older_than
            )
        return report

    def reproduce(self, ref: int | str) -> data_service.Reproduction:
        """Rebuild a dataset or a model from its recorded inputs and compare the hashes."""
        from core.data.service import reproduce_dataset
        from core.experiments.reproduce import reproduce_model

        if get_artifact(self._ws, ref).kind == "model":
            return reproduce_model(self._ws, ref)
        return reproduce_dataset(self._ws, ref)


def _closed_builds(ws: Workspace, build_ids: Sequence[int]) -> tuple[Problem, ...]:
    """A warning for each build closed because its process died (only then are builds, and
    pandas with them, imported)."""
    from core.builds.service import get_build

    builds = [get_build(ws, build_id) for build_id in build_ids]
    return tuple(
        Problem(
            f"build #{build.number} of {build.project}",
            f"was running with no live process: {DEAD_OWNER}; closed as aborted",
            severity="warning",
        )
        for build in builds
    )
