"""Labeled rows without a workspace: a dataset's rows joined with a label set's labels, the
project's split rule and its slices.

Everything here takes DataFrames (a dataset version's rows, a label set's ``labels.parquet``) and
returns DataFrames, so a CI runner that downloaded those files trains and evaluates exactly as the
workspace does (core/ml/data.py reads the same files from the store and calls these functions).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.projects import slicing
from core.projects.spec import ProjectSpec, SliceSpec
from core.spans.detect import Span, from_dicts


def derive(values: pd.Series, how: str | None) -> pd.Series:
    """A slice column's values: as they are, or derived (``email_domain``, ``week`` … ``year``)."""
    return slicing.derive(values, how)


def slice_values(frame: pd.DataFrame, spec: SliceSpec) -> pd.Series:
    """Each row's value of the slice ``spec``: derived, binned or as it is."""
    return slicing.slice_values(frame[spec.column], spec)


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


class LabeledRows(Protocol):
    """Rows with their labels and gold spans (``TrainingData`` and ``Labeled`` both are)."""

    @property
    def frame(self) -> pd.DataFrame: ...

    @property
    def labels(self) -> pd.Series: ...

    @property
    def spans(self) -> list[list[Span]]: ...


@dataclass(frozen=True)
class Labeled:
    """Rows of a dataset that a label set labels, with their labels, spans and test-split flags."""

    frame: pd.DataFrame
    labels: pd.Series
    spans: list[list[Span]]
    test: np.ndarray

    def part(self, test: bool) -> Labeled:
        mask = self.test if test else ~self.test
        return Labeled(
            self.frame[mask].reset_index(drop=True),
            self.labels[mask].reset_index(drop=True),
            [s for s, m in zip(self.spans, mask, strict=True) if m],
            np.zeros(int(mask.sum()), dtype=bool) | test,
        )


def join_labels(rows: pd.DataFrame, labels: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """The rows that ``labels`` label, each with its ``label`` and ``spans`` (JSON), in id order."""
    rows = rows.copy()
    rows[spec.id_column] = rows[spec.id_column].astype(str)
    joined = rows.merge(
        labels[["item_id", "label", "spans"]], left_on=spec.id_column, right_on="item_id"
    )
    return joined.sort_values(spec.id_column, kind="stable").reset_index(drop=True)


def labeled(joined: pd.DataFrame, spec: ProjectSpec) -> Labeled:
    """``join_labels``'s rows as features, labels, spans and the split."""
    frame = joined.drop(columns=["item_id", "label", "spans"])
    return Labeled(
        frame,
        joined["label"].astype(str),
        [from_dicts(json.loads(s)) for s in joined["spans"]],
        in_test_set(frame, spec),
    )


def training_rows(
    rows: pd.DataFrame, labels: pd.DataFrame, spec: ProjectSpec, *, label_set: str, dataset: str
) -> Labeled:
    """A label set's items on its dataset version (``label_set``, ``dataset``: their refs, for
    the error when it labels none)."""
    joined = join_labels(rows, labels, spec)
    if joined.empty:
        raise InvalidInput(f"{label_set} labels no item of {dataset}.")
    return labeled(joined, spec)


def project_test_rows(
    rows: pd.DataFrame, label_sets: list[pd.DataFrame], spec: ProjectSpec
) -> Labeled:
    """The project's test set: every frozen label (the newest for each item; ``label_sets`` oldest
    first) whose item the split rule puts in the test set, on ``rows`` (the latest dataset)."""
    labels = pd.concat(label_sets, ignore_index=True).drop_duplicates("item_id", keep="last")
    joined = join_labels(rows, labels, spec)
    return labeled(joined[in_test_set(joined, spec)].reset_index(drop=True), spec)
