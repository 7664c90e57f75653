"""Perturbations: a small frozen config each, applied to one example (a row of column values)
with a seeded random generator. ``apply`` returns the changed row and what it put in (``vars``:
``date``, ``name``, ``email``, ``phrase``, ``value`` — what an expectation may name as
``{date}``), or None when the example offers nothing to perturb (it is then not counted).

Text: ``casing``, ``whitespace``, ``signature``, ``quoted_thread``, ``date_format``,
``swap_name``, ``swap_email``, ``translate``. Tables: ``jitter``, ``relabel``, ``missing``,
``shift``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.behave.dates import STYLES, parse_date, render_date
from core.behave.expect import REWRITTEN
from core.errors import InvalidInput, expected_one_of
from core.projects.spec import ProjectSpec
from core.spans.detect import find_dates, find_emails, find_names

Row = dict[str, Any]
Perturbed = tuple[Row, dict[str, str]]

SIGNATURES = (
    "--\nSent from my iPhone",
    "Best regards,\nJordan Miller\nHead of Operations | Northwind Ltd.\n+44 20 7946 0958",
    "Mit freundlichen Grüßen\nAnna Schmidt\nVertrieb | Stahlwerk GmbH",
    "This e-mail and any attachments are confidential. If you received it in error, "
    "please notify the sender and delete it.",
)
QUOTES = (
    "On Mon, 4 May 2026 at 09:12, Sam Taylor <sam@loopline.example> wrote:\n"
    "> Hi, do you have 15 minutes next week for a quick call?\n> Best, Sam",
    "-----Original Message-----\nFrom: Sam Taylor\nSent: Tuesday, May 5, 2026 10:03 AM\n"
    "Subject: Quick question\n\nWould a demo on Thursday work for you?",
)
NAMES = ("Maria Lopez", "Kenji Watanabe", "Jonas Becker", "Amélie Dubois", "Priya Nair")
EMAILS = ("m.lopez@acme-corp.com", "jonas.becker@stahlhaus.de", "a.dubois@soleil.fr")
PHRASES_DE = {  # a phrase in English -> its German, what ``translate`` uses by default
    "out of the office": "nicht im Büro",
    "out of office": "nicht im Büro",
    "i am on vacation": "ich bin im Urlaub",
    "on annual leave": "im Urlaub",
    "will be back on": "bin zurück am",
    "i will return on": "ich bin zurück am",
    "returning": "zurück am",
    "thanks for your message": "vielen Dank für Ihre Nachricht",
    "best regards": "viele Grüße",
}


def _text_field(spec: ProjectSpec, name: str) -> str:
    if name:
        return name
    if spec.labels.spans is not None:
        return spec.labels.spans.field
    return spec.text_fields[-1] if spec.text_fields else ""


@dataclass(frozen=True)
class Casing:
    mode: str = "lower"  # lower | upper | title
    field: str = ""

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        changed = {"lower": str.lower, "upper": str.upper, "title": str.title}[self.mode]
        return {**row, name: changed(str(row.get(name) or ""))}, {}

    def check(self, where: str) -> None:
        _one_of(where, "mode", self.mode, ("lower", "upper", "title"))


@dataclass(frozen=True)
class Whitespace:
    field: str = ""

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        words = re.split(r"( +)", str(row.get(name) or ""))
        spaced = "".join(w + (" " * rng.randint(1, 3) if w.isspace() else "") for w in words)
        return {**row, name: "\n" * rng.randint(0, 2) + spaced + " \n" * rng.randint(1, 3)}, {}


@dataclass(frozen=True)
class Signature:
    lines: tuple[str, ...] = SIGNATURES
    field: str = ""

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        return {**row, name: f"{row.get(name) or ''}\n\n{rng.choice(self.lines)}"}, {}


@dataclass(frozen=True)
class QuotedThread:
    quotes: tuple[str, ...] = QUOTES
    field: str = ""

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        return {**row, name: f"{row.get(name) or ''}\n\n{rng.choice(self.quotes)}"}, {}


@dataclass(frozen=True)
class DateFormat:
    """Each date of the text written in one of ``to``'s styles (picked per example)."""

    to: tuple[str, ...] = ("de",)
    field: str = ""
    puts: ClassVar[tuple[str, ...]] = ("date",)

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        text = str(row.get(name) or "")
        style, vars = rng.choice(self.to), {}
        for start, end, _ in reversed(find_dates(text)):
            value = parse_date(text[start:end])
            if value is not None:
                new = render_date(value, style)
                vars.update({"date": new, REWRITTEN + text[start:end]: new})
                text = text[:start] + new + text[end:]
        return ({**row, name: text}, vars) if vars else None

    def check(self, where: str) -> None:
        for style in self.to:
            if style not in STYLES:
                raise InvalidInput(f"{where}.to: {expected_one_of('date style', style, STYLES)}")


