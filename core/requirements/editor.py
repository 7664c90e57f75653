"""The managers' editor: a requirement set as flat rows (one per requirement) and back, so a table
editor (the app's ``st.data_editor``) can change it; saving makes a new version of what changed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.actor import Actor
from core.requirements.models import CONTENT_FIELDS, Requirement, SaveResult, file_name
from core.requirements.parse import ML_KEYS, SYSTEM_KEYS, parse_entry
from core.requirements.service import _entry, list_requirements, save_requirements
from core.store import Workspace

# every field but the model (rarely set) and the derivation (the derivation helper edits it)
EDITABLE = (
    "id",
    "level",
    *(file_name(f) for f in CONTENT_FIELDS if f not in ("model", "derivation")),
)


def editor_rows(items: Iterable[Requirement]) -> list[dict[str, Any]]:
    """Flat rows: lists joined with '; ', absent values as None."""
    rows = []
    for item in items:
        entry = {"id": item.requirement_id, "level": item.level, **item.entry()}
        row: dict[str, Any] = {}
        for key in EDITABLE:
            value = entry.get(key)
            row[key] = ("; ".join(value) or None) if isinstance(value, list) else value
        rows.append(row)
    return rows


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def save_rows(
    ws: Workspace,
    project: str,
    rows: Sequence[Mapping[str, Any]],
    actor: Actor,
    *,
    deleted: Iterable[str] = (),
    note: str = "",
) -> SaveResult:
    """Save edited rows (changed and new ones; unchanged rows are skipped) and removals."""
    current = {r.requirement_id: r for r in list_requirements(ws, project)}
    items: list[Requirement] = []
    for index, row in enumerate(rows):
        rid = "" if _blank(row.get("id")) else str(row["id"]).strip()
        before = current.get(rid)
        level = str(row.get("level") or (before.level if before else "")).strip().lower()
        if not level:
            level = "ml" if not _blank(row.get("metric")) else "system"
        allowed = SYSTEM_KEYS if level == "system" else ML_KEYS
        entry: dict[str, Any] = dict(_entry(before)) if before is not None else {}
        for key in EDITABLE:
            if key in ("id", "level") or key not in row or key not in allowed:
                continue
            if _blank(row[key]):
                entry.pop(key, None)
                if key == "if_slice_absent":
                    entry.pop("absent_slice", None)
            else:
                entry[key] = row[key]
        if (
            before is not None
            and before.derivation
            and not _blank(row.get("threshold"))
            and before.threshold is not None
            and abs(float(row["threshold"]) - before.threshold) > 1e-12
        ):
            entry.pop("derivation", None)  # a threshold set by hand replaces the derived one
        entry = {k: v for k, v in entry.items() if k in allowed}
        entry["id"] = rid
        items.append(parse_entry(entry, project, level, f"row {index + 1}"))
    return save_requirements(
        ws, project, items, actor, source="edit", note=note, delete=list(deleted)
    )
