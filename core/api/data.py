"""Data: reading a file's format, ingesting it as a dataset version, its quality and profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.api.area import Area, Progress
from core.artifacts.service import get_artifact
from core.data.formats import detect_format
from core.data.profile import Typical, typical_ranges, unusual_values
from core.data.quality import quality_flags
from core.data.service import IngestResult, ingest, quality_of


class Data(Area):
    @staticmethod
    def detect_format(name: str, declared: str | None = None) -> str:
        """``csv``, ``parquet`` or ``jsonl`` from a file name (or the declared format)."""
        return detect_format(name, declared)

    def ingest(
        self,
        project: str,
        path: Path,
        *,
        display_name: str | None = None,
        fmt: str | None = None,
        encoding: str = "utf-8",
        mode: str = "append",
        progress: Progress | None = None,
    ) -> IngestResult:
        """Check a file against the project's schema and register it as a new dataset version;
        a file with any problem raises IngestRefused and nothing is written."""
        return ingest(
            self._ws,
            project,
            Path(path),
            self._actor,
            display_name=display_name,
            fmt=fmt,
            encoding=encoding,
            mode=mode,
            progress=progress or (lambda stage, fraction: None),
        )

    def quality(self, dataset: int | str) -> dict[str, Any]:
        """The quality report recorded with a dataset version (rows, duplicates, per column)."""
        return quality_of(self._ws, get_artifact(self._ws, dataset))

    @staticmethod
    def quality_flags(report: Mapping[str, Any]) -> list[str]:
        """The things worth a look in a quality report, in words."""
        return quality_flags(dict(report))

    def profile(
        self, dataset: int | str, columns: Sequence[str], within: str | None = None
    ) -> dict[str, dict[str, Typical]]:
        """The typical range of each numeric column (per value of ``within``, '' for all)."""
        return typical_ranges(self._ws, get_artifact(self._ws, dataset), columns, within)

    @staticmethod
    def unusual(
        fields: Mapping[str, Any],
        ranges: Mapping[str, Mapping[str, Typical]],
        within: str | None = None,
    ) -> dict[str, str]:
        """The fields of one row outside their typical range, each with why."""
        return unusual_values(fields, ranges, within)
