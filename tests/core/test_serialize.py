"""Saving scikit-learn objects without pickle: same bytes for the same model, the same predictions
after loading, and vectorizer vocabularies saved as one text of terms rather than entry by entry."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from core.ml.serialize import dump_sklearn, load_sklearn
from core.ml.spans import candidate_features

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


def test_vocabularies_are_saved_as_one_text_and_the_model_is_left_as_it_was() -> None:
    """A TF-IDF vocabulary and a DictVectorizer's vocabulary and feature names (the span models')
    are saved as one JSON list of terms each: skops saved them entry by entry (2.6 s for case A's
    TF-IDF). Saving leaves the objects as they were; loading gives back the same mappings."""
    rows = [candidate_features(text, 0, 4, "date") for text in TEXTS]
    spans = make_pipeline(DictVectorizer(), LogisticRegression()).fit(rows, LABELS)
    models = {"text": _fitted(), "spans": spans}
    tfidf, dict_vectorizer = models["text"].steps[0][1], spans.steps[0][1]
    before = (dict(tfidf.vocabulary_), dict(dict_vectorizer.vocabulary_))
    names = list(dict_vectorizer.feature_names_)
    data = dump_sklearn(models)
    assert (tfidf.vocabulary_, dict_vectorizer.vocabulary_) == before  # left as it was
    assert dict_vectorizer.feature_names_ == names
    assert not any(name.startswith("_loopline") for name in vars(tfidf) | vars(dict_vectorizer))
    schema = zipfile.ZipFile(io.BytesIO(data)).read("schema.json").decode()
    assert schema.count("_loopline_terms") == 2 and '"vocabulary_"' not in schema
    loaded = load_sklearn(data)
    tfidf2, dict2 = loaded["text"].steps[0][1], loaded["spans"].steps[0][1]
    assert (tfidf2.vocabulary_, dict2.vocabulary_) == before
    assert dict2.feature_names_ == names and isinstance(dict2.feature_names_, list)
    assert not any(name.startswith("_loopline") for name in vars(tfidf2) | vars(dict2))
    assert np.array_equal(loaded["spans"].predict_proba(rows), spans.predict_proba(rows))
    assert dump_sklearn(loaded) == data


def test_a_vocabulary_not_onto_its_columns_is_saved_as_a_plain_mapping() -> None:
    vectorizer = TfidfVectorizer().fit(TEXTS)
    vectorizer.vocabulary_ = {
        term: np.int64(2 * index) for term, index in vectorizer.vocabulary_.items()
    }
    loaded = load_sklearn(dump_sklearn(vectorizer))
    assert loaded.vocabulary_ == {t: int(i) for t, i in vectorizer.vocabulary_.items()}
    assert all(type(index) is int for index in loaded.vocabulary_.values())
    assert all(type(index) is np.int64 for index in vectorizer.vocabulary_.values())  # as it was
