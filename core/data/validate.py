"""Checking a table against the project's schema and converting it to typed columns.

Every problem names the row (as the file counts it), the column, what is wrong and what was
expected; the list is capped but counted. A table with any problem is refused as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.projects.spec import Column, ProjectSpec

MAX_LISTED = 50
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class RowProblem:
    row: int | None  # the file's row number (header = row 1 for CSV), None for the whole file
    column: str | None
    problem: str
    expected: str

    def __str__(self) -> str:
        where = ", ".join(
            p for p in (f"row {self.row}" if self.row else "", self.column or "") if p
        )
        return (
            f"{where}: {self.problem} (expected {self.expected})"
            if where
            else f"{self.problem} (expected {self.expected})"
        )


@dataclass(frozen=True)
class Validation:
    frame: pd.DataFrame  # typed, in schema order, only when there are no problems
    problems: tuple[RowProblem, ...]
    problem_count: int
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class _Problems:
    def __init__(self, row_offset: int) -> None:
        self.listed: list[RowProblem] = []
        self.count = 0
        self.offset = row_offset

    def add_mask(
        self, mask: np.ndarray, values: pd.Series, column: str, problem: str, expected: str
    ) -> None:
        hits = np.flatnonzero(mask)
        self.count += len(hits)
        for index in hits[: max(0, MAX_LISTED - len(self.listed))]:
            shown = str(values.iloc[index])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            self.listed.append(
                RowProblem(int(index) + self.offset, column, problem.format(value=shown), expected)
            )

    def add(self, problem: RowProblem) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(problem)


def _blank(series: pd.Series) -> np.ndarray:
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        text = series.astype("string")
        return np.asarray(text.isna() | (text.str.strip() == ""), dtype=bool)
    return np.asarray(series.isna(), dtype=bool)


def validate_table(raw: pd.DataFrame, spec: ProjectSpec, *, row_offset: int = 2) -> Validation:
    """``row_offset`` turns a 0-based index into the file's row number (2 for a CSV with a header)."""
    problems = _Problems(row_offset)
    warnings: list[str] = []
    raw = raw.reset_index(drop=True)
    present = [str(c) for c in raw.columns]
    raw.columns = present
    duplicates = sorted({c for c in present if present.count(c) > 1})
    if duplicates:
        problems.add(
            RowProblem(
                None, duplicates[0], "the header names this column twice", "each column once"
            )
        )
    missing = [c for c in spec.columns if c.name not in present]
    for column in missing:
        if column.required or column.name == spec.id_column:
            problems.add(
                RowProblem(
                    None,
                    column.name,
                    "required column is missing from the header",
                    f"a column named {column.name!r}",
                )
            )
        else:
            warnings.append(f"column {column.name!r} is not in the file; it is left empty")
    extra = [c for c in present if c not in spec.column_names]
    if extra:
        warnings.append(
            f"columns not in the project schema were dropped: {', '.join(extra[:10])}"
            + (f" (+{len(extra) - 10} more)" if len(extra) > 10 else "")
        )
    if problems.count:
        return Validation(pd.DataFrame(), tuple(problems.listed), problems.count, tuple(warnings))
    typed: dict[str, pd.Series] = {}
    for column in spec.columns:
        series = (
            raw[column.name]
            if column.name in present
            else pd.Series([None] * len(raw), dtype=object)
        )
        typed[column.name] = _convert(series, column, problems)
    ids = typed[spec.id_column]
    dup = np.asarray(ids.duplicated(keep="first") & ids.notna(), dtype=bool)
    if dup.any():
        first_row = {value: i for i, value in reversed(list(enumerate(ids)))}
        for index in np.flatnonzero(dup):
            value = ids.iloc[index]
            problems.add(
                RowProblem(
                    int(index) + row_offset,
                    spec.id_column,
                    f"duplicate id {value!r} (first on row {first_row[value] + row_offset})",
                    "a unique id per row",
                )
            )
    frame = pd.DataFrame(typed)
    if problems.count:
        frame = pd.DataFrame()
    listed = sorted(problems.listed, key=lambda p: p.row or 0)
    return Validation(frame, tuple(listed), problems.count, tuple(warnings))


