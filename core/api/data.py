"""Data: reading a file's format, ingesting it as a dataset version, its quality and profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.api.area import Area, Progress
from core.artifacts.service import get_artifact
from core.data.draft import Draft, draft_project
from core.data.export import export_dataset
from core.data.formats import detect_format
from core.data.label_columns import map_label_columns
from core.data.profile import Typical, typical_ranges, unusual_values
from core.data.quality import quality_flags
from core.data.service import IngestResult, ingest, quality_of
from core.experiments.mlflow_import import MlflowImport, import_mlflow


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

    @staticmethod
    def draft(
        path: Path,
        *,
        name: str | None = None,
        id_column: str | None = None,
        time_column: str | None = None,
        label_column: str | None = None,
        labels_path: Path | None = None,
        classes: Sequence[str] = (),
        display_name: str | None = None,
        fmt: str | None = None,
        encoding: str = "utf-8",
    ) -> Draft:
        """A project file drafted from a data file (types, id, time, text and category columns,
        classes, slices) as commented YAML for the user to review; nothing is written."""
        return draft_project(
            Path(path),
            name=name,
            id_column=id_column,
            time_column=time_column,
            label_column=label_column,
            labels_path=None if labels_path is None else Path(labels_path),
            classes=tuple(classes),
            display_name=display_name,
            fmt=fmt,
            encoding=encoding,
        )

    def export(self, dataset: int | str, fmt: str = "csv") -> bytes:
        """A dataset version's rows as formula-safe CSV or Parquet."""
        return export_dataset(self._ws, dataset, fmt)

    @staticmethod
    def map_label_columns(
        path: Path,
        *,
        item_col: str,
        label_col: str,
        annotator: str | None = None,
        display_name: str | None = None,
        encoding: str = "utf-8",
    ) -> bytes:
        """A labels file of the user's shape as the annotation CSV (item_id, annotator, label)
        that ``labeling.import_labels`` takes; ``annotator``: a column of the file or a name."""
        return map_label_columns(
            Path(path),
            item_col=item_col,
            label_col=label_col,
            annotator=annotator,
            display_name=display_name,
            encoding=encoding,
        )

    def import_mlflow(
        self,
        tracking_uri: str,
        experiment: str,
        project: str,
        *,
        artifacts: Path | None = None,
    ) -> MlflowImport:
        """An MLflow experiment's runs (params, metrics with their history, tags, times, source
        commit) and its registered scikit-learn (skops) and XGBoost model versions with their
        aliases, from MLflow's SQLite store; all or nothing, and a re-run adds only what is new."""
        return import_mlflow(
            self._ws,
            self._actor,
            tracking_uri,
            experiment,
            project,
            artifacts=None if artifacts is None else Path(artifacts),
        )