@dataclass(frozen=True)
class _Swap:
    choices: tuple[str, ...] = ()
    field: str = ""
    var: ClassVar[str] = ""

    def _found(self, text: str) -> list[tuple[int, int, float]]:
        raise NotImplementedError

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        text = str(row.get(name) or "")
        found = self._found(text)
        if not found:
            return None
        start, end, _ = found[0]
        others = [c for c in self.choices if c != text[start:end]]
        new = rng.choice(others)
        return {**row, name: text.replace(text[start:end], new)}, {self.var: new}


@dataclass(frozen=True)
class SwapName(_Swap):
    choices: tuple[str, ...] = NAMES
    var: ClassVar[str] = "name"
    puts: ClassVar[tuple[str, ...]] = ("name",)

    def _found(self, text: str) -> list[tuple[int, int, float]]:
        return find_names(text)


@dataclass(frozen=True)
class SwapEmail(_Swap):
    choices: tuple[str, ...] = EMAILS
    var: ClassVar[str] = "email"
    puts: ClassVar[tuple[str, ...]] = ("email",)

    def _found(self, text: str) -> list[tuple[int, int, float]]:
        return find_emails(text)


@dataclass(frozen=True)
class Translate:
    """Phrases replaced by their translation (case-insensitive); no phrase found: not applied."""

    phrases: Mapping[str, str] = field(default_factory=lambda: dict(PHRASES_DE))
    field: str = ""
    puts: ClassVar[tuple[str, ...]] = ("phrase",)

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        name = _text_field(spec, self.field)
        text, done = str(row.get(name) or ""), ""
        for phrase in sorted(self.phrases, key=len, reverse=True):
            pattern = re.compile(re.escape(phrase), re.IGNORECASE)
            if pattern.search(text):
                text = pattern.sub(self.phrases[phrase].replace("\\", "\\\\"), text)
                done = done or self.phrases[phrase]
        return ({**row, name: text}, {"phrase": done}) if done else None


@dataclass(frozen=True)
class Jitter:
    """A numeric feature moved by at most ``tolerance`` (``relative``: a share of its value)."""

    column: str
    tolerance: float
    relative: bool = False
    puts: ClassVar[tuple[str, ...]] = ("value",)

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        value = _number(row.get(self.column))
        if value is None:
            return None
        width = abs(value) * self.tolerance if self.relative else self.tolerance
        moved = value + rng.uniform(-width, width)
        if _column_type(spec, self.column) == "integer":
            moved = float(round(moved))
        return {**row, self.column: moved}, {"value": f"{moved:g}"}

    def check(self, where: str) -> None:
        if self.tolerance < 0:
            raise InvalidInput(f"{where}.tolerance: must be 0 or more, got {self.tolerance:g}.")


@dataclass(frozen=True)
class Shift:
    """A numeric feature moved by ``by`` (a directional test: more alarms, more hardware)."""

    column: str
    by: float
    puts: ClassVar[tuple[str, ...]] = ("value",)

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        value = _number(row.get(self.column))
        if value is None:
            return None
        return {**row, self.column: value + self.by}, {"value": f"{value + self.by:g}"}


@dataclass(frozen=True)
class Relabel:
    """A category replaced: by ``to`` (a mapping old -> new, or one value), else by another value
    of the column's declared values."""

    column: str
    to: Mapping[str, str] | str | None = None
    puts: ClassVar[tuple[str, ...]] = ("value",)

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        old = row.get(self.column)
        if isinstance(self.to, str):
            new: str | None = self.to
        elif isinstance(self.to, Mapping):
            new = self.to.get(str(old))
        else:
            values = next((c.values for c in spec.columns if c.name == self.column), None) or ()
            others = [v for v in values if v != old]
            new = rng.choice(others) if others else None
        if new is None or new == old:
            return None
        return {**row, self.column: new}, {"value": new}


@dataclass(frozen=True)
class Missing:
    column: str

    def apply(self, row: Row, rng: random.Random, spec: ProjectSpec) -> Perturbed | None:
        if row.get(self.column) is None:
            return None
        return {**row, self.column: None}, {}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: missing


def _column_type(spec: ProjectSpec, name: str) -> str:
    return next((c.type for c in spec.columns if c.name == name), "")


def _one_of(where: str, key: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        raise InvalidInput(f"{where}.{key}: {expected_one_of(key, value, allowed)}")


Perturbation = (
    Casing
    | Whitespace
    | Signature
    | QuotedThread
    | DateFormat
    | SwapName
    | SwapEmail
    | Translate
    | Jitter
    | Shift
    | Relabel
    | Missing
)
TEXT_PERTURBATIONS: dict[str, type[Perturbation]] = {
    "casing": Casing,
    "whitespace": Whitespace,
    "signature": Signature,
    "quoted_thread": QuotedThread,
    "date_format": DateFormat,
    "swap_name": SwapName,
    "swap_email": SwapEmail,
    "translate": Translate,
}
TABLE_PERTURBATIONS: dict[str, type[Perturbation]] = {
    "jitter": Jitter,
    "shift": Shift,
    "relabel": Relabel,
    "missing": Missing,
}
PERTURBATIONS = {**TEXT_PERTURBATIONS, **TABLE_PERTURBATIONS}
