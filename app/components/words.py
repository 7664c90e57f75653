"""Words for counts: "1 item", "3 items", never "item(s)"."""

from __future__ import annotations

IRREGULAR = {"person": "people", "entry": "entries", "reply": "replies", "query": "queries"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "item")`` → "1 item"; ``plural(3, "item")`` → "3 items" (thousands with commas)."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {many or IRREGULAR.get(noun) or noun + 's'}"
