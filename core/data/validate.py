"""Checking a table against the project's schema and converting it to typed columns.

Every problem names the row (as the file counts it), the column, what is wrong and what was
expected; the list is capped but counted. A table with any problem is refused as a whole.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def _text(series: pd.Series) -> pa.ChunkedArray | pa.Array | None:
    """The series' cells as Arrow strings when it already holds them (a CSV file's columns do):
    the checks below then run in Arrow's compute kernels instead of pandas' Python-level paths."""
    if isinstance(series.array, pd.arrays.ArrowStringArray):
        return pa.array(series.array)  # the array's own chunks, not a copy
    return None


def _blank(series: pd.Series) -> np.ndarray:
    text = _text(series)
    if text is not None:  # the test below without copying the strings: empty or all spaces
        empty = pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))
        return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)
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
    unexpected = [c for c in present if c not in spec.column_names]
    for column in missing:
        if column.required or column.name == spec.id_column:
            problems.add(
                RowProblem(
                    None,
                    column.name,
                    "required column is missing from the header"
                    + _closest(column.name, unexpected),
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
    _duplicate_ids(typed[spec.id_column], spec.id_column, problems)
    frame = pd.DataFrame(typed, copy=False)  # the converted columns as they are, no copy
    if problems.count:
        frame = pd.DataFrame()
    listed = sorted(problems.listed, key=lambda p: p.row or 0)
    return Validation(frame, tuple(listed), problems.count, tuple(warnings))


def _closest(name: str, unexpected: list[str]) -> str:
    """The header's columns that the schema does not know, the likeliest one first, as a clause
    for the missing-column problem (a renamed or misspelt column is the usual cause)."""
    if not unexpected:
        return ""
    folded = {c.lower().replace(" ", "_").replace("-", "_"): c for c in unexpected}
    near = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
    listed = ", ".join(repr(c) for c in unexpected[:10]) + (
        f" (+{len(unexpected) - 10} more)" if len(unexpected) > 10 else ""
    )
    guess = f"; did you mean {folded[near[0]]!r}?" if near else ""
    return f"; the header has columns the schema does not: {listed}{guess}"


def _duplicate_ids(ids: pd.Series, id_column: str, problems: _Problems) -> None:
    """Each repeated id after its first row is a problem naming the first row."""
    text = _text(ids)
    if text is not None and _all_different(text):
        return
    dup = np.asarray(ids.duplicated(keep="first") & ids.notna(), dtype=bool)
    if not dup.any():
        return
    first_row = {value: i for i, value in reversed(list(enumerate(ids)))}
    for index in np.flatnonzero(dup):
        value = ids.iloc[index]
        problems.add(
            RowProblem(
                int(index) + problems.offset,
                id_column,
                f"duplicate id {value!r} (first on row {first_row[value] + problems.offset})",
                "a unique id per row",
            )
        )


def _all_different(text: pa.ChunkedArray | pa.Array) -> bool:
    """No id repeats: the ids in increasing order (a file written in id order: 0.01 s for 1M
    ids), else Arrow's count of distinct ids (0.4 s; 20x faster than finding the repeats)."""
    present = pc.drop_null(text)
    if isinstance(present, pa.ChunkedArray):
        present = present.combine_chunks()
    if len(present) < 2 or pc.all(pc.less(present[:-1], present[1:])).as_py():
        return True
    return bool(pc.count_distinct(present).as_py() == len(present))


def _convert(series: pd.Series, column: Column, problems: _Problems) -> pd.Series:
    blank = _blank(series)
    if column.required and blank.any():
        problems.add_mask(blank, series, column.name, "empty value in a required column", "a value")
    kind = column.type
    if kind in ("string", "text"):
        return _strings(series, blank, strip=kind == "string")
    if kind == "category":
        return _categories(series, blank, column, problems)
    if kind in ("integer", "number"):
        values = _clean_numbers(series, blank)
        if values is None:
            values = _numbers(series, blank, column, problems)
        return _checked_numbers(values, series, column, problems)
    if kind == "boolean":
        return _booleans(series, blank, column, problems)
    if kind == "datetime":
        stamps = _clean_times(series, blank)
        return stamps if stamps is not None else _times(series, blank, column, problems)
    raise AssertionError(kind)


def _arrow_strings(values: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow strings as the ``string`` column pandas' ``astype("string")`` makes."""
    chunks = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    return pd.Series(pd.arrays.ArrowStringArray(chunks), index=index)


def _strings(series: pd.Series, blank: np.ndarray, *, strip: bool) -> pd.Series:
    text = _text(series)
    if text is not None:
        kept = pc.utf8_trim_whitespace(text) if strip else text
        return _arrow_strings(pc.if_else(pa.array(blank), None, kept), series.index)
    out = series.astype("string").where(~blank, None)
    if strip:
        out = out.str.strip()
    return out.astype("string")


def _categories(
    series: pd.Series, blank: np.ndarray, column: Column, problems: _Problems
) -> pd.Series:
    allowed = list(column.values or ())
    text = _text(series)
    if text is not None:
        trimmed = pc.utf8_trim_whitespace(text)
        known = pc.is_in(trimmed, value_set=pa.array(allowed, trimmed.type))
        bad = ~np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool) & ~blank
        out = _arrow_strings(pc.if_else(pa.array(blank), None, trimmed), series.index)
    else:
        out = series.astype("string").str.strip().where(~blank, None).astype("string")
        bad = np.asarray(~out.isin(set(allowed)), dtype=bool) & ~blank
    if bad.any():
        problems.add_mask(
            bad,
            series,
            column.name,
            "value {value!r} is not an allowed category",
            f"one of: {', '.join(allowed[:12])}",
        )
    return out


