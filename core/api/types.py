"""The dataclasses and constants of Loopline's public API: what its methods take and return.

Pages and other surfaces import these names from here, never from core's modules."""

from typing import TYPE_CHECKING, Any

from core.accounts.audit import AuditEntry, AuditQuery
from core.accounts.models import Grant, NewUser, Session, Token, User
from core.actor import Actor
from core.api.serving import Service
from core.artifacts.models import (
    KINDS,
    Artifact,
    ArtifactFile,
    Edge,
    Lineage,
    Problem,
    VerifyReport,
)
from core.artifacts.preview import Preview
from core.artifacts.verify import PruneReport
from core.builds.service import Build
from core.builds.slices import SliceFinding
from core.data.profile import Typical
from core.data.service import IngestRefused, IngestResult, Reproduction
from core.experiments.search import RunTable
from core.experiments.service import RunDetail, TrainResult
from core.labeling.agreement import AgreementReport
from core.labeling.freeze import FrozenLabelSet
from core.labeling.interchange import EXPORT_FORMATS, ImportResult
from core.labeling.models import (
    FREEZE_RULES,
    Annotation,
    QueueItem,
    Review,
    ReviewCase,
    Suggestion,
    Task,
    TaskFilter,
    TaskProgress,
)
from core.monitoring.dashboard import Dashboard, FeatureDistribution
from core.monitoring.incidents import Incident
from core.monitoring.models import Alert, MonitorReport, RetrainRequest
from core.overview import ProjectOverview, Stage
from core.projects.service import Project
from core.projects.spec import ProjectSpec
from core.registry.compare import LOWER_IS_BETTER, Comparison
from core.registry.service import Promotion
from core.requirements.derive import KINDS as DERIVATION_KINDS
from core.requirements.matrix import EvidenceDetail, SliceValue
from core.requirements.models import (
    Coverage,
    Derivation,
    HistoryEntry,
    Impact,
    ImpactChange,
    Matrix,
    MatrixRow,
    Requirement,
    SaveResult,
    Status,
    VersionEntry,
)
from core.requirements.report import ModelCard
from core.requirements.status import Recomputed
from core.requirements.verify import Verification
from core.spans.detect import Span

__all__ = [
    "DERIVATION_KINDS",
    "EXPORT_FORMATS",
    "FREEZE_RULES",
    "KINDS",
    "LOWER_IS_BETTER",
    "Actor",
    "AgreementReport",
    "Alert",
    "Annotation",
    "Artifact",
    "ArtifactFile",
    "AuditEntry",
    "AuditQuery",
    "Build",
    "Comparison",
    "Coverage",
    "Dashboard",
    "Derivation",
    "Edge",
    "EvidenceDetail",
    "FeatureDistribution",
    "FrozenLabelSet",
    "Grant",
    "HistoryEntry",
    "Impact",
    "ImpactChange",
    "ImportResult",
    "Incident",
    "IngestRefused",
    "IngestResult",
    "Lineage",
    "Matrix",
    "MatrixRow",
    "ModelCard",
    "MonitorReport",
    "NewUser",
    "Preview",
    "Problem",
    "Project",
    "ProjectOverview",
    "ProjectSpec",
    "Promotion",
    "PruneReport",
    "QueueItem",
    "Recomputed",
    "Reproduction",
    "Requirement",
    "RetrainRequest",
    "Review",
    "ReviewCase",
    "RunDetail",
    "RunTable",
    "SaveResult",
    "Service",
    "Session",
    "SimulationResult",
    "SliceFinding",
    "SliceValue",
    "Span",
    "Stage",
    "Status",
    "Suggestion",
    "Task",
    "TaskFilter",
    "TaskProgress",
    "Token",
    "TrainResult",
    "Typical",
    "User",
    "Verification",
    "VerifyReport",
    "VersionEntry",
]

if TYPE_CHECKING:
    from core.serving.simulate import SimulationResult


def __getattr__(name: str) -> Any:
    """``SimulationResult``'s module imports the web stack (FastAPI): it is imported when the
    name is asked for, not with the types every page imports."""
    if name == "SimulationResult":
        from core.serving.simulate import SimulationResult

        return SimulationResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
