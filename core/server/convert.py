"""JSON arguments back to the types a method's signature names: the reverse of
``core.api.serialise`` for what the public API takes.

Text, numbers and booleans are checked as they are (an int is a float too; a bool is not an int);
datetimes come as ISO 8601 text, timedeltas as seconds, bytes as base64 text; a dataclass (an
``AuditQuery``, a ``TaskFilter``) as an object of its fields; sequences as lists and mappings as
objects. A ``Path`` is never taken as text (that would let a client name a file of the server):
it comes as ``{"$upload": "<id>"}`` and ``upload`` turns the id into the uploaded file's path.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

Upload = Callable[[str], Path]  # an upload id -> the uploaded file


class ArgumentError(Exception):
    """A JSON value that does not fit the parameter's type (answered with 422)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def from_json(value: Any, annotation: Any, where: str, upload: Upload) -> Any:
    """``value`` as ``annotation`` (``where`` names the argument in messages)."""
    if annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(annotation), where, upload)
    if origin is typing.Literal:
        if value not in typing.get_args(annotation):
            raise _wrong(where, annotation, value)
        return value
    if origin is not None:
        return _generic(value, origin, typing.get_args(annotation), where, upload)
    if annotation is type(None):
        if value is not None:
            raise _wrong(where, annotation, value)
        return None
    if isinstance(annotation, type):
        return _plain(value, annotation, where, upload)
    raise ArgumentError(f"{where}: this argument cannot be sent over HTTP.")


def supported(annotation: Any) -> bool:
    """Whether a parameter of this type can be sent as JSON (every API method's must be)."""
    if annotation is Any or annotation is object or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin is not None:
        return all(a is Ellipsis or supported(a) for a in typing.get_args(annotation))
    if not isinstance(annotation, type):
        return False
    if dataclasses.is_dataclass(annotation):
        return all(supported(hint) for hint in _hints(annotation).values())
    return annotation in _PLAIN or issubclass(annotation, Path | enum.Enum)


_PLAIN = (
    bool,
    int,
    float,
    str,
    bytes,
    datetime,
    date,
    timedelta,
    list,
    tuple,
    set,
    frozenset,
    dict,
)


def _union(value: Any, options: tuple[Any, ...], where: str, upload: Upload) -> Any:
    if value is None:
        if type(None) in options:
            return None
        raise _wrong(where, options, value)
    if _is_upload(value):  # a file: its path when the method takes one, else its bytes
        for option in (Path, bytes):
            if option in options:
                return from_json(value, option, where, upload)
    failures: list[ArgumentError] = []
    for option in options:
        if option is type(None):
            continue
        try:
            return from_json(value, option, where, upload)
        except ArgumentError as error:
            failures.append(error)
    if len(failures) == 1:
        raise failures[0]
    raise _wrong(where, options, value)


def _plain(value: Any, kind: type, where: str, upload: Upload) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise _wrong(where, kind, value)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(where, kind, value)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(where, kind, value)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _wrong(where, kind, value)
        return value
    if issubclass(kind, Path):
        return _path(value, where, upload)
    if kind is bytes:
        return _bytes(value, where, upload)
    if kind is datetime or kind is date:
        return _time(value, kind, where)
    if kind is timedelta:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(where, kind, value)
        return timedelta(seconds=value)
    if issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            raise _wrong(where, kind, value) from None
    if dataclasses.is_dataclass(kind):
        return _dataclass(value, kind, where, upload)
    if kind in (list, tuple, set, frozenset, dict):
        return _generic(value, kind, (), where, upload)
    raise ArgumentError(f"{where}: a {kind.__name__} cannot be sent over HTTP.")


def _generic(value: Any, origin: Any, args: tuple[Any, ...], where: str, upload: Upload) -> Any:
    abc = collections.abc
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        if not isinstance(value, dict):
            raise _wrong(where, "an object", value)
        key, item = args if len(args) == 2 else (Any, Any)
        return {
            from_json(_key(k, key), key, f"{where}[{k!r}]", upload): from_json(
                v, item, f"{where}[{k!r}]", upload
            )
            for k, v in value.items()
        }
    if origin in (list, tuple, set, frozenset, abc.Sequence, abc.Iterable, abc.Collection):
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],)
        if origin is tuple and len(args) > 1:
            if len(value) != len(args):
                raise ArgumentError(f"{where}: expected a list of {len(args)} values.")
            return tuple(
                from_json(v, a, f"{where}[{i}]", upload)
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [from_json(v, item, f"{where}[{i}]", upload) for i, v in enumerate(value)]
        return (
            items if origin in (list, abc.Sequence, abc.Iterable, abc.Collection) else origin(items)
        )
    raise ArgumentError(f"{where}: this argument cannot be sent over HTTP.")


def _key(key: str, annotation: Any) -> Any:
    """A JSON object's key (always text) as an integer where the mapping's keys are."""
    if annotation is int and key.lstrip("-").isdigit():
        return int(key)
    return key


def _dataclass(value: Any, kind: type, where: str, upload: Upload) -> Any:
    if not isinstance(value, dict):
        raise _wrong(where, kind, value)
    fields = {f.name: f for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ArgumentError(
            f"{where}: unknown field {unknown[0]!r} of {kind.__name__}. "
            f"Expected some of: {', '.join(fields)}."
        )
    hints = _hints(kind)
    converted = {
        name: from_json(item, hints.get(name, Any), f"{where}.{name}", upload)
        for name, item in value.items()
    }
    try:
        return kind(**converted)
    except TypeError as error:  # a required field left out
        raise ArgumentError(f"{where}: {error}.") from None


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _is_upload(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"$upload"}


def _path(value: Any, where: str, upload: Upload) -> Path:
    if not _is_upload(value) or not isinstance(value["$upload"], str):
        raise ArgumentError(
            f'{where}: a file is sent as {{"$upload": "<id>"}}, not as {_shown(value)}.',
            hint="POST the file to /api/v1/uploads first and pass the id it answers",
        )
    return upload(value["$upload"])


def _bytes(value: Any, where: str, upload: Upload) -> bytes:
    if _is_upload(value):
        return _path(value, where, upload).read_bytes()
    if not isinstance(value, str):
        raise _wrong(where, bytes, value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ArgumentError(f"{where}: expected base64 text, got {_shown(value)}.") from None


def _time(value: Any, kind: type, where: str) -> datetime | date:
    if not isinstance(value, str):
        raise _wrong(where, kind, value)
    try:
        return datetime.fromisoformat(value) if kind is datetime else date.fromisoformat(value)
    except ValueError:
        raise ArgumentError(
            f"{where}: expected an ISO 8601 {kind.__name__}, got {_shown(value)}.",
            hint="e.g. 2026-03-01T12:00:00",
        ) from None


def _wrong(where: str, expected: Any, value: Any) -> ArgumentError:
    return ArgumentError(f"{where}: expected {_name(expected)}, got {_shown(value)}.")


def _name(expected: Any) -> str:
    if isinstance(expected, str):
        return expected
    if isinstance(expected, tuple):
        return " or ".join(_name(e) for e in expected if e is not type(None)) + (
            " or null" if type(None) in expected else ""
        )
    if expected is type(None):
        return "null"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    if expected in names:
        return names[expected]
    if typing.get_origin(expected) is not None:
        return str(expected).replace("collections.abc.", "").replace("typing.", "")
    return getattr(expected, "__name__", str(expected))


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
