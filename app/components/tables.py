"""Tables for people: st.dataframe draws a missing cell as ``None`` whatever a Styler's ``na_rep``
says, so the pages that must not show it pass their frames through ``shown`` first."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MISSING = "—"


def shown(frame: pd.DataFrame, precision: int = 3, *, counts: bool = False) -> pd.DataFrame:
    """``frame`` with floats rounded to ``precision`` digits as text and missing values as '—';
    columns without a missing value and without floats keep their type (ids stay numbers). With
    ``counts``, a column of whole numbers reads as counts (21, not 21.000)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        missing = values.isna()
        floats = pd.api.types.is_float_dtype(values.dtype) or any(
            isinstance(v, float) for v in values
        )
        if not missing.any() and not floats:
            continue
        whole = (
            counts
            and floats
            and all(  # counts read as counts: 21, not 21.000
                float(v).is_integer() for v in values[~missing] if isinstance(v, float | int)
            )
        )
        out[column] = [cell(v, 0 if whole else precision) for v in values]
    return out


def cell(value: Any, precision: int = 3) -> Any:
    """One value as ``shown`` writes it (a list as its items joined by commas)."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(cell(v, precision)) for v in value) or MISSING
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        if value.is_integer() and (abs(value) >= 100 or precision == 0):  # 207,970 not 207970.000
            return f"{value:,.0f}"
        return f"{value:.{precision}f}"
    return str(value) if not isinstance(value, bool) else value
