"""The learned span extractor: a batch of texts gives what each text alone gives."""

from __future__ import annotations

from itertools import pairwise

from core.ml.spans import extract_spans, fit_span_models
from core.spans.detect import Span

TEXTS = [
    "Back on 1 Aug 2026, write a@b.co",
    "Nothing here",
    "Out until 3 Sep. Urgent: x@y.com or z@w.org",
    "",
    "x@y.com on 5 Jun, 6 Jun or 7 Jun 2026",
]
GOLD = [
    [Span(8, 18, "DATE", "1 Aug 2026"), Span(26, 32, "CONTACT", "a@b.co")],
    [],
    [Span(10, 15, "DATE", "3 Sep"), Span(25, 32, "CONTACT", "x@y.com")],
    [],
    [Span(0, 7, "CONTACT", "x@y.com")],
]
DETECT = {"DATE": ["date"], "CONTACT": ["email"]}


def test_a_batch_gives_each_text_what_it_gets_alone() -> None:
    models = fit_span_models(TEXTS * 4, GOLD * 4, DETECT, seed=0)
    assert set(models) == {"DATE", "CONTACT"}
    batch = extract_spans(models, TEXTS, DETECT)
    alone = [extract_spans(models, [text], DETECT)[0] for text in TEXTS]
    assert batch == alone
    assert batch[1] == [] and batch[3] == []  # no candidate, no span
    assert any(span.type == "CONTACT" and span.text == "a@b.co" for span in batch[0])
    for spans in batch:  # sorted, never overlapping
        assert spans == sorted(spans)
        assert all(a.end <= b.start for a, b in pairwise(spans))


def test_no_candidates_anywhere_gives_empty_lists() -> None:
    models = fit_span_models(TEXTS * 4, GOLD * 4, DETECT, seed=0)
    assert extract_spans(models, ["", "nothing at all"], DETECT) == [[], []]
    assert extract_spans(models, [], DETECT) == []
