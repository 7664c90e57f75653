"""A learned span extractor: generic detectors propose candidates, a classifier per span type
(context words, shape, position) picks the ones that are spans of that type."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.spans.detect import DETECTORS, Span

_WORD = re.compile(r"\w+", re.UNICODE)


def _shape(text: str) -> str:
    return re.sub(r"[A-Za-zÀ-ÿ]+", "a", re.sub(r"\d+", "0", text))[:12]


LINE_WINDOW = 300
"""How far back on its line a candidate's line words reach: every sample line is shorter, and a
bound keeps a long one-line text linear (all words before each candidate made it quadratic)."""


def candidate_features(text: str, start: int, end: int, detector: str) -> dict[str, float]:
    before = [w.lower() for w in _WORD.findall(text[max(0, start - 60) : start])][-4:]
    after = [w.lower() for w in _WORD.findall(text[end : end + 40])][:3]
    line_start = max(text.rfind("\n", max(0, start - LINE_WINDOW), start) + 1, start - LINE_WINDOW)
    line = [w.lower() for w in _WORD.findall(text[line_start:start])]
    features: dict[str, float] = {
        f"det={detector}": 1.0,
        f"shape={_shape(text[start:end])}": 1.0,
        "position": start / max(1, len(text)),
        "length": min(1.0, (end - start) / 40),
    }
    for index, word in enumerate(reversed(before)):
        features[f"l{index + 1}={word}"] = 1.0
    for index, word in enumerate(after):
        features[f"r{index + 1}={word}"] = 1.0
    for word in line:
        features[f"line={word}"] = 1.0
    return features


def candidates(text: str, detectors: Sequence[str]) -> list[tuple[int, int, str]]:
    found = {(s, e, name) for name in detectors for s, e, _ in DETECTORS[name](text)}
    return sorted(found)


def fit_span_models(
    texts: Sequence[str],
    gold: Sequence[Sequence[Span]],
    detect: Mapping[str, Sequence[str]],
    seed: int,
) -> dict[str, Any]:
    """One classifier per span type that has positives; types without examples are skipped."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    models: dict[str, Any] = {}
    for span_type, detectors in detect.items():
        rows, targets = [], []
        for text, spans in zip(texts, gold, strict=True):
            truth = {(s.start, s.end) for s in spans if s.type == span_type}
            for start, end, name in candidates(text, detectors):
                rows.append(candidate_features(text, start, end, name))
                targets.append(int((start, end) in truth))
        if sum(targets) < 2 or sum(targets) == len(targets):
            continue
        model = Pipeline(
            [
                ("features", DictVectorizer()),
                (
                    "classifier",
                    LogisticRegression(
                        C=2.0, max_iter=2000, class_weight="balanced", random_state=seed
                    ),
                ),
            ]
        )
        model.fit(rows, np.asarray(targets))
        models[span_type] = model
    return models


def extract_spans(
    models: Mapping[str, Any],
    texts: Sequence[str],
    detect: Mapping[str, Sequence[str]],
    threshold: float = 0.5,
) -> list[list[Span]]:
    """Each span type's classifier scores the candidates of every text in one call (one call per
    text cost ~3 ms of scikit-learn's checks each: 13 s of a case A build's 44 s); then, per text,
    the best-scored candidates above ``threshold`` that overlap none taken before."""
    out: list[list[Span]] = [[] for _ in texts]
    for span_type, model in models.items():
        detectors = detect.get(span_type, ())
        found = [candidates(text, detectors) for text in texts]
        rows = [
            candidate_features(text, s, e, n)
            for text, spans in zip(texts, found, strict=True)
            for s, e, n in spans
        ]
        if not rows:
            continue
        scores = model.predict_proba(rows)[:, 1]
        offset = 0
        for index, (text, spans) in enumerate(zip(texts, found, strict=True)):
            mine = scores[offset : offset + len(spans)]
            offset += len(spans)
            taken = _Taken()
            for (start, end, _), score in sorted(
                zip(spans, mine, strict=True), key=lambda x: -x[1]
            ):
                if score >= threshold and taken.add(start, end):
                    out[index].append(Span(start, end, span_type, text[start:end], float(score)))
    return [sorted(spans) for spans in out]


class _Taken:
    """Spans already taken, non-overlapping and kept sorted: an overlap test is two bisections."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> bool:
        """Take ``[start, end)`` unless it overlaps a span already taken."""
        at = bisect.bisect_left(self.starts, start)
        if at > 0 and self.ends[at - 1] > start:
            return False
        if at < len(self.starts) and self.starts[at] < end:
            return False
        self.starts.insert(at, start)
        self.ends.insert(at, end)
        return True
