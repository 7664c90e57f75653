"""Request bodies of the prediction service: built from the project's columns, strict, and every
refusal names the field and the problem."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from core.projects.service import load_spec_text
from core.projects.spec import ProjectSpec
from core.serving.requests import (
    MAX_BATCH,
    BadRequest,
    feedback_model,
    naive_utc,
    parse,
    predict_model,
)
from tests.conftest import FIXTURES

GOOD = {"ticket_id": "T-1", "channel": "mail", "text": "Refund please", "priority": 2}
ALLOWED = {
    "": ["request_id", "time", "inputs", "items"],
    "inputs": ["ticket_id", "opened_at", "channel", "text", "priority", "amount", "vip"],
}


@pytest.fixture(scope="module")
def spec() -> ProjectSpec:
    return load_spec_text((FIXTURES / "tickets.yaml").read_text(), "tickets.yaml")


def refused(spec: ProjectSpec, body: Any) -> tuple[int, list[tuple[str, str]]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(BadRequest) as error:
        parse(predict_model(spec), raw, ALLOWED)
    return error.value.status, [(p.field, p.problem) for p in error.value.problems]


def test_one_item_and_a_batch_are_read(spec: ProjectSpec) -> None:
    one = parse(predict_model(spec), json.dumps({"inputs": GOOD}).encode(), ALLOWED)
    values = one.inputs.model_dump(by_alias=True)
    assert values["text"] == "Refund please" and values["priority"] == 2
    assert values["amount"] is None and one.items is None
    batch = parse(
        predict_model(spec),
        json.dumps(
            {
                "request_id": "b-1",
                "items": [
                    {"inputs": GOOD, "time": "2026-08-03T09:15:00+02:00", "request_id": "own"},
                    {"inputs": {**GOOD, "amount": 3, "vip": True}},
                ],
            }
        ).encode(),
        ALLOWED,
    )
    assert len(batch.items) == 2 and batch.items[0].request_id == "own"
    assert naive_utc(batch.items[0].time) == datetime(2026, 8, 3, 7, 15)
    assert batch.items[1].inputs.model_dump(by_alias=True)["amount"] == 3.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"inputs": {**GOOD, "priority": "2"}},
            [("inputs.priority", 'input should be a valid integer (got "2")')],
        ),
        (
            {"inputs": {**GOOD, "priority": 9}},
            [("inputs.priority", "input should be less than or equal to 5 (got 9)")],
        ),
        (
            {"inputs": {**GOOD, "channel": "fax"}},
            [("inputs.channel", "input should be 'mail', 'chat' or 'phone' (got \"fax\")")],
        ),
        (
            {"inputs": {**GOOD, "vip": 1}},
            [("inputs.vip", "input should be a valid boolean (got 1)")],
        ),
        (
            {"inputs": {k: v for k, v in GOOD.items() if k != "text"}},
            [("inputs.text", "required field is missing")],
        ),
        (
            {"inputs": {**GOOD, "colour": "red"}},
            [
                (
                    "inputs.colour",
                    "unknown field; expected one of: ticket_id, opened_at, channel, text, "
                    "priority, amount, vip",
                )
            ],
        ),
        (
            {"inputs": GOOD, "model": "v2"},
            [("model", "unknown field; expected one of: request_id, time, inputs, items")],
        ),
        (
            {"inputs": GOOD, "items": [{"inputs": GOOD}]},
            [("(body)", "send either 'inputs' (one item) or 'items' (a batch of items)")],
        ),
        ({"items": []}, [("(body)", "'items' is empty")]),
        (
            {"items": [{"inputs": GOOD}, {"inputs": {**GOOD, "amount": -1}}]},
            [("items[1].inputs.amount", "input should be greater than or equal to 0 (got -1)")],
        ),
        (
            {"inputs": GOOD, "time": "yesterday"},
            [("time", 'input should be a valid datetime, input is too short (got "yesterday")')],
        ),
        (
            {"inputs": GOOD, "request_id": ""},
            [("request_id", 'string should have at least 1 character (got "")')],
        ),
        (
            [GOOD],
            [
                (
                    "(body)",
                    'input should be an object (got [{"ticket_id": "T-1", "channel": "mail", "text": "Refund …)',
                )
            ],
        ),
    ],
)
def test_refusals_name_the_field_and_the_problem(
    spec: ProjectSpec, body: Any, expected: list[tuple[str, str]]
) -> None:
    assert refused(spec, body) == (422, expected)


def test_not_json_is_400(spec: ProjectSpec) -> None:
    status, problems = refused(spec, b'{"inputs": ')
    assert status == 400 and problems[0][0] == "(body)"
    assert problems[0][1].startswith("not valid JSON (EOF while parsing")


def test_no_nan_or_infinity(spec: ProjectSpec) -> None:
    status, problems = refused(spec, b'{"inputs": {"channel": "mail", "text": "x", "amount": NaN}}')
    assert (status, problems) == (
        422,
        [("inputs.amount", "input should be a finite number (got NaN)")],
    )
    status, problems = refused(
        spec, b'{"inputs": {"channel": "mail", "text": "x", "amount": 1e999}}'
    )
    assert problems[0] == ("inputs.amount", "input should be a finite number (got Infinity)")


def test_a_batch_has_a_limit(spec: ProjectSpec) -> None:
    status, problems = refused(spec, {"items": [{"inputs": GOOD}] * (MAX_BATCH + 1)})
    assert status == 422 and problems[0][0] == "items"
    assert problems[0][1].startswith(f"list should have at most {MAX_BATCH} items")


def test_feedback_bodies(spec: ProjectSpec) -> None:
    model = feedback_model(spec)
    one = parse(model, b'{"request_id": "r-1", "label": "bug"}', {})
    assert (one.request_id, one.label, one.items) == ("r-1", "bug", None)
    many = parse(
        model,
        b'{"items": [{"request_id": "r-1", "label": "sales", "time": "2026-08-09T10:00:00Z"}]}',
        {},
    )
    assert many.items[0].label == "sales"
    with pytest.raises(BadRequest) as error:
        parse(model, b'{"request_id": "r-1", "label": "spam"}', {})
    assert [(p.field, p.problem) for p in error.value.problems] == [
        ("label", "input should be 'billing', 'bug' or 'sales' (got \"spam\")")
    ]
    with pytest.raises(BadRequest) as error:
        parse(model, b'{"request_id": "r-1"}', {})
    assert error.value.problems[0].problem == "'label' is missing"
