"""A dataset's content hash: over typed rows in id order, independent of the file it came from.

The same rows hash the same whether they arrived as CSV, Parquet or JSONL, in any row order, in any
text encoding. Every column contributes its name, type and a fixed byte form of its values.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.projects.spec import ProjectSpec

VERSION = b"loopline-dataset-hash-v1"


def sort_rows(frame: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    return frame.sort_values(spec.id_column, kind="stable").reset_index(drop=True)


def dataset_hash(frame: pd.DataFrame, spec: ProjectSpec) -> str:
    """``frame`` is typed and sorted (see :func:`sort_rows`)."""
    digest = hashlib.sha256(VERSION)
    digest.update(len(frame).to_bytes(8, "little"))
    for column in spec.columns:
        series = frame[column.name]
        digest.update(f"\x1d{column.name}\x1f{column.type}\x1d".encode())
        digest.update(_column_bytes(series, column.type))
    return digest.hexdigest()


def _joined(series: pd.Series) -> bytes:
    """The values as UTF-8, separated by \\x1e, a missing one as \\x00: joined by Arrow, not
    through a Python string per cell."""
    values = pc.fill_null(pa.array(series.astype("string").array), "\x00")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    return bytes(pc.binary_join(whole, pa.scalar("\x1e", pa.large_string()))[0].as_buffer())


def _column_bytes(series: pd.Series, kind: str) -> bytes:
    nulls = np.asarray(series.isna(), dtype=np.uint8)
    if kind in ("string", "text", "category"):
        return nulls.tobytes() + _joined(series)
    if kind in ("integer", "boolean"):
        numbers = series.astype("Int64").fillna(0).to_numpy(dtype=np.int64)
        return nulls.tobytes() + numbers.astype("<i8").tobytes()
    if kind == "number":
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        floats = np.where(np.isnan(floats), 0.0, floats) + 0.0  # -0.0 → 0.0
        return nulls.tobytes() + floats.astype("<f8").tobytes()
    if kind == "datetime":
        stamps = (
            series.astype("datetime64[us]").to_numpy().astype("datetime64[us]").astype(np.int64)
        )
        return nulls.tobytes() + np.where(nulls.astype(bool), 0, stamps).astype("<i8").tobytes()
    raise AssertionError(kind)
