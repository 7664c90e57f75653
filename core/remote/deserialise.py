"""The reverse of ``core.api.serialise``: JSON values rebuilt into what a method's annotation
names (its return type, or a parameter's type on the server side).

``rebuild(value, annotation)`` follows the annotation: dataclasses from objects of their fields
(a field left out, such as an actor's token, takes its default), datetimes from ISO 8601 text,
timedeltas from seconds, ``Path`` from text, enums from their value, DataFrames from a list of
records, bytes from base64 text, null as NaN where a float is expected; containers (list, tuple,
set, dict, Mapping, Sequence) element by element, dict keys from their text (``"3"`` → ``3`` for
``dict[int, …]``), and a ``Union`` by the first arm the value fits. ``Any`` keeps the value."""

from __future__ import annotations

import ast
import base64
import collections.abc as abc
import dataclasses
import enum
import functools
import math
import types
import typing
from datetime import date, datetime, time, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from core.api import CoreError

if TYPE_CHECKING:
    from core.api import IngestRefused

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]


class Mismatch(TypeError):
    """The value does not fit the annotation (a Union tries its next arm)."""


def rebuild(value: Json, annotation: Any) -> Any:
    """``value`` (as ``serialise`` wrote it) as an instance of ``annotation``."""
    if annotation is Any or annotation is object or annotation is typing.TypeVar:
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(annotation))
    if origin is typing.Literal:
        return value
    if origin is typing.Annotated:
        return rebuild(value, typing.get_args(annotation)[0])
    if origin is not None:
        return _generic(value, origin, typing.get_args(annotation))
    if annotation is None or annotation is type(None):
        if value is not None:
            raise Mismatch(f"expected null, got {type(value).__name__}")
        return None
    if isinstance(annotation, type):
        return _plain(value, annotation)
    return value  # a forward reference or a type alias we cannot follow: leave it as JSON


def _union(value: Json, arms: tuple[Any, ...]) -> Any:
    if value is None and type(None) in arms:
        return None
    candidates = [a for a in arms if a is not type(None)]
    # exact JSON kinds first, so ``int | str`` keeps 3 as 3 and "3" as "3"
    candidates.sort(key=lambda arm: 0 if _same_kind(value, arm) else 1)
    errors = []
    for arm in candidates:
        try:
            return rebuild(value, arm)
        except (Mismatch, ValueError, TypeError, KeyError) as error:
            errors.append(f"{arm}: {error}")
    raise Mismatch(f"{value!r} fits none of {arms}: {'; '.join(errors)}")


def _same_kind(value: Json, arm: Any) -> bool:
    if isinstance(value, bool):
        return arm is bool
    if isinstance(value, int):
        return arm is int
    if isinstance(value, float):
        return arm is float
    if isinstance(value, str):
        return arm is str
    return False


