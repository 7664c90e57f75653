"""What is typical: per-group ranges of numeric columns, to mark an item's unusual values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.artifacts.models import Artifact
from core.data.service import dataset_rows_path
from core.store import Workspace

LOW, HIGH = 0.02, 0.98


@dataclass(frozen=True)
class Typical:
    low: float
    median: float
    high: float


_CACHE: dict[tuple[str, str | None, tuple[str, ...]], dict[str, dict[str, Typical]]] = {}


def typical_ranges(
    ws: Workspace, dataset: Artifact, columns: Sequence[str], within: str | None
) -> dict[str, dict[str, Typical]]:
    """group value (or "*") -> column -> 2nd percentile, median, 98th percentile."""
    key = (dataset.file("rows").blob_hash, within, tuple(columns))
    if key in _CACHE:
        return _CACHE[key]
    if not columns:
        return {}
    path = str(dataset_rows_path(ws, dataset))
    parts = ", ".join(
        f'quantile_cont("{c}", [{LOW}, 0.5, {HIGH}])'
        for c in columns  # names come from the project spec
    )
    group = f'CAST("{within}" AS VARCHAR)' if within else "'*'"
    with ws.store.read() as tx:
        rows = tx.rows(f"SELECT {group}, {parts} FROM read_parquet(?) GROUP BY ALL", [path])
    out: dict[str, dict[str, Typical]] = {}
    for row in rows:
        out[str(row[0])] = {
            c: Typical(*q) for c, q in zip(columns, row[1:], strict=True) if q and None not in q
        }
    _CACHE[key] = out
    return out


def unusual_values(
    fields: Mapping[str, Any], ranges: Mapping[str, Mapping[str, Typical]], within: str | None
) -> dict[str, str]:
    """column -> a short reason, for values outside the typical range of the item's group."""
    group = str(fields.get(within)) if within else "*"
    typical = ranges.get(group) or {}
    notes: dict[str, str] = {}
    for column, band in typical.items():
        value = fields.get(column)
        if not isinstance(value, int | float) or value != value:
            continue
        where = f" for {group}" if within else ""
        if value > band.high:
            notes[column] = f"high{where} (typical {band.low:.3g}–{band.high:.3g})"
        elif value < band.low:
            notes[column] = f"low{where} (typical {band.low:.3g}–{band.high:.3g})"
    return notes
