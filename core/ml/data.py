"""Training data from a frozen label set: rows joined with labels, the test split, and slices.

The joining and the split rule are store-free (core/ml/labeled.py, which a CI runner uses on
downloaded files); this module reads the files from the workspace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.data.service import load_rows
from core.labeling.freeze import load_label_set
from core.ml.labeled import derive, in_test_set, slice_values, training_rows
from core.projects.spec import ProjectSpec
from core.spans.detect import Span
from core.store import Workspace

__all__ = ["TrainingData", "derive", "in_test_set", "slice_values", "training_data"]


@dataclass(frozen=True)
class TrainingData:
    """Rows of the dataset that the label set labels, with their labels and spans."""

    frame: pd.DataFrame
    labels: pd.Series
    spans: list[list[Span]]
    test: np.ndarray
    dataset: Artifact
    label_set: Artifact

    def part(self, test: bool) -> TrainingData:
        mask = self.test if test else ~self.test
        return TrainingData(
            self.frame[mask].reset_index(drop=True),
            self.labels[mask].reset_index(drop=True),
            [s for s, m in zip(self.spans, mask, strict=True) if m],
            np.zeros(int(mask.sum()), dtype=bool) | test,
            self.dataset,
            self.label_set,
        )


def training_data(ws: Workspace, spec: ProjectSpec, label_set: Artifact) -> TrainingData:
    labels = load_label_set(ws, label_set)
    dataset = get_artifact(ws, label_set.metadata["dataset_ids"][-1])
    rows = training_rows(
        load_rows(ws, dataset), labels, spec, label_set=label_set.ref, dataset=dataset.ref
    )
    return TrainingData(rows.frame, rows.labels, rows.spans, rows.test, dataset, label_set)
