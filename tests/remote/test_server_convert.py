"""JSON arguments to the types the public API's signatures name (core.server.convert), in
process: each kind of annotation, and the exact message for a value that does not fit."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.api import SYSTEM, Client
from core.api.types import AuditQuery, TaskFilter
from core.server.convert import ArgumentError, from_json, supported
from core.server.dispatch import callable_methods


def no_upload(upload_id: str) -> Path:
    raise AssertionError(f"no upload expected, got {upload_id}")


def convert(value: Any, annotation: Any) -> Any:
    return from_json(value, annotation, "arg", no_upload)


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (3, int, 3),
        (3, float, 3.0),
        (True, bool, True),
        ("x", str, "x"),
        (None, int | None, None),
        (7, int | str, 7),
        ("dataset:x@1", int | str | None, "dataset:x@1"),
        ("2026-03-01T12:00:00", datetime, datetime(2026, 3, 1, 12)),
        ("2026-03-01T12:00:00", datetime | str | None, datetime(2026, 3, 1, 12)),
        (90, timedelta, timedelta(seconds=90)),
        (base64.b64encode(b"\x00hi").decode(), bytes, b"\x00hi"),
        ([1, 2], Sequence[int], [1, 2]),
        (["a"], str | Sequence[str], ["a"]),
        ({"C": [0.1, 1]}, Mapping[str, Sequence[Any]], {"C": [0.1, 1]}),
        ({"k": {"n": None}}, dict[str, Any], {"k": {"n": None}}),
        ({"1": 2}, dict[str, int], {"1": 2}),
        ({"1": 2, "-3": 4}, dict[int, int], {1: 2, -3: 4}),
        ([1, "a"], tuple[int, str], (1, "a")),
        (
            {"action": "users.", "since": "2026-01-01T00:00:00", "projects": ["a"]},
            AuditQuery,
            AuditQuery(action="users.", since=datetime(2026, 1, 1), projects=("a",)),
        ),
    ],
)
def test_json_values_become_the_annotated_types(value: Any, annotation: Any, expected: Any) -> None:
    got = convert(value, annotation)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ("3", int, "arg: expected an integer, got '3'."),
        (True, int, "arg: expected an integer, got true."),
        (2.5, int, "arg: expected an integer, got 2.5."),
        (False, float, "arg: expected a number, got false."),
        (None, str, "arg: expected text, got null."),
        ([1], int | str | None, "arg: expected an integer or text or null, got [1]."),
        ("soon", datetime, "arg: expected an ISO 8601 datetime, got 'soon'."),
        ("%%%", bytes, "arg: expected base64 text, got '%%%'."),
        ("a", Sequence[int], "arg: expected a list, got 'a'."),
        ([1, "x"], Sequence[int], "arg[1]: expected an integer, got 'x'."),
        ([1], tuple[int, str], "arg: expected a list of 2 values."),
        ({"k": "v"}, dict[str, int], "arg['k']: expected an integer, got 'v'."),
        ("x", Path, 'arg: a file is sent as {"$upload": "<id>"}, not as \'x\'.'),
        (
            {"$upload": 3},
            Path,
            'arg: a file is sent as {"$upload": "<id>"}, not as {\'$upload\': 3}.',
        ),
        ({"limit": "all"}, AuditQuery, "arg.limit: expected an integer, got 'all'."),
        ([], AuditQuery, "arg: expected AuditQuery, got []."),
    ],
)
def test_a_value_that_does_not_fit_names_the_argument(
    value: Any, annotation: Any, message: str
) -> None:
    with pytest.raises(ArgumentError) as refused:
        convert(value, annotation)
    assert refused.value.message == message


def test_a_path_comes_only_from_an_upload(tmp_path: Path) -> None:
    uploaded = tmp_path / "labels.csv"
    uploaded.write_bytes(b"item_id,annotator,label\n")
    seen: list[str] = []

    def upload(upload_id: str) -> Path:
        seen.append(upload_id)
        return uploaded

    assert from_json({"$upload": "abc"}, Path | None, "path", upload) == uploaded
    assert from_json({"$upload": "abc"}, bytes | Path, "data", upload) == uploaded
    assert from_json({"$upload": "abc"}, bytes, "data", upload) == uploaded.read_bytes()
    assert seen == ["abc", "abc", "abc"]


def test_a_dataclass_argument_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ArgumentError) as refused:
        convert({"status": "open", "colour": "red"}, TaskFilter)
    assert refused.value.message.startswith("arg: unknown field 'colour' of TaskFilter. Expected")


def test_every_parameter_of_every_served_method_can_be_sent_as_json() -> None:
    methods = callable_methods(Client("/nonexistent", SYSTEM))
    assert len(methods) > 100
    unsendable = [
        f"{key}({name}: {method.hints.get(name)})"
        for key, method in methods.items()
        for name in method.parameters
        if not supported(method.hints.get(name, Any))
    ]
    assert unsendable == []
