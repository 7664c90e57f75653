"""Saving models without pickle: scikit-learn objects through skops, XGBoost boosters as UBJSON.

skops writes a zip whose entries carry the current time; we rewrite it with fixed timestamps so
that the same model always gives the same bytes (and so the same hash). Loading refuses any type
outside scikit-learn, NumPy, SciPy and Loopline's own model classes.
"""

from __future__ import annotations

import io
import re
import zipfile
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

    _plain_vocabularies(obj, set())
    return _deterministic_zip(sio.dumps(obj))


def _plain_vocabularies(obj: Any, seen: set[int]) -> None:
    """A fitted vectorizer's ``vocabulary_`` maps each term to a NumPy integer, which skops saves
    as one array file per term: 7,500 files for a small e-mail model, and 1.3 s to load it. The
    same mapping to Python ints is one JSON object (the model predicts the same)."""
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for value in obj.values():
            _plain_vocabularies(value, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _plain_vocabularies(value, seen)
    elif hasattr(obj, "get_params") or type(obj).__module__.startswith("core.ml."):
        vocabulary = getattr(obj, "vocabulary_", None)
        if isinstance(vocabulary, dict) and not all(type(v) is int for v in vocabulary.values()):
            obj.vocabulary_ = {term: int(index) for term, index in vocabulary.items()}
        for value in vars(obj).values():
            _plain_vocabularies(value, seen)


def load_sklearn(data: bytes) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not _trusted(t)]
    if refused:
        raise CoreError(
            f"The model file holds types Loopline does not load: {', '.join(refused[:5])}.",
            hint="only models trained by Loopline (scikit-learn, XGBoost) can be loaded",
        )
    return sio.loads(data, trusted=untrusted)


def dump_booster(model: Any) -> bytes:
    return bytes(model.get_booster().save_raw(raw_format="ubj"))


def load_booster(data: bytes, params: dict[str, Any]) -> Any:
    import xgboost as xgb

    model = xgb.XGBClassifier(**params)
    model.load_model(bytearray(data))
    return model