def _generic(value: Json, origin: Any, args: tuple[Any, ...]) -> Any:
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        if not isinstance(value, dict):
            raise Mismatch(f"expected an object, got {type(value).__name__}")
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        return {_key(k, key_type): rebuild(v, value_type) for k, v in value.items()}
    if not isinstance(value, list):
        raise Mismatch(f"expected a list, got {type(value).__name__}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(rebuild(v, args[0]) for v in value)
        if args and args != ((),):
            if len(args) != len(value):
                raise Mismatch(f"expected {len(args)} items, got {len(value)}")
            return tuple(rebuild(v, a) for v, a in zip(value, args, strict=True))
        return tuple(value)
    item = args[0] if args else Any
    items = [rebuild(v, item) for v in value]
    if origin in (set, abc.Set, abc.MutableSet):
        return set(items)
    if origin is frozenset:
        return frozenset(items)
    return items  # a list, and a Sequence or Iterable as a list too


def _key(key: str, annotation: Any) -> Any:
    """A dict key from its JSON text: numbers parsed, a tuple from the text of its list
    (``serialise`` writes a tuple key as ``"['accuracy', '']"``)."""
    if annotation in (int, float) or (isinstance(annotation, type) and issubclass(annotation, int)):
        try:
            return annotation(key)
        except ValueError:
            return key
    if annotation is Any or annotation is str:
        return key
    if typing.get_origin(annotation) is tuple:
        try:
            parsed = ast.literal_eval(key)
        except (ValueError, SyntaxError) as error:
            raise Mismatch(f"expected a tuple key, got {key!r}") from error
        return rebuild(list(parsed) if isinstance(parsed, list | tuple) else parsed, annotation)
    return rebuild(key, annotation)


def _plain(value: Json, cls: type) -> Any:
    if dataclasses.is_dataclass(cls):
        return _dataclass(value, cls)
    if issubclass(cls, enum.Enum):
        return cls(value)
    if cls is bool:
        if not isinstance(value, bool):
            raise Mismatch(f"expected true/false, got {value!r}")
        return value
    if cls is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Mismatch(f"expected an integer, got {value!r}")
        return value
    if cls is float:
        if value is None:
            return math.nan  # serialise writes NaN and infinities as null
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Mismatch(f"expected a number, got {value!r}")
        return float(value)
    if cls is str:
        if not isinstance(value, str):
            raise Mismatch(f"expected text, got {value!r}")
        return value
    return _special(value, cls)


def _special(value: Json, cls: type) -> Any:
    """Types serialise writes as text, numbers or records."""
    if issubclass(cls, datetime):
        return datetime.fromisoformat(_text(value))
    if issubclass(cls, date):
        return date.fromisoformat(_text(value))
    if issubclass(cls, time):
        return time.fromisoformat(_text(value))
    if issubclass(cls, timedelta):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Mismatch(f"expected seconds, got {value!r}")
        return timedelta(seconds=value)
    if issubclass(cls, PurePath):
        return Path(_text(value)) if cls is PurePath else cls(_text(value))
    if cls in (bytes, bytearray, memoryview):
        return value if isinstance(value, bytes) else base64.b64decode(_text(value))
    if cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame":
        return _frame(value)
    if cls.__module__ == "numpy" and cls.__name__ == "ndarray":
        import numpy as np

        return np.array(value)
    if issubclass(cls, CoreError):
        if not isinstance(value, dict) or not isinstance(value.get("message"), str):
            raise Mismatch(f"expected an error object, got {value!r}")
        return core_error({**value, "kind": value.get("kind", value.get("error"))})
    if cls in (list, tuple, set, frozenset, dict):
        return _generic(value, cls, ())
    if isinstance(value, cls):
        return value
    raise Mismatch(f"no JSON form of {cls.__name__} for {value!r}")


def _text(value: Json) -> str:
    if not isinstance(value, str):
        raise Mismatch(f"expected text, got {value!r}")
    return value


def _frame(value: Json) -> Any:
    import pandas as pd

    if not isinstance(value, list):
        raise Mismatch(f"expected a list of records, got {type(value).__name__}")
    rows: list[Any] = value
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def _dataclass(value: Json, cls: type) -> Any:
    if not isinstance(value, dict):
        raise Mismatch(f"expected an object for {cls.__name__}, got {type(value).__name__}")
    hints = field_types(cls)
    given: dict[str, Any] = {}
    later: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in value:
            continue
        rebuilt = rebuild(value[field.name], hints.get(field.name, Any))
        (given if field.init else later)[field.name] = rebuilt
    unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise Mismatch(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    try:
        made = cls(**given)
    except TypeError as error:  # a required field is missing
        raise Mismatch(f"{cls.__name__}: {error}") from error
    for name, rebuilt in later.items():
        object.__setattr__(made, name, rebuilt)
    return made


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """A dataclass's field annotations, resolved (its module's names, postponed or not)."""
    return typing.get_type_hints(cls)


@functools.cache
def signature_types(function: Any) -> dict[str, Any]:
    """A function's resolved parameter and return annotations (``return`` for the result)."""
    return typing.get_type_hints(function)


def core_error(detail: dict[str, Any]) -> CoreError:
    """The core error a server's ``{"kind", "message", "hint"}`` names (CoreError itself when
    this process knows no error of that name)."""
    kind, message, hint = detail.get("kind"), str(detail["message"]), detail.get("hint")
    hint = hint if isinstance(hint, str) else None
    if kind == "IngestRefused":
        return _ingest_refused(message, hint, detail)
    found = _error_classes().get(str(kind), CoreError)
    error = found.__new__(found)
    CoreError.__init__(error, message, hint)
    return error


def _error_classes() -> dict[str, type[CoreError]]:
    found: dict[str, type[CoreError]] = {"CoreError": CoreError}
    stack = [CoreError]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            stack.append(sub)
    return found


def _ingest_refused(message: str, hint: str | None, detail: dict[str, Any]) -> IngestRefused:
    """A refused ingest with its problem rows (each prints as it does locally)."""
    from core.api import IngestRefused  # its module loads pandas: only when an ingest is refused

    row_type = signature_types(IngestRefused.__init__)["problems"]
    rows = detail.get("problems") or []
    problems = rebuild(rows, row_type) if isinstance(rows, list) else ()
    count = detail.get("count")
    error = IngestRefused.__new__(IngestRefused)
    CoreError.__init__(error, message, hint)
    error.problems = problems
    error.count = count if isinstance(count, int) else len(problems)
    return error
