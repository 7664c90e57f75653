"""Requirements: the traceability matrix and the evidence behind each status, status history,
versions, editing, deriving thresholds, the impact of a candidate, files and reports."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.api.area import Area, OnUse, Progress
from core.requirements.derive import derivation_inputs, derive
from core.requirements.documents import requirement_document
from core.requirements.editor import editor_rows, save_rows
from core.requirements.impact import impact_json
from core.requirements.interchange import render
from core.requirements.matrix import EvidenceDetail, evidence_detail, traceability_matrix
from core.requirements.models import (
    Derivation,
    DocumentNode,
    HistoryEntry,
    Impact,
    Matrix,
    Requirement,
    SaveResult,
    VersionEntry,
)
from core.requirements.service import (
    create_derived_requirement,
    delete_requirements,
    edit_requirement,
    export_requirements,
    import_requirements,
    list_requirements,
)
from core.requirements.status import (
    Recomputed,
    recompute_statuses,
    status_history,
    status_summary,
)
from core.requirements.versions import requirement_versions

if TYPE_CHECKING:
    import core.requirements.report as requirements_report
    import core.requirements.verify as requirements_verify
else:  # reports, impact and verification import pandas and the serving stack: on use
    requirements_report = OnUse("core.requirements.report")
    requirements_verify = OnUse("core.requirements.verify")


class Requirements(Area):
    # reading
    def list(self, project: str, *, level: str | None = None) -> builtins.list[Requirement]:
        """The current version of each requirement, system requirements first."""
        return list_requirements(self._ws, project, level=level)

    def matrix(
        self,
        project: str,
        *,
        owner: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> Matrix:
        """System requirements, the ML requirements derived from them and each one's status."""
        return traceability_matrix(self._ws, project, owner=owner, category=category, status=status)

    def evidence(self, project: str, requirement_id: str) -> EvidenceDetail:
        """One requirement's status, links, slices, artifacts and lineage root."""
        return evidence_detail(self._ws, project, requirement_id)

    def status_summary(self, project: str) -> dict[str, dict[str, int]]:
        """Requirements per level (``system``, ``ml``) and status."""
        return status_summary(self._ws, project)

    def status_history(
        self, project: str, requirement_id: str | None = None, *, limit: int = 5000
    ) -> builtins.list[HistoryEntry]:
        return status_history(self._ws, project, requirement_id, limit=limit)

    def versions(
        self, project: str, requirement_id: str | None = None
    ) -> builtins.list[VersionEntry]:
        return requirement_versions(self._ws, project, requirement_id)

    # editing
    def edit(
        self,
        project: str,
        requirement_id: str,
        changes: Mapping[str, Any],
        *,
        note: str = "",
    ) -> SaveResult:
        """Change some fields of one requirement (a new version of the set)."""
        return edit_requirement(self._ws, project, requirement_id, changes, self._actor, note=note)

    def delete(self, project: str, requirement_ids: Sequence[str], *, note: str = "") -> SaveResult:
        """Remove requirements (a new version of the set marks them removed)."""
        return delete_requirements(self._ws, project, requirement_ids, self._actor, note=note)

    def recompute(self, project: str | None = None, *, cause: str) -> Recomputed:
        """Recompute statuses from the evidence now (every project's by default)."""
        return recompute_statuses(self._ws, project, cause=cause)

    def verify_system(
        self, project: str, *, progress: Progress | None = None
    ) -> requirements_verify.Verification:
        """The production model end to end through the prediction service on the large test
        set, recorded as evidence; the statuses are recomputed (``violated``: the ML
        requirements violated after it)."""
        from core.requirements.verify import verify_system

        return verify_system(self._ws, project, self._actor, progress=progress)

    @staticmethod
    def editor_rows(items: Iterable[Requirement]) -> builtins.list[dict[str, Any]]:
        """Requirements as the editor's flat rows (lists written ``SYS-1; SYS-3``)."""
        return editor_rows(items)

    def save_rows(
        self,
        project: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        deleted: Iterable[str] = (),
        note: str = "",
    ) -> SaveResult:
        """A new version of the set from the edited rows (only the rows touched)."""
        return save_rows(self._ws, project, rows, self._actor, deleted=deleted, note=note)

    @staticmethod
    def derivation_inputs(kind: str) -> tuple[str, ...]:
        return derivation_inputs(kind)

    @staticmethod
    def derive(kind: str, inputs: Mapping[str, Any], metric: str | None = None) -> Derivation:
        """From operational terms (volume, base rate, tolerated failures…) to a threshold."""
        return derive(kind, inputs, metric)

    def create_derived(
        self,
        project: str,
        requirement_id: str,
        derivation: Derivation,
        *,
        derived_from: str | Sequence[str],
        evidence: str = "production",
        title: str | None = None,
        note: str = "derived",
    ) -> SaveResult:
        """A new ML requirement with a derived threshold."""
        return create_derived_requirement(
            self._ws,
            project,
            requirement_id,
            derivation,
            self._actor,
            derived_from=derived_from,
            evidence=evidence,
            title=title,
            note=note,
        )

    def impact(
        self, project: str, *, model: int | str | None = None, build: int | None = None
    ) -> Impact:
        """What would change if ``model`` (or the model of ``build``) were promoted."""
        from core.builds.impact import impact

        return impact(self._ws, project, model=model, build=build)

    @staticmethod
    def impact_json(result: Impact) -> str:
        """An impact as JSON text (project, candidate, changes)."""
        return impact_json(result)

    # files and reports
    def import_file(
        self,
        path: Path,
        *,
        project: str | None = None,
        delete_missing: bool = False,
        note: str = "",
        mapping: Path | None = None,
    ) -> SaveResult:
        """A YAML, CSV or ReqIF file (by its extension) as a new version of a project's set;
        ``mapping``: how a requirements tool's ReqIF reads (object types, levels, fields,
        relations; see docs/requirements.md)."""
        return import_requirements(
            self._ws,
            Path(path),
            self._actor,
            project=project,
            delete_missing=delete_missing,
            note=note,
            mapping=Path(mapping) if mapping is not None else None,
        )

    def document(self, project: str) -> builtins.list[DocumentNode]:
        """The structure of the last imported document: its sections, text nodes and where
        each requirement sits (empty when no import carried one)."""
        return requirement_document(self._ws, project)

    def export(self, project: str | None, fmt: str) -> str:
        """The current set as yaml, csv or reqif."""
        return export_requirements(self._ws, project, fmt)

    @staticmethod
    def render(project: str, items: Sequence[Requirement], fmt: str) -> str:
        """Given requirements as yaml, csv or reqif."""
        return render(project, items, fmt)

    def trace_export(self, project: str, fmt: str) -> str:
        """The traceability matrix as csv, yaml or an HTML report."""
        from core.requirements.report import trace_export

        return trace_export(self._ws, project, fmt)

    def model_card(self, project: str, version: int | None = None) -> requirements_report.ModelCard:
        """The model card of a model version (production by default)."""
        from core.requirements.report import model_card

        return model_card(self._ws, project, version)

    @staticmethod
    def model_card_markdown(card: requirements_report.ModelCard) -> str:
        from core.requirements.report import model_card_markdown

        return model_card_markdown(card)

    @staticmethod
    def model_card_html(card: requirements_report.ModelCard) -> str:
        from core.requirements.report import model_card_html

        return model_card_html(card)
