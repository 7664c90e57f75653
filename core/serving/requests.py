"""Request bodies of the prediction service, built from the project's columns (pydantic, strict).

``POST /predict`` takes one item or a batch::

    {"request_id": "r-1", "time": "2026-08-03T09:15:00Z", "inputs": {"subject": "…", "body": "…"}}
    {"request_id": "r-2", "items": [{"inputs": {…}, "time": "…", "request_id": "…"}, …]}

``inputs`` holds the project's columns: the model's inputs (required where the project file says
so) and, optionally, the others (the id column becomes the log's ``item_id``; the time column is
the event time when ``time`` is not given). Types are strict: a number is not a string, a category
takes one of its declared values. ``POST /feedback`` takes ``{"request_id", "label", "time"}`` or
``{"items": [...]}`` of those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.projects.spec import Column, ProjectSpec

MAX_BATCH = 1_000
MAX_FEEDBACK_BATCH = 10_000
MAX_ID_LENGTH = 200
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
# What the log and the model hold: integers are int64 in the Parquet log, numbers are finite
# (``allow_inf_nan=False``) and within float32, the type the models compute in; times are within
# what pandas' nanosecond timestamps hold (1677–2262), which monitoring reads the log into.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
EARLIEST_TIME = datetime(1900, 1, 1)
LATEST_TIME = datetime(2200, 1, 1)  # exclusive


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a body: where (``items[2].inputs.reboot_count``) and what."""

    field: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


