"""Training data from a frozen label set: rows joined with labels, the test split, and slices."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.data.service import load_rows
from core.errors import InvalidInput
from core.labeling.freeze import load_label_set
from core.projects.spec import ProjectSpec, SliceSpec
from core.spans.detect import Span, from_dicts
from core.store import Workspace


def derive(values: pd.Series, how: str | None) -> pd.Series:
    """A slice column's values: as they are, or derived (``email_domain``, ``month``)."""
    if how is None:
        return values.astype("string").fillna("(missing)")
    if how == "email_domain":
        return values.astype("string").str.lower().str.rsplit("@", n=1).str[-1].fillna("(missing)")
    if how == "month":
        return pd.to_datetime(values).dt.strftime("%Y-%m").astype("string").fillna("(missing)")
    raise InvalidInput(f"Unknown derivation {how!r}.")


def slice_values(frame: pd.DataFrame, spec: SliceSpec) -> pd.Series:
    return derive(frame[spec.column], spec.derive)


def in_test_set(frame: pd.DataFrame, spec: ProjectSpec) -> np.ndarray:
    """The project's split rule: a hash of the key below the test fraction, or after the cutoff."""
    rule = spec.split
    if rule.method == "time":
        assert spec.time_column is not None and rule.cutoff is not None
        return np.asarray(frame[spec.time_column] > pd.Timestamp(rule.cutoff), dtype=bool)
    keys = frame[rule.key].astype(str)
    fractions = [
        int.from_bytes(hashlib.blake2b(f"{rule.seed}:{k}".encode(), digest_size=8).digest(), "big")
        / 2**64
        for k in keys
    ]
    return np.asarray(fractions) < rule.test_fraction


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
    rows = load_rows(ws, dataset)
    rows[spec.id_column] = rows[spec.id_column].astype(str)
    joined = rows.merge(
        labels[["item_id", "label", "spans"]], left_on=spec.id_column, right_on="item_id"
    )
    if joined.empty:
        raise InvalidInput(f"{label_set.ref} labels no item of {dataset.ref}.")
    joined = joined.sort_values(spec.id_column, kind="stable").reset_index(drop=True)
    spans = [from_dicts(json.loads(s)) for s in joined["spans"]]
    frame = joined.drop(columns=["item_id", "label", "spans"])
    return TrainingData(
        frame, joined["label"].astype(str), spans, in_test_set(frame, spec), dataset, label_set
    )
