"""A slice's value for each row, as the project file defines it: a column's own values, a
derivation (the e-mail domain; the week, month, quarter, half or year of a time) or numeric bins.

``slice_values`` computes them over a DataFrame (training, evaluation); ``slice_sql`` writes the
same as a DuckDB expression (monitoring over the prediction log), so both agree value for value.
"""

from __future__ import annotations

import itertools

import pandas as pd

from core.errors import InvalidInput, expected_one_of
from core.projects.spec import DERIVATIONS, SliceSpec

MISSING = "(missing)"


def slice_values(values: pd.Series, spec: SliceSpec) -> pd.Series:
    """Each row's value of the slice ``spec`` (``(missing)`` where the column is empty)."""
    if spec.bins is not None:
        return _binned(values, spec.bins)
    return derive(values, spec.derive)


def derive(values: pd.Series, how: str | None) -> pd.Series:
    """A column's values as they are, or derived (``email_domain``, ``week`` … ``year``)."""
    if how is None:
        return values.astype("string").fillna(MISSING)
    if how == "email_domain":
        return values.astype("string").str.lower().str.rsplit("@", n=1).str[-1].fillna(MISSING)
    if how not in DERIVATIONS:
        raise InvalidInput(expected_one_of("derivation", how, DERIVATIONS))
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    year = stamps.dt.year.astype("Int64").astype("string")
    if how == "week":
        iso = stamps.dt.isocalendar()
        text = (
            iso["year"].astype("Int64").astype("string")
            + "-W"
            + iso["week"].astype("Int64").astype("string").str.zfill(2)
        )
    elif how == "month":
        text = stamps.dt.strftime("%Y-%m").astype("string")
    elif how == "quarter":
        text = year + "-Q" + stamps.dt.quarter.astype("Int64").astype("string")
    elif how == "half":
        half = (stamps.dt.month > 6).astype("Int64") + 1
        text = year + "-H" + half.astype("string")
    else:
        text = year
    return text.where(stamps.notna()).astype("string").fillna(MISSING)


def bin_labels(edges: tuple[float, ...]) -> list[str]:
    """The names of the bins, lowest first: ``< 18``, ``18–65``, ``≥ 65``."""
    shown = [_number(e) for e in edges]
    middle = [f"{a}–{b}" for a, b in itertools.pairwise(shown)]
    return [f"< {shown[0]}", *middle, f"≥ {shown[-1]}"]


def _binned(values: pd.Series, edges: tuple[float, ...]) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype("Float64")
    names = bin_labels(edges)
    out = pd.Series(MISSING, index=values.index, dtype="string")
    for index, name in enumerate(names):
        low = edges[index - 1] if index > 0 else None
        high = edges[index] if index < len(edges) else None
        mask = numbers.notna()
        if low is not None:
            mask &= numbers >= low
        if high is not None:
            mask &= numbers < high
        out[mask.fillna(False).to_numpy(dtype=bool)] = name
    return out


def slice_sql(value: str, spec: SliceSpec) -> str:
    """The slice as a DuckDB expression over ``value`` (a quoted column), ``(missing)`` for
    NULL. Bin edges are numbers from the project file, written as SQL numbers."""
    text = f"CAST({value} AS VARCHAR)"
    stamp = f"TRY_CAST({value} AS TIMESTAMP)"
    if spec.bins is not None:
        number = f"TRY_CAST({value} AS DOUBLE)"
        names = bin_labels(spec.bins)
        cases = " ".join(
            f"WHEN {number} < {edge!r} THEN '{name}'"
            for edge, name in zip(spec.bins, names, strict=False)
        )
        expression = f"CASE WHEN {number} IS NULL THEN NULL {cases} ELSE '{names[-1]}' END"
    elif spec.derive is None:
        expression = text
    elif spec.derive == "email_domain":
        expression = f"lower(regexp_extract({text}, '[^@]*$'))"
    elif spec.derive == "week":
        expression = f"strftime({stamp}, '%G-W%V')"
    elif spec.derive == "month":
        expression = f"strftime({stamp}, '%Y-%m')"
    elif spec.derive == "quarter":
        expression = f"strftime({stamp}, '%Y') || '-Q' || CAST(quarter({stamp}) AS VARCHAR)"
    elif spec.derive == "half":
        expression = (
            f"strftime({stamp}, '%Y') || '-H' || CASE WHEN month({stamp}) > 6 THEN '2' ELSE '1' END"
        )
    elif spec.derive == "year":
        expression = f"strftime({stamp}, '%Y')"
    else:
        raise InvalidInput(expected_one_of("derivation", spec.derive, DERIVATIONS))
    return f"coalesce({expression}, '{MISSING}')"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
