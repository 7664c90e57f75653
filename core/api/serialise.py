"""Any result of the public API as JSON-ready values, for a remote transport.

Dataclasses become objects of their fields (fields hidden from ``repr``, such as an actor's
token, are left out), datetimes ISO 8601 text, DataFrames a list of records (a meaningful index
becomes columns), bytes base64 text, NaN and infinities null, errors their message and hint.

NumPy and pandas are not imported here: a value of theirs exists only once they are, so they are
looked up in ``sys.modules`` (``import core.api`` stays cheap for a remote client or the CLI)."""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
import sys
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from core.errors import CoreError

if TYPE_CHECKING:
    import pandas as pd

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]


class _Neither:
    """What ``_numpy_or_pandas`` returns for a value of neither library."""


NEITHER = _Neither()


def serialise(value: Any) -> Json:
    """``value`` as plain JSON values (``json.dumps`` takes the result as it is)."""
    if value is None or isinstance(value, bool | str):
        return value
    if "numpy" in sys.modules:  # pandas imports NumPy: neither is loaded without it
        shown = _numpy_or_pandas(value)
        if not isinstance(shown, _Neither):
            return shown
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return serialise(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
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


def _numpy_or_pandas(value: Any) -> Json | _Neither:
    """``value`` serialised if it is a NumPy or pandas value, else ``NEITHER``."""
    import numpy as np

    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.number):
        return _number(float(value))
    if isinstance(value, np.ndarray):
        return [serialise(v) for v in value.tolist()]
    if "pandas" not in sys.modules:
        return NEITHER
    import pandas as pd

    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, pd.DataFrame):
        return _records(value)
    if isinstance(value, pd.Series | pd.Index):
        return [serialise(v) for v in value.tolist()]
    return NEITHER


def _number(value: int | float) -> int | float | None:
    """An integer as it is, a float unless NaN or infinite (a bool is taken before)."""
    if isinstance(value, int):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def _records(frame: pd.DataFrame) -> list[Json]:
    """One object per row; a named or non-default index becomes leading columns."""
    import pandas as pd  # loaded already: ``frame`` is a DataFrame

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
