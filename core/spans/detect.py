"""Generic span detectors (dates, e-mail addresses, phone numbers, names) in English, German, French.

A project maps its span types to detectors (``RETURN_DATE: [date]``, ``CONTACT: [email, phone]``);
the detectors find candidates, which labeling shows as suggestions and models learn to choose from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    type: str
    text: str
    score: float = 1.0

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "text": self.text}


# Every pattern here runs on request text, so none may backtrack more than a bounded amount per
# starting position (linear time in the text's length). Unbounded runs are only scanned from one
# starting position each (a word's first letter, a run of spaces after one word); where many
# starting positions share one run (``a.a.a.a…`` offers a start at every letter), the run is
# bounded by what the thing can be: an e-mail's local part has at most 64 characters and a domain
# label at most 63 (RFC 5321, 1035), and no address has more than 10 labels.
_WEEKDAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    "montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|"
    "januar|februar|märz|maerz|mai|juni|juli|oktober|dezember|"
    "janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|décembre"
)


def _one_of(words: Iterable[str]) -> str:
    """A pattern matching any of ``words``, as a tree of shared prefixes (``mon(?:day|tag)?``).

    The same words as ``a|b|c``, but a position that cannot start one of them is left after one
    character test instead of one per word: the date pattern tries every word start of a text.
    Every use is followed by something a letter cannot be (``\\b``, ``,``, a space), so which word
    a branch prefers does not change what matches.
    """
    by_first: dict[str, list[str]] = {}
    ends_here = False
    for word in sorted(set(words)):
        if word:
            by_first.setdefault(word[0], []).append(word[1:])
        else:
            ends_here = True
    branches = [re.escape(first) + _one_of(rests) for first, rests in by_first.items()]
    if not branches:
        return ""
    if len(branches) == 1 and not ends_here:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")


_WEEKDAY = _one_of(_WEEKDAYS.split("|"))
_MONTH = _one_of(_MONTHS.split("|"))
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|er)?"
_YEAR = r"(?:20\d\d)"
_WD = rf"(?:{_WEEKDAY},?\s+)?"
_DATE_PATTERNS = [
    rf"\b{_YEAR}-[01]\d-[0-3]\d\b",
    rf"\b{_WD}{_MONTH}\.?\s+{_DAY}\b(?:,?\s+{_YEAR}\b)?",
    rf"\b{_WD}(?:le\s+)?{_DAY}\.?\s+(?:of\s+)?{_MONTH}\b\.?(?:\s+{_YEAR}\b)?",
    rf"\b{_WD}the\s+{_DAY}(?:\s+of\s+{_MONTH}\b)?",
    r"\b\d{1,2}[./]\d{1,2}(?:[./](?:20)?\d\d\b|\.(?!\d)|\b)",
    rf"\b{_WEEKDAY}\b",
]
_DATE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
_LONE_WEEKDAY = re.compile(_WEEKDAY, re.IGNORECASE)
_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+){0,8}\.[A-Za-z]{2,63}\b"
)
_PHONE = re.compile(
    r"(?<![\w/.])(?:\+\d{1,3}[\s-]?)?(?:\(\d{1,4}\)[\s-]?)?\d{1,5}(?:[\s-]\d{2,7}){1,4}(?![\w/])"
)
_NAME = re.compile(
    r"\b[A-ZÀ-Ý][a-zà-ÿ]+(?:[-'][A-Z][a-zà-ÿ]+)?\s+[A-ZÀ-Ý][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?\b"
)


def find_dates(text: str) -> list[tuple[int, int, float]]:
    found = []
    for match in _DATE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in ",;":
            end -= 1
        if text[end - 1] == "." and (text[end - 2].isalpha() or "/" in text[start:end]):
            end -= 1  # a sentence's full stop, not part of the date
        lone_weekday = _LONE_WEEKDAY.fullmatch(text[start:end]) is not None
        if lone_weekday and len(text[start:end]) <= 4:
            continue  # "Sun", "Wed" alone are too often something else
        found.append((start, end, 0.5 if lone_weekday else 1.0))
    return found


def find_emails(text: str) -> list[tuple[int, int, float]]:
    return [(m.start(), m.end(), 1.0) for m in _EMAIL.finditer(text)]


def find_phones(text: str) -> list[tuple[int, int, float]]:
    spans = []
    for match in _PHONE.finditer(text):
        digits = sum(ch.isdigit() for ch in match.group())
        if 7 <= digits <= 15:
            spans.append((match.start(), match.end(), 1.0))
    return spans


def find_names(text: str) -> list[tuple[int, int, float]]:
    return [(m.start(), m.end(), 0.5) for m in _NAME.finditer(text)]


DETECTORS: dict[str, Callable[[str], list[tuple[int, int, float]]]] = {
    "date": find_dates,
    "email": find_emails,
    "phone": find_phones,
    "name": find_names,
}


def detect(text: str, detectors: Mapping[str, Sequence[str]]) -> list[Span]:
    """Candidates for each span type, without overlaps inside a type (earliest, then longest wins)."""
    spans: list[Span] = []
    for span_type, names in detectors.items():
        candidates = sorted(
            ((s, e, score) for name in names for s, e, score in DETECTORS[name](text)),
            key=lambda c: (c[0], -(c[1] - c[0])),
        )
        last_end = -1
        for start, end, score in candidates:
            if start >= last_end:
                spans.append(Span(start, end, span_type, text[start:end], score))
                last_end = end
    return sorted(spans)


def overlaps(a: Span, b: Span) -> bool:
    return a.type == b.type and a.start < b.end and b.start < a.end


def from_dicts(items: Iterable[Mapping[str, object]]) -> list[Span]:
    return sorted(
        Span(int(str(d["start"])), int(str(d["end"])), str(d["type"]), str(d.get("text", "")))
        for d in items
    )
