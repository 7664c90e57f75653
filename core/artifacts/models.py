"""Artifacts, their files and lineage, as frozen dataclasses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# kind -> what it is (shown in the app and in `loopline artifacts --help`)
KINDS: dict[str, str] = {
    "project": "a project's definition: schema, labels, slices, split, protected slices",
    "data_source": "a raw file or export exactly as it arrived (e.g. a CSV with log ids)",
    "code": "code that made something: git commit, dirty flag, entry point",
    "dataset": "validated rows of a project; one version per ingest",
    "report": "a generated report (data quality, verification, …)",
    "label_set": "frozen final labels of a dataset version's items",
    "params": "a training configuration",
    "model": "a trained model with its configuration",
    "evaluation": "metrics of a model on a dataset, overall and per slice",
    "build": "a CI build: successful, failed or aborted, with its gate checks and log",
    "requirements": "a version of a project's requirement set",
    "monitoring": "a monitoring window's figures and drift",
}

# relation -> how an artifact depends on another (src <relation> dst)
RELATIONS: dict[str, str] = {
    "defined_by": "made under this project definition",
    "derived_from": "made from this data source or dataset",
    "extends": "adds to this earlier version",
    "extracted_by": "extracted by this code",
    "labeled_with": "uses the labels of this label set",
    "annotates": "labels the items of this dataset",
    "trained_on": "trained on this dataset",
    "configured_by": "trained with these parameters",
    "produced_by": "made by this code or build",
    "evaluates": "reports metrics of this model",
    "evaluated_on": "computed on this dataset or label set",
    "compared_with": "compared against this model",
    "describes": "reports on this artifact",
    "triggered_by": "started because of this artifact",
}

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ArtifactFile:
    role: str
    blob_hash: str
    size_bytes: int


ARTIFACT_FIELDS = (
    "artifact_id",
    "kind",
    "name",
    "version",
    "project",
    "content_hash",
    "metadata",
    "created_at",
    "created_by",
)
ARTIFACT_COLUMNS = ", ".join(ARTIFACT_FIELDS)  # an ``artifacts`` row, read by ``artifact_from_row``


@dataclass(frozen=True)
class Artifact:
    artifact_id: int
    kind: str
    name: str
    version: int
    project: str | None
    content_hash: str
    metadata: Mapping[str, Any]
    created_at: datetime
    created_by: str
    files: tuple[ArtifactFile, ...] = ()

    @property
    def ref(self) -> str:
        """The human reference: ``kind:name@version``."""
        return f"{self.kind}:{self.name}@{self.version}"

    @property
    def label(self) -> str:
        return f"#{self.artifact_id} {self.ref}"

    def file(self, role: str) -> ArtifactFile:
        for item in self.files:
            if item.role == role:
                return item
        raise KeyError(f"{self.ref} has no file {role!r}")


def artifact_from_row(row: Sequence[Any], files: Sequence[ArtifactFile] = ()) -> Artifact:
    """A row of ``ARTIFACT_COLUMNS`` (a SELECT or an INSERT … RETURNING) with its files."""
    values = dict(zip(ARTIFACT_FIELDS, row, strict=True))
    values["metadata"] = json.loads(values["metadata"])
    return Artifact(**values, files=tuple(files))


@dataclass(frozen=True)
class NewArtifact:
    """What to register. ``files`` maps a role to bytes or a path; ``inputs`` are (relation, id)."""

    kind: str
    name: str
    project: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, bytes | Path] = field(default_factory=dict)
    inputs: Sequence[tuple[str, int]] = ()
    content_hash: str | None = None


@dataclass(frozen=True)
class Edge:
    src_id: int
    relation: str
    dst_id: int


@dataclass(frozen=True)
class Lineage:
    """Everything upstream (what ``root`` was made from) or downstream (what was made from it)."""

    root_id: int
    direction: str
    nodes: Mapping[int, Artifact]
    edges: tuple[Edge, ...]
    depth: Mapping[int, int]
    max_depth: int = 100  # how many steps were followed: the tree stops there too

    def children(self, artifact_id: int) -> list[tuple[str, int]]:
        """Next step away from the root: (relation, artifact id)."""
        if self.direction == "up":
            pairs = [(e.relation, e.dst_id) for e in self.edges if e.src_id == artifact_id]
        else:
            pairs = [(e.relation, e.src_id) for e in self.edges if e.dst_id == artifact_id]
        return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


@dataclass(frozen=True)
class Problem:
    """One thing `verify` found wrong (or, with ``severity='warning'``, worth a look)."""

    what: str
    detail: str
    severity: str = "error"


@dataclass(frozen=True)
class VerifyReport:
    problems: tuple[Problem, ...]
    artifacts: int
    blobs_checked: int
    edges: int

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)
