"""Expectations: what the model must answer for an example (after its perturbation, if any).

Each is a small frozen config whose ``judge`` returns None when the answer meets it, else what
the model answered instead. ``before`` is the answer on the unperturbed example (invariance and
directional tests); ``vars`` are the values the template or perturbation put in (``{date}``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import InvalidInput
from core.spans.detect import Span

REWRITTEN = "~"  # vars[REWRITTEN + old text] = the text a perturbation put in its place


@dataclass(frozen=True)
class Outcome:
    """The model's answer on one example."""

    label: str
    scores: Mapping[str, float]
    spans: tuple[Span, ...] = ()

    def spans_text(self, span_type: str) -> str:
        found = [s.text for s in self.spans if s.type == span_type]
        return ", ".join(repr(t) for t in found) or "none"


@dataclass(frozen=True)
class LabelIs:
    label: str

    needs_before = False

    def text(self) -> str:
        return f"label is {self.label}"

    def judge(self, before: Outcome | None, after: Outcome, vars: Mapping[str, str]) -> str | None:
        return None if after.label == self.label else f"label {after.label}"


@dataclass(frozen=True)
class LabelUnchanged:
    needs_before = True

    def text(self) -> str:
        return "label unchanged"

    def judge(self, before: Outcome | None, after: Outcome, vars: Mapping[str, str]) -> str | None:
        assert before is not None
        if after.label == before.label:
            return None
        return f"label {before.label} → {after.label}"


@dataclass(frozen=True)
class SpanFound:
    """A span of ``type`` whose text is ``text`` (``{date}``: what was put in; empty: any)."""

    type: str
    text: str = ""

    needs_before = False

    def describe(self, vars: Mapping[str, str] | None) -> str:
        wanted = self.text if vars is None else _fill(self.text, vars)
        return f"{self.type} {wanted!r} found" if wanted else f"a {self.type} found"

    def judge(self, before: Outcome | None, after: Outcome, vars: Mapping[str, str]) -> str | None:
        wanted = _norm(_fill(self.text, vars))
        found = [_norm(s.text) for s in after.spans if s.type == self.type]
        if (wanted in found) if wanted else found:
            return None
        return f"{self.type}: {after.spans_text(self.type)}"


@dataclass(frozen=True)
class SpanKept:
    """Every span of ``type`` found before the perturbation is found after it, as the
    perturbation rewrote it (a date written another way is still the return date)."""

    type: str

    needs_before = True

    def text(self) -> str:
        return f"every {self.type} kept"

    def judge(self, before: Outcome | None, after: Outcome, vars: Mapping[str, str]) -> str | None:
        assert before is not None
        found = {_norm(s.text) for s in after.spans if s.type == self.type}
        lost = [
            vars.get(REWRITTEN + s.text, s.text)
            for s in before.spans
            if s.type == self.type and _norm(vars.get(REWRITTEN + s.text, s.text)) not in found
        ]
        if not lost:
            return None
        return f"{self.type}: {after.spans_text(self.type)} (lost {', '.join(map(repr, lost))})"


@dataclass(frozen=True)
class ScoreMoves:
    """The score of ``label`` moves ``direction`` (up or down) by at least ``by``."""

    label: str
    direction: str = "up"
    by: float = 0.0

    needs_before = True

    def text(self) -> str:
        return f"score of {self.label} moves {self.direction}" + (
            f" by ≥ {self.by}" if self.by else ""
        )

    def judge(self, before: Outcome | None, after: Outcome, vars: Mapping[str, str]) -> str | None:
        assert before is not None
        old, new = before.scores.get(self.label, 0.0), after.scores.get(self.label, 0.0)
        moved = new - old if self.direction == "up" else old - new
        if moved >= self.by and (self.by > 0 or new != old):
            return None
        return f"score of {self.label} {old:.3f} → {new:.3f}"


def names_in(text: str) -> set[str]:
    """The ``{var}`` names a text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _fill(text: str, vars: Mapping[str, str]) -> str:
    try:
        return text.format_map(dict(vars))
    except KeyError as exc:
        raise InvalidInput(
            f"The expectation's text {text!r} names {{{exc.args[0]}}}, which this test does not "
            f"put in. Expected one of: {', '.join(sorted(vars)) or '(none)'}."
        ) from exc


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" .,;").casefold()


Expectation = LabelIs | LabelUnchanged | SpanFound | SpanKept | ScoreMoves
EXPECTATIONS: dict[str, type[Expectation]] = {
    "label": LabelIs,
    "label_unchanged": LabelUnchanged,
    "span": SpanFound,
    "score": ScoreMoves,
}


def describe(expectation: Expectation, vars: Mapping[str, str] | None = None) -> str:
    if isinstance(expectation, SpanFound):
        return expectation.describe(vars)
    return expectation.text()