def _clean_numbers(series: pd.Series, blank: np.ndarray) -> np.ndarray | None:
    """Every non-empty cell read by Arrow as a finite number (NaN for the empty ones), or None
    when any cell needs the careful reading below: text Arrow does not take as a number (spaces
    around it, a decimal comma, a word), NaN or infinity."""
    text = _text(series)
    if text is None:
        return None
    try:
        parsed = pc.cast(pc.if_else(pa.array(blank), None, text), pa.float64())
    except pa.ArrowInvalid:
        return None
    values = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)
    if not np.isfinite(values[~blank]).all():
        return None
    if np.signbit(values[values == 0]).any() and _whole_numbers_only(text, blank):
        values = values + 0.0  # pandas reads a column of whole numbers as integers: -0 is 0
    return values


def _whole_numbers_only(text: pa.ChunkedArray | pa.Array, blank: np.ndarray) -> bool:
    whole = pc.match_substring_regex(text, r"^[-+]?\d+$")
    return bool(np.asarray(whole.to_numpy(zero_copy_only=False), dtype=bool)[~blank].all())


def _numbers(
    series: pd.Series, blank: np.ndarray, column: Column, problems: _Problems
) -> np.ndarray:
    """The careful reading: each cell that is not a finite number is named, and why."""
    name, kind = column.name, column.type
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
    return np.asarray(values, dtype=np.float64)


def _checked_numbers(
    values: np.ndarray, series: pd.Series, column: Column, problems: _Problems
) -> pd.Series:
    """Whole numbers where the column needs them, and the column's range."""
    name = column.name
    finite = np.isfinite(values)
    if column.type == "integer":
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
    if column.type == "integer":
        whole = np.round(np.where(finite, values, 0.0))
        if np.abs(whole).max(initial=0.0) < 2.0**63:  # pandas' reading below, without its copies
            integers = pd.arrays.IntegerArray(whole.astype(np.int64), ~finite)
            return pd.Series(integers, index=series.index)
        return pd.Series(clean, index=series.index).round().astype("Int64")
    return pd.Series(clean, index=series.index, dtype="float64")


def _booleans(
    series: pd.Series, blank: np.ndarray, column: Column, problems: _Problems
) -> pd.Series:
    text = series.astype("string").str.strip().str.lower()
    truthy = np.asarray(text.isin(_TRUE), dtype=bool)
    falsy = np.asarray(text.isin(_FALSE), dtype=bool)
    bad = ~(truthy | falsy) & ~blank
    if bad.any():
        problems.add_mask(
            bad,
            series,
            column.name,
            "{value!r} is not a yes/no value",
            "true/false, yes/no or 1/0",
        )
    flags = pd.Series(truthy, index=series.index).astype("boolean")
    return flags.mask(pd.Series(blank, index=series.index))


# ISO 8601 as pandas reads it too: a date, optionally a time to the microsecond, optionally a zone
_ISO_TIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$"
)
_ZONED = r"(Z|[+-]\d\d:\d\d)$"


def _clean_times(series: pd.Series, blank: np.ndarray) -> pd.Series | None:
    """Every non-empty cell read by Arrow as an ISO 8601 time (UTC, naive), or None when any cell
    needs pandas' reading below: another form, an impossible date, zoned and unzoned times mixed."""
    text = _text(series)
    if text is None:
        return None
    given = pc.if_else(pa.array(blank), None, text)
    if pc.any(pc.invert(pc.match_substring_regex(given, _ISO_TIME))).as_py():
        return None
    if pc.all(pc.ends_with(given, "Z")).as_py() is not False:  # the usual export: all in UTC
        with_zone, without = True, False
    else:
        zoned = pc.match_substring_regex(given, _ZONED)
        with_zone, without = pc.any(zoned).as_py(), pc.any(pc.invert(zoned)).as_py()
    if with_zone and without:
        return None
    try:
        stamps = pc.cast(given, pa.timestamp("us", "UTC") if with_zone else pa.timestamp("us"))
    except pa.ArrowInvalid:
        return None
    naive = pc.cast(stamps, pa.timestamp("us"))
    return pd.Series(naive.to_numpy(zero_copy_only=False), index=series.index).astype(
        "datetime64[us]"
    )


def _times(series: pd.Series, blank: np.ndarray, column: Column, problems: _Problems) -> pd.Series:
    stamps = pd.to_datetime(series.where(~blank, None), errors="coerce", utc=True, format="ISO8601")
    bad = np.asarray(stamps.isna(), dtype=bool) & ~blank
    if bad.any():
        problems.add_mask(
            bad,
            series,
            column.name,
            "{value!r} is not a date/time",
            "ISO 8601, e.g. 2026-05-03T09:14:00Z",
        )
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")


def _num(value: float | None, otherwise: str) -> str:
    if value is None:
        return otherwise
    return str(int(value)) if float(value).is_integer() else str(value)
