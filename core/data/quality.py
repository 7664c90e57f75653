"""The data-quality report made at every ingest: per column, and against the previous version."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.projects.spec import ProjectSpec


def quality_report(
    new_rows: pd.DataFrame,
    spec: ProjectSpec,
    previous: pd.DataFrame | None,
    warnings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Missing values, duplicates, values outside the previous version's range, new categories."""
    columns: list[dict[str, Any]] = []
    for column in spec.columns:
        series = new_rows[column.name]
        missing = int(series.isna().sum())
        entry: dict[str, Any] = {
            "column": column.name,
            "type": column.type,
            "missing": missing,
            "missing_rate": round(missing / len(series), 6) if len(series) else 0.0,
            "distinct": _distinct(series, column.type),
        }
        if column.type in ("integer", "number"):
            values = series.astype("float64")
            if values.notna().any():
                entry.update(
                    min=float(values.min()), max=float(values.max()), mean=float(values.mean())
                )
            if (
                previous is not None
                and column.name in previous
                and previous[column.name].notna().any()
            ):
                low = float(previous[column.name].astype("float64").min())
                high = float(previous[column.name].astype("float64").max())
                entry["outside_previous_range"] = int(((values < low) | (values > high)).sum())
        categorical = column.type == "category" or (
            column.type == "string" and entry["distinct"] <= 1000
        )
        if categorical and previous is not None and column.name in previous:
            seen = set(previous[column.name].dropna().unique().astype(str))
            fresh = sorted(set(series.dropna().unique().astype(str)) - seen)
            if column.type == "category" or len(fresh) <= 20:
                entry["new_categories"] = fresh[:20]
                entry["new_category_rows"] = int(series.astype("string").isin(fresh).sum())
        columns.append(entry)
    content = [c.name for c in spec.columns if c.name != spec.id_column]
    distinct = {entry["column"]: entry["distinct"] for entry in columns}
    duplicated_content = _duplicate_content_rows(new_rows, content, distinct)
    replaced = 0
    if previous is not None:
        replaced = int(new_rows[spec.id_column].isin(previous[spec.id_column].dropna()).sum())

    span: dict[str, str] = {}
    if spec.time_column and new_rows[spec.time_column].notna().any():
        span = {
            "from": str(new_rows[spec.time_column].min()),
            "to": str(new_rows[spec.time_column].max()),
        }
    return {
        "rows": len(new_rows),
        "duplicate_content_rows": duplicated_content,
        "ids_already_in_previous_version": replaced,
        "time_range": span,
        "warnings": list(warnings),
        "columns": columns,
    }


def _distinct(series: pd.Series, kind: str) -> int:
    """The count of distinct values, missing ones left out (``nunique``). Numbers and times are
    counted by sorting them (4-7x faster than pandas' hashing when most values differ: a
    measurement, a timestamp); text already in order (an id column, often) by comparing
    neighbours; other text by hashing."""
    sortable = {
        "number": ("float64",),
        "integer": ("Int64", "int64"),
        "datetime": ("datetime64[us]",),
    }
    if str(series.dtype) in sortable.get(kind, ()):  # as the checks make them
        missing = np.asarray(series.isna(), dtype=bool)
        if kind == "number":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif kind == "integer":
            values = series.to_numpy(dtype=np.int64, na_value=0)
        else:
            values = series.to_numpy().view(np.int64)
        ordered = np.sort(values[~missing] if missing.any() else values)
        return int(len(ordered) > 0) + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
    if isinstance(series.array, pd.arrays.ArrowStringArray):
        text = pc.drop_null(pa.array(series.array))
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if len(text) == 0:
            return 0
        earlier, later = text[:-1], text[1:]
        if pc.all(pc.less_equal(earlier, later)).as_py() is not False:
            return 1 + int(pc.sum(pc.not_equal(earlier, later)).as_py() or 0)
    return int(series.nunique(dropna=True))


def _duplicate_content_rows(
    rows: pd.DataFrame, content: list[str], distinct: dict[str, int]
) -> int:
    """Rows whose content (every column but the id) repeats an earlier row's. Only rows whose
    value in the most varied column repeats can repeat a whole row, so the rows are compared on
    those alone: none when that column is a key (a log id, a free text), ~20x faster than
    comparing all rows."""
    if not content:
        return 0
    keyed = max(content, key=lambda name: distinct[name])
    if distinct[keyed] == len(rows):  # a key: each row's value differs, none missing
        return 0
    candidates = rows[keyed].duplicated(keep=False).to_numpy()
    if not candidates.any():
        return 0
    return int(rows.loc[candidates, content].duplicated().sum())


def quality_flags(report: dict[str, Any]) -> list[str]:
    """The few lines worth a look, for the CLI and the Home page."""
    flags: list[str] = []
    for column in report["columns"]:
        if column["missing_rate"] > 0.05:
            flags.append(f"{column['column']}: {column['missing_rate']:.1%} missing")
        if column.get("new_categories"):
            flags.append(
                f"{column['column']}: new values {', '.join(column['new_categories'][:5])}"
            )
        if outside := column.get("outside_previous_range"):
            flags.append(
                f"{column['column']}: {_count(outside, 'value')} outside the previous range"
            )
    if repeated := report["duplicate_content_rows"]:
        flags.append(
            f"{_count(repeated, 'row')} {'repeats' if repeated == 1 else 'repeat'} "
            "another row's content"
        )
    return flags + list(report["warnings"])


def _count(n: int, noun: str) -> str:
    return f"1 {noun}" if n == 1 else f"{n:,} {noun}s"
