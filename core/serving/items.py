"""From a ``/predict`` body to the items the service predicts and logs.

A parsed body (one item under ``inputs``, or a batch under ``items``) becomes :class:`Item` s with
their request ids, event times and item ids. A refused body still names items when only their
content was wrong (not the envelope): those become log rows that carry the error, so the log
shows what clients sent and why it was refused.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from core.serving.requests import EARLIEST_TIME, LATEST_TIME, BadRequest, Problem, naive_utc
from core.serving.service import Item, ServedModel, request_ids

RefusedItem = tuple[str, datetime, str | None, str]  # request id, event time, item id, error


def parsed_items(parsed: Any, served: ServedModel, received: datetime) -> tuple[str, list[Item]]:
    """The request's base id and its items (event time: the item's, the body's, the time
    column's, or when it was received)."""
    spec = served.spec
    single = parsed.inputs is not None
    entries = [parsed] if single else parsed.items
    base, ids = request_ids(parsed.request_id, len(entries), single)
    out = []
    for index, entry in enumerate(entries):
        values = entry.inputs.model_dump(by_alias=True)
        moment = entry.time or parsed.time
        if moment is None and spec.time_column:
            moment = values.get(spec.time_column)
        item_id = values.get(spec.id_column)
        out.append(
            Item(
                entry.request_id if not single and entry.request_id else ids[index],
                values,
                naive_utc(moment) or received,
                None if item_id is None else str(item_id),
            )
        )
    return base, out


def refused_items(
    body: bytes, bad: BadRequest, received: datetime, id_column: str
) -> list[RefusedItem]:
    """Items whose envelope was fine but whose content was not: logged with the error."""
    by_item: dict[int, list[Problem]] = {}
    for problem in bad.problems:
        if problem.field.startswith("inputs"):
            by_item.setdefault(-1, []).append(problem)
        elif problem.field.startswith("items["):
            position = int(problem.field[6 : problem.field.index("]")])
            by_item.setdefault(position, []).append(problem)
        else:
            return []  # the envelope itself is wrong: there are no items to speak of
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    base = data.get("request_id") if isinstance(data.get("request_id"), str) else None
    base = base or f"refused-{uuid.uuid4().hex}"  # unique: two refusals in one millisecond
    rows: list[RefusedItem] = []
    for index, problems in sorted(by_item.items()):
        entry = data if index < 0 else _at(data.get("items"), index)
        own = entry.get("request_id") if index >= 0 else None
        request_id = own if isinstance(own, str) and own else None
        if request_id is None:
            request_id = base if index < 0 else f"{base}:{index}"
        inputs = entry.get("inputs")
        item_id = inputs.get(id_column) if isinstance(inputs, dict) else None
        rows.append(
            (
                request_id[:200],
                _time(entry.get("time"), data.get("time")) or received,
                item_id[:200] if isinstance(item_id, str) else None,
                "; ".join(f"{p.field}: {p.problem}" for p in problems)[:2000],
            )
        )
    return rows


def _at(items: Any, index: int) -> dict[str, Any]:
    if isinstance(items, list) and 0 <= index < len(items) and isinstance(items[index], dict):
        return dict(items[index])
    return {}


def _time(*values: Any) -> datetime | None:
    """The first of ``values`` that is a time the log can hold, in naive UTC."""
    for value in values:
        if isinstance(value, str):
            try:
                moment = naive_utc(datetime.fromisoformat(value))
            except (ValueError, OverflowError):
                continue
            if moment is not None and EARLIEST_TIME <= moment < LATEST_TIME:
                return moment
    return None
