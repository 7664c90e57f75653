"""Property test over the request schema, through real HTTP against `loopline serve` (issue 12).

Bodies are drawn from each project's columns: real rows with a few values swapped for edges
(integers around int64, floats around float32 and beyond, times at year 1 and 9999 in far time
zones, adversarial text one short of, at and one over the length limit, wrong types, unknown and
missing fields), single items and batches, and feedback with such times. For every body: never a
5xx, a 4xx says what is wrong. While the fuzzer runs, a separate process polls /health: every poll
is answered, 99% within 100 ms (see ``assert_health_kept_up``). After a graceful stop, every prediction that was answered is in the log
or in the quarantine.
"""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.projects.service import get_project
from core.projects.spec import Column, ProjectSpec
from core.serving.log import read_log, read_quarantine
from core.store import Workspace
from tests.core.test_serving_http import Service, copy_of, ensure_production, inputs, token_for
from tests.core.test_serving_limits_http import HealthPoller, assert_health_kept_up

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same bodies every run: a failure is reproduced by running it again
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
FRAGMENTS = ["a.", "a@", "a@b.", "1 ", "1.", "Monday the ", "x@y.of ", "Aa ", "\né", " "]
TIMES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "1900-01-01T00:00:00+00:01",
    "1899-12-31T23:59:59-00:01",
    "2199-12-31T23:59:59-01:00",
    "2200-01-01T00:00:00Z",
    "2026-08-03T09:15:00Z",
    "2026-08-03T09:15:00",
]
INT64 = 2**63
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)


def times() -> st.SearchStrategy[str]:
    zones = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
    drawn = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
    )
    return st.sampled_from(TIMES) | drawn.map(lambda d: d.isoformat())


def texts(limit: int) -> st.SearchStrategy[str]:
    repeated = st.builds(
        lambda fragment, n: (fragment * n)[:n],
        st.sampled_from(FRAGMENTS),
        st.sampled_from([limit - 1, limit, limit + 1]),
    )
    return st.text(max_size=40) | repeated


def edge(column: Column, spec: ProjectSpec) -> st.SearchStrategy[Any]:
    """Values at and beyond what the column, the model and the log hold; wrong types too."""
    kind = column.type
    if kind == "integer":
        near = st.sampled_from([INT64 - 1, INT64, -INT64, -INT64 - 1, 10**30, -1])
        drawn: st.SearchStrategy[Any] = near | st.integers(-(2**70), 2**70)
    elif kind == "number":
        near_f = st.sampled_from([3.4e38, 3.5e38, -1e300, 10**400, 1e-320, -0.0])
        drawn = near_f | st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "datetime":
        drawn = times()
    elif kind == "category":
        drawn = st.sampled_from(list(column.values or ())) | st.text(max_size=6)
    elif kind == "boolean":
        drawn = st.booleans()
    else:
        drawn = texts(spec.max_length(column) or spec.max_text_length)
    return drawn | json_scalars


def item_inputs(spec: ProjectSpec, rows: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A real row with up to three values swapped for edges, one dropped or one unknown added."""
    columns = {c.name: c for c in spec.columns}

    @st.composite
    def draw(draw: Any) -> dict[str, Any]:
        row = dict(draw(st.sampled_from(rows)))
        for name in draw(st.lists(st.sampled_from(sorted(columns)), max_size=3, unique=True)):
            row[name] = draw(edge(columns[name], spec))
        change = draw(st.sampled_from(["none", "none", "drop", "unknown"]))
        if change == "drop" and row:
            row.pop(draw(st.sampled_from(sorted(row))))
        elif change == "unknown":
            row["colour"] = draw(json_scalars)
        return row

    return draw()


def predict_bodies(spec: ProjectSpec, rows: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    ids = st.none() | st.text(min_size=1, max_size=12)
    one = st.fixed_dictionaries(
        {"inputs": item_inputs(spec, rows)}, optional={"request_id": ids, "time": times()}
    )
    entry = st.fixed_dictionaries(
        {"inputs": item_inputs(spec, rows)}, optional={"request_id": ids, "time": times()}
    )
    batch = st.fixed_dictionaries(
        {"items": st.lists(entry, min_size=1, max_size=4)},
        optional={"request_id": ids, "time": times()},
    )
    return one | batch


def feedback_bodies(spec: ProjectSpec) -> st.SearchStrategy[Any]:
    label = st.sampled_from(list(spec.labels.classes)) | st.text(max_size=5)
    answer = st.fixed_dictionaries(
        {"request_id": st.text(min_size=1, max_size=12), "label": label},
        optional={"time": times()},
    )
    return answer | st.fixed_dictionaries({"items": st.lists(answer, min_size=1, max_size=3)})


def clear(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json().get("error"), response.text


def answered_ids(body: dict[str, Any]) -> list[str]:
    if "items" in body:
        return [str(item["request_id"]) for item in body["items"]]
    return [str(body["request_id"])]


@pytest.mark.parametrize("project", ["hw-triage", "ooo-replies"])
def test_the_service_holds_under_generated_requests(
    demo_workspace: Path, tmp_path: Path, project: str
) -> None:
    path = copy_of(demo_workspace, tmp_path / "ws")
    ensure_production(path, project)
    spec = get_project(Workspace.open(path), project).spec
    rows = inputs(path, project, 30)
    token = token_for(path, "fuzz-feedback", "service")
    service = Service(path, project)
    answered: set[str] = set()
    statuses: dict[int, int] = {}

    def post(path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        """As JSON, NaN and infinities included (as Python writes them: not valid JSON)."""
        return service.client.post(
            path,
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )

    @FUZZ
    @given(body=predict_bodies(spec, rows), feedback=st.none() | feedback_bodies(spec))
    def one(body: dict[str, Any], feedback: dict[str, Any] | None) -> None:
        answer = post("/predict", body)
        clear(answer)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        if answer.status_code == 200:
            answered.update(answered_ids(answer.json()))
        if feedback is not None:
            clear(post("/feedback", feedback, {"Authorization": f"Bearer {token}"}))

    try:
        with HealthPoller(service.url, tmp_path) as poll:
            one()
    finally:
        service.stop(signal.SIGTERM)
    assert statuses.get(200, 0) >= 10 and statuses.get(422, 0) >= 10, statuses  # both kinds ran
    assert_health_kept_up(poll.latencies)
    logged = set(read_log(path, project)["request_id"])
    held = {str(e["record"].get("request_id")) for e in read_quarantine(path, project)}
    assert answered - logged - held == set()
