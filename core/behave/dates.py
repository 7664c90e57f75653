"""A date as people write it in replies, read and written again in another style or language.

``parse_date`` reads what the span detectors find (``2026-08-14``, ``14.08.2026``, ``14.8.``,
``10/08``, ``Aug 14``, ``August 14, 2026``, ``14 August``, ``14. August 2026``, ``le 14 août``,
``Friday, 14th of August``); ``render_date`` writes a date in one of ``STYLES``.
"""

from __future__ import annotations

import re
from datetime import date

MONTHS: dict[str, tuple[str, ...]] = {  # month names per language, January first
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ),
    "de": (
        "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
        "Oktober", "November", "Dezember",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
        "octobre", "novembre", "décembre",
    ),
}  # fmt: skip
_BY_NAME = {
    **{name.lower(): i + 1 for names in MONTHS.values() for i, name in enumerate(names)},
    **{name[:3].lower(): i + 1 for i, name in enumerate(MONTHS["en"])},
    "sept": 9, "maerz": 3, "fevrier": 2, "aout": 8, "decembre": 12,
}  # fmt: skip
STYLES: dict[str, str] = {  # style -> an example, for messages and docs
    "iso": "2026-08-14",
    "dotted": "14.08.2026",
    "dotted_short": "14.08.",
    "slashed": "14/08/2026",
    "en": "August 14, 2026",
    "en_short": "Aug 14",
    "en_day_first": "14 August 2026",
    "de": "14. August 2026",
    "de_short": "14. August",
    "fr": "14 août 2026",
    "fr_le": "le 14 août",
}
_NUMERIC = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4})?)?")
_TOKEN = re.compile(r"\d{1,2}(?=\D|$)|[^\W\d]+")
_YEAR = re.compile(r"\b(20\d\d)\b")


def parse_date(text: str, year: int = 2026) -> date | None:
    """The date ``text`` names (``year`` when it names none), None when it cannot be read."""
    numeric = _NUMERIC.search(text)
    if numeric:
        if numeric.group(1):
            parts = int(numeric.group(1)), int(numeric.group(2)), int(numeric.group(3))
        else:
            found = numeric.group(6)
            full = int(found) + (2000 if found and len(found) == 2 else 0) if found else year
            parts = full, int(numeric.group(5)), int(numeric.group(4))  # day first (EU)
        return _date(*parts)
    tokens = [t for t in _TOKEN.findall(text) if t.lower() not in ("of", "st", "nd", "rd", "th")]
    for at, token in enumerate(tokens):
        if not token.isdigit():
            continue
        for near in tokens[at + 1 : at + 2] + tokens[max(0, at - 1) : at]:  # "14 Aug", "Aug 14"
            month = _BY_NAME.get(near.lower())
            if month:
                found_year = _YEAR.search(text)
                return _date(int(found_year.group(1)) if found_year else year, month, int(token))
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def render_date(value: date, style: str) -> str:
    """``value`` written in ``style`` (one of ``STYLES``)."""
    d, m, y = value.day, value.month, value.year
    en, de, fr = MONTHS["en"][m - 1], MONTHS["de"][m - 1], MONTHS["fr"][m - 1]
    return {
        "iso": value.isoformat(),
        "dotted": f"{d:02d}.{m:02d}.{y}",
        "dotted_short": f"{d:02d}.{m:02d}.",
        "slashed": f"{d:02d}/{m:02d}/{y}",
        "en": f"{en} {d}, {y}",
        "en_short": f"{en[:3]} {d}",
        "en_day_first": f"{d} {en} {y}",
        "de": f"{d}. {de} {y}",
        "de_short": f"{d}. {de}",
        "fr": f"{d} {fr} {y}",
        "fr_le": f"le {d} {fr}",
    }[style]
