"""Saving scikit-learn objects without pickle: same bytes for the same model, the same predictions
after loading, and vectorizer vocabularies saved as one JSON object rather than a file per term."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from core.ml.serialize import dump_sklearn, load_sklearn

TEXTS = [
    "I am out of the office until Monday, contact anna@example.com",
    "Thanks for the offer, we will get back to you next week",
    "Ich bin bis zum 3. September nicht im Büro",
    "Please send the quote again, the link expired",
] * 5
LABELS = [1, 0, 1, 0] * 5


def _fitted() -> object:
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression()).fit(
        TEXTS, LABELS
    )


def test_a_text_pipeline_round_trips_with_the_same_predictions() -> None:
    model = _fitted()
    before = model.predict_proba(TEXTS)  # type: ignore[attr-defined]
    data = dump_sklearn(model)
    loaded = load_sklearn(data)
    assert np.array_equal(loaded.predict_proba(TEXTS), before)
    vocabulary = loaded.steps[0][1].vocabulary_
    assert vocabulary and all(type(index) is int for index in vocabulary.values())
    # one array file per fitted array, not one per vocabulary term
    entries = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert len(entries) < 20 < len(vocabulary)


def test_the_same_model_gives_the_same_bytes() -> None:
    assert dump_sklearn(_fitted()) == dump_sklearn(_fitted())
