"""Saving models without pickle: scikit-learn objects through skops, XGBoost boosters as UBJSON.

A fitted vectorizer's vocabulary is saved as one JSON list of its terms (skops saves a mapping
entry by entry: seconds for a text model). skops writes a zip whose entries carry the current
time; we rewrite it with fixed timestamps so that the same model always gives the same bytes (and
so the same hash). Loading refuses any type outside scikit-learn, NumPy, SciPy and Loopline's own
model classes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import CoreError

_ID = re.compile(r'"__id__": (\d+)')
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "core.ml.", "collections.")
TRUSTED_BUILTINS = frozenset(
    f"builtins.{name}"
    for name in (
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "slice",
        "int",
        "float",
        "complex",
        "str",
        "bytes",
        "bool",
        "type",
    )
)
"""Only builtin *types*: a builtin function (``builtins.eval``, ``exec``, ``open``) in a model file,
say as a FunctionTransformer's ``func``, would run on the model's inputs."""


def _trusted(name: str) -> bool:
    return name in TRUSTED_BUILTINS or name.startswith(TRUSTED_PREFIXES)


def _deterministic_zip(data: bytes) -> bytes:
    """Same model, same bytes: fixed timestamps, and array files (named by object id) renumbered
    in the order the schema mentions them."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode("utf-8")
    arrays = [n for n in source.namelist() if n != "schema.json"]
    arrays.sort(key=lambda n: (schema.find(f'"{n}"'), n))
    renamed = {name: f"{index:06d}{name[name.rfind('.') :]}" for index, name in enumerate(arrays)}
    for old, new in renamed.items():
        schema = schema.replace(f'"{old}"', f'"{new}"')
    numbers: dict[str, str] = {}  # memo ids are object ids too: number them by first appearance
    schema = _ID.sub(
        lambda m: f'"__id__": {numbers.setdefault(m.group(1), str(len(numbers) + 1))}', schema
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        entries = [
            ("schema.json", schema.encode("utf-8")),
            *sorted((renamed[n], source.read(n)) for n in arrays),
        ]
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, content)
    return out.getvalue()


def dump_sklearn(obj: Any) -> bytes:
    import skops.io as sio

    with _terms_as_text(obj):
        return _deterministic_zip(sio.dumps(obj))


def load_sklearn(data: bytes) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not _trusted(t)]
    if refused:
        raise CoreError(
            f"The model file holds types Loopline does not load: {', '.join(refused[:5])}.",
            hint="only models trained by Loopline (scikit-learn, XGBoost) can be loaded",
        )
    obj = sio.loads(data, trusted=untrusted)
    for estimator in _estimators(obj):
        text = vars(estimator).pop(_TERMS, None)
        if isinstance(text, str):
            terms = json.loads(text)
            estimator.vocabulary_ = {term: index for index, term in enumerate(terms)}
            if vars(estimator).pop(_NAMES_TOO, False):
                estimator.feature_names_ = terms
    return obj


_TERMS = "_loopline_terms"
_NAMES_TOO = "_loopline_feature_names"


@contextmanager
def _terms_as_text(obj: Any) -> Iterator[None]:
    """A fitted vectorizer's ``vocabulary_`` (term -> column) is saved as one JSON list of its
    terms in column order, and so is a DictVectorizer's ``feature_names_`` (the same list): skops
    saves a dict or list of 20,000 terms entry by entry (2.6 s to save case A's TF-IDF, 0.5 s to
    load it). The objects are as they were afterwards; a mapping that is not onto 0..n-1 is saved
    as a plain dict (with Python ints: skops saves each NumPy int as an array file)."""
    changed: list[tuple[Any, dict[str, Any]]] = []
    try:
        for estimator in _estimators(obj):
            vocabulary = getattr(estimator, "vocabulary_", None)
            if not isinstance(vocabulary, dict):
                continue
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            plain = [int(vocabulary[term]) for term in terms]
            if plain != list(range(len(terms))) or not all(isinstance(t, str) for t in terms):
                changed.append((estimator, {"vocabulary_": vocabulary}))
                estimator.vocabulary_ = dict(zip(terms, plain, strict=True))
                continue
            before: dict[str, Any] = {"vocabulary_": vocabulary}
            names = getattr(estimator, "feature_names_", None)
            if isinstance(names, list) and names == terms:
                before["feature_names_"] = names
                del estimator.feature_names_
                setattr(estimator, _NAMES_TOO, True)
            changed.append((estimator, before))
            del estimator.vocabulary_
            setattr(estimator, _TERMS, json.dumps(terms, ensure_ascii=False))
        yield
    finally:
        for estimator, before in changed:
            vars(estimator).pop(_TERMS, None)
            vars(estimator).pop(_NAMES_TOO, None)
            for name, value in before.items():
                setattr(estimator, name, value)


def _estimators(obj: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every scikit-learn estimator (or Loopline model object) reachable from ``obj``: through
    dicts, lists, tuples and the estimators' attributes; each once."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for value in list(obj.values()):
            yield from _estimators(value, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _estimators(value, seen)
    elif hasattr(obj, "get_params") or type(obj).__module__.startswith("core.ml."):
        yield obj
        for value in list(vars(obj).values()):
            yield from _estimators(value, seen)


def dump_booster(model: Any) -> bytes:
    return bytes(model.get_booster().save_raw(raw_format="ubj"))


def load_booster(data: bytes, params: dict[str, Any]) -> Any:
    import xgboost as xgb

    model = xgb.XGBClassifier(**params)
    model.load_model(bytearray(data))
    return model