class BadRequest(Exception):
    """The body was refused; ``problems`` name each field, ``status`` is 400 (not JSON) or 422."""

    def __init__(self, message: str, problems: list[Problem], status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems
        self.status = status


def _in_time_range(moment: datetime) -> datetime:
    """A time the log can hold once in UTC (``0001-01-01T00:00:00+05:00`` is not: in UTC it is
    before year 1). A naive time is taken as UTC."""
    try:
        utc = naive_utc(moment)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise PydanticCustomError(
            "time_range",
            "Input should be a time from {earliest} to {latest} (UTC)",
            {"earliest": f"{EARLIEST_TIME:%Y-%m-%d}", "latest": f"{LATEST_TIME:%Y-%m-%d}"},
        )
    return moment


Time = Annotated[datetime, AfterValidator(_in_time_range)]


def _in_float32_range(value: float) -> float:
    if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
        raise PydanticCustomError(
            "number_range", "Input should be between -3.4e38 and 3.4e38 (a 32-bit float)"
        )
    return value


Number = Annotated[float, AfterValidator(_in_float32_range)]


def _bounds(column: Column) -> dict[str, float]:
    """The column's own ``min``/``max``; integers also within int64."""
    bounds = {"ge": column.min, "le": column.max}
    if column.type == "integer":
        bounds = {
            "ge": INT64_MIN if column.min is None else max(INT64_MIN, column.min),
            "le": INT64_MAX if column.max is None else min(INT64_MAX, column.max),
        }
    return {key: value for key, value in bounds.items() if value is not None}


def _column_type(column: Column, required: bool, spec: ProjectSpec) -> tuple[Any, Any]:
    kind: Any
    limits: dict[str, float] = {}
    if column.type in ("integer", "number"):
        kind = int if column.type == "integer" else Number
        limits = _bounds(column)
    elif column.type == "boolean":
        kind = bool
    elif column.type == "datetime":
        kind = Time
    elif column.type == "category" and column.values:
        kind = Literal[tuple(column.values)]
    else:
        kind = str
        limits = {"max_length": spec.max_length(column) or spec.max_text_length}
    options: dict[str, Any] = {"alias": column.name, **limits}
    if required:
        return kind, Field(..., **options)
    return kind | None, Field(None, **options)


def inputs_model(spec: ProjectSpec) -> type[BaseModel]:
    """The ``inputs`` of one item: every project column, the model's required inputs required."""
    fields: dict[str, Any] = {}
    for index, column in enumerate(spec.columns):
        required = column.name in spec.inputs and column.required
        fields[f"c{index}"] = _column_type(column, required, spec)
    return create_model("Inputs", __config__=STRICT, **fields)


RequestId = Field(None, min_length=1, max_length=MAX_ID_LENGTH)


class _Envelope(BaseModel):
    model_config = STRICT

    @model_validator(mode="after")
    def _one_of(self) -> _Envelope:
        single, batch = getattr(self, "inputs", None), getattr(self, "items", None)
        if (single is None) == (batch is None):
            raise ValueError("send either 'inputs' (one item) or 'items' (a batch of items)")
        if batch is not None and not batch:
            raise ValueError("'items' is empty")
        return self


def predict_model(spec: ProjectSpec) -> type[BaseModel]:
    """The whole ``POST /predict`` body for this project."""
    inputs: Any = inputs_model(spec)
    item: Any = create_model(
        "PredictItem",
        __config__=STRICT,
        request_id=(str | None, RequestId),
        time=(Time | None, None),
        inputs=(inputs, ...),
    )
    fields: dict[str, Any] = {
        "request_id": (str | None, RequestId),
        "time": (Time | None, None),
        "inputs": (inputs | None, None),
        "items": (list[item] | None, Field(None, max_length=MAX_BATCH)),
    }
    return create_model("PredictRequest", __base__=_Envelope, **fields)


def feedback_model(spec: ProjectSpec) -> type[BaseModel]:
    """The whole ``POST /feedback`` body: one label for a request id, or ``items`` of those."""
    label: Any = Literal[tuple(spec.labels.classes)]
    item: Any = create_model(
        "FeedbackItem",
        __config__=STRICT,
        request_id=(str, Field(..., min_length=1, max_length=MAX_ID_LENGTH)),
        label=(label, ...),
        time=(Time | None, None),
    )

    class FeedbackEnvelope(BaseModel):
        model_config = STRICT

        @model_validator(mode="after")
        def _one_of(self) -> FeedbackEnvelope:
            single, batch = getattr(self, "request_id", None), getattr(self, "items", None)
            if (single is None) == (batch is None):
                raise ValueError(
                    "send either 'request_id' and 'label' (one answer) or 'items' (a batch)"
                )
            if single is not None and getattr(self, "label", None) is None:
                raise ValueError("'label' is missing")
            if batch is not None and not batch:
                raise ValueError("'items' is empty")
            return self

    fields: dict[str, Any] = {
        "request_id": (str | None, RequestId),
        "label": (label | None, None),
        "time": (Time | None, None),
        "items": (list[item] | None, Field(None, max_length=MAX_FEEDBACK_BATCH)),
    }
    return create_model("FeedbackRequest", __base__=FeedbackEnvelope, **fields)


class Schemas:
    """The request models of one project definition, and the known keys per section for
    :func:`parse` (the service rebuilds them when a promoted model brings a changed definition)."""

    def __init__(self, spec: ProjectSpec) -> None:
        self.spec = spec
        self.predict = predict_model(spec)
        self.feedback = feedback_model(spec)
        self.allowed = {
            "": ["request_id", "time", "inputs", "items"],
            "inputs": list(spec.column_names),
        }
        self.feedback_allowed = {
            "": ["request_id", "label", "time", "items"],
            "items": ["request_id", "label", "time"],
        }


def parse(model: type[BaseModel], body: bytes, allowed: dict[str, list[str]]) -> Any:
    """Validate ``body`` (JSON) against ``model``; a refusal names every field and its problem.

    ``allowed`` maps a section (``inputs``) to its known keys, to list them for an unknown one.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = [_problem(e, allowed) for e in error.errors(include_url=False)]
        if any(e["type"] == "json_invalid" for e in error.errors(include_url=False)):
            raise BadRequest("The body is not valid JSON", problems, status=400) from None
        raise BadRequest("The request body was refused", problems) from None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(body)"


def _problem(error: Any, allowed: dict[str, list[str]]) -> Problem:
    loc = tuple(p for p in error["loc"] if not _is_internal(p))
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        section = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        known = allowed.get(section) or allowed.get("")
        message = "unknown field" + (f"; expected one of: {', '.join(known)}" if known else "")
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "json_invalid":
        message = f"not valid JSON ({error.get('ctx', {}).get('error', message)})"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    else:
        message = message[0].lower() + message[1:] if message else message
        if "input" in error and kind not in ("missing",):
            message += f" (got {_short(error['input'])})"
    return Problem(_where(loc), message)


def _is_internal(part: Any) -> bool:
    """pydantic names the member of a union it tried (``function-after[…]``, ``list[…]``)."""
    return isinstance(part, str) and ("[" in part or part in ("function-after",))


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def naive_utc(moment: datetime | None) -> datetime | None:
    """Every time in the log is naive UTC; a naive time from a client is taken as UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
