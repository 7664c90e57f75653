"""A dataset version written out whole, as CSV (safe to open in a spreadsheet) or Parquet."""

from __future__ import annotations

import io
import math
from datetime import datetime

import numpy as np
import pandas as pd

from core.accounts.access import readable
from core.artifacts.service import get_artifact
from core.data.service import load_rows
from core.errors import InvalidInput, expected_one_of
from core.safe_csv import to_csv
from core.store import Workspace

EXPORT_FORMATS = ("csv", "parquet")


def export_dataset(ws: Workspace, ref: int | str, fmt: str = "csv") -> bytes:
    """The rows of dataset version ``ref`` (an id or ``dataset:<project>[@version]``) in id
    order: CSV (UTF-8 with a BOM; text a spreadsheet would run as a formula is quoted) or
    Parquet (the stored types)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(expected_one_of("export format", fmt, EXPORT_FORMATS))
    dataset = get_artifact(ws, ref)
    if dataset.kind != "dataset":
        raise InvalidInput(
            f"{dataset.ref} is a {dataset.kind}, not a dataset version.",
            hint="name a dataset, e.g. dataset:PROJECT or its artifact id",
        )
    readable(ws, None, "data.read", dataset.project)
    rows = load_rows(ws, dataset)
    if fmt == "parquet":
        buffer = io.BytesIO()
        rows.to_parquet(buffer, index=False, compression="zstd")
        return buffer.getvalue()
    return to_csv(list(rows.columns), ([_cell(v) for v in row] for row in rows.itertuples(False)))


def _cell(value: object) -> object:
    """A value as the CSV writes it: missing is empty, times ISO 8601, booleans lowercase."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value