def _convert(series: pd.Series, column: Column, problems: _Problems) -> pd.Series:
    blank = _blank(series)
    name = column.name
    required = column.required
    if required and blank.any():
        problems.add_mask(blank, series, name, "empty value in a required column", "a value")
    kind = column.type
    if kind in ("string", "text"):
        out = series.astype("string").where(~blank, None)
        if kind == "string":
            out = out.str.strip()
        return out.astype("string")
    if kind == "category":
        out = series.astype("string").str.strip().where(~blank, None)
        allowed = set(column.values or ())
        bad = np.asarray(~out.isin(allowed), dtype=bool) & ~blank
        if bad.any():
            shown = ", ".join(list(column.values or ())[:12])
            problems.add_mask(
                bad, series, name, "value {value!r} is not an allowed category", f"one of: {shown}"
            )
        return out.astype("string")
    if kind in ("integer", "number"):
        numbers = pd.to_numeric(series.where(~blank, None), errors="coerce").astype("float64")
        values = numbers.to_numpy()
        unparsable = np.isnan(values) & ~blank
        text = series.astype("string").str.strip().str.lower()
        special = np.asarray(
            text.isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity"]), dtype=bool
        )
        not_finite = (np.isinf(values) | (special & ~blank)) & ~blank
        unparsable &= ~not_finite
        if unparsable.any():
            comma = unparsable & np.asarray(text.str.fullmatch(r"[-+]?\d+,\d+").fillna(False))
            if comma.any():  # 1,5: a decimal comma, as a German or French export writes it
                problems.add_mask(
                    comma,
                    series,
                    name,
                    "{value!r} has a decimal comma",
                    "a number with a decimal point (1.5, not 1,5)",
                )
            problems.add_mask(
                unparsable & ~comma,
                series,
                name,
                "{value!r} is not a number",
                "a whole number" if kind == "integer" else "a number",
            )
        if not_finite.any():
            problems.add_mask(
                not_finite,
                series,
                name,
                "{value!r} is not a finite number",
                "a finite number; leave the cell empty for a missing value",
            )
        finite = np.isfinite(values)
        if kind == "integer":
            fractional = finite & (np.floor(values) != values)
            if fractional.any():
                problems.add_mask(
                    fractional, series, name, "{value!r} is not a whole number", "a whole number"
                )
        for bound, op, word in ((column.min, np.less, "below"), (column.max, np.greater, "above")):
            if bound is not None:
                outside = finite & op(np.where(finite, values, 0.0), bound)
                if outside.any():
                    problems.add_mask(
                        outside,
                        series,
                        name,
                        f"{{value}} is {word} the allowed range",
                        f"{_num(column.min, '-∞')} ≤ value ≤ {_num(column.max, '∞')}",
                    )
        clean = np.where(finite, values, np.nan)
        if kind == "integer":
            return pd.Series(clean, index=series.index).round().astype("Int64")
        return pd.Series(clean, index=series.index, dtype="float64")
    if kind == "boolean":
        text = series.astype("string").str.strip().str.lower()
        truthy = np.asarray(text.isin(_TRUE), dtype=bool)
        falsy = np.asarray(text.isin(_FALSE), dtype=bool)
        bad = ~(truthy | falsy) & ~blank
        if bad.any():
            problems.add_mask(
                bad, series, name, "{value!r} is not a yes/no value", "true/false, yes/no or 1/0"
            )
        flags = pd.Series(truthy, index=series.index).astype("boolean")
        return flags.mask(pd.Series(blank, index=series.index))
    if kind == "datetime":
        stamps = pd.to_datetime(
            series.where(~blank, None), errors="coerce", utc=True, format="ISO8601"
        )
        bad = np.asarray(stamps.isna(), dtype=bool) & ~blank
        if bad.any():
            problems.add_mask(
                bad,
                series,
                name,
                "{value!r} is not a date/time",
                "ISO 8601, e.g. 2026-05-03T09:14:00Z",
            )
        return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    raise AssertionError(kind)


def _num(value: float | None, otherwise: str) -> str:
    if value is None:
        return otherwise
    return str(int(value)) if float(value).is_integer() else str(value)
