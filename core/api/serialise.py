"""Any result of the public API as JSON-ready values, for a remote transport.

Dataclasses become objects of their fields (fields hidden from ``repr``, such as an actor's
token, are left out), datetimes ISO 8601 text, DataFrames a list of records (a meaningful index
becomes columns), bytes base64 text, NaN and infinities null, errors their message and hint."""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from core.errors import CoreError

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]


def serialise(value: Any) -> Json:
    """``value`` as plain JSON values (``json.dumps`` takes the result as it is)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | np.number | np.bool_):
        return _number(value)
    if isinstance(value, datetime | date | time | pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, timedelta | pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return serialise(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, pd.DataFrame):
        return _records(value)
    if isinstance(value, pd.Series | pd.Index):
        return [serialise(v) for v in value.tolist()]
    if isinstance(value, np.ndarray):
        return [serialise(v) for v in value.tolist()]
    if isinstance(value, CoreError):
        return {"error": type(value).__name__, "message": value.message, "hint": value.hint}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: serialise(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr
        }
    if isinstance(value, Mapping):
        return {_key(k): serialise(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [serialise(v) for v in items]
    raise TypeError(f"serialise: no JSON form for {type(value).__name__}")


def _number(value: Any) -> int | float | bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def _records(frame: pd.DataFrame) -> list[Json]:
    """One object per row; a named or non-default index becomes leading columns."""
    if not isinstance(frame.index, pd.RangeIndex) or any(n is not None for n in frame.index.names):
        frame = frame.reset_index()
    columns = [_key(c) for c in frame.columns]
    return [
        {column: serialise(cell) for column, cell in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    shown = serialise(key)
    return shown if isinstance(shown, str) else str(shown)
