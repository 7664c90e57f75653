"""`loopline simulate`: replay a project's later data through the running service, with feedback.

What is replayed and when (the rows after the production model's training data, batches per
simulated hour, the true labels that follow the predictions some days later) is decided in
:mod:`core.serving.replay`; this module drives the service over HTTP: the given ``--url`` or one
started here on a free port, one ``/predict`` request per batch with each item's event time, the
labels that fell due sent to ``/feedback`` between the batches, and a summary of the run.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.accounts.access import authorize
from core.actor import Actor
from core.errors import CoreError, Forbidden, InvalidInput
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.serving.log import PREDICTIONS, count_records, log_folder
from core.serving.replay import (
    FeedbackSchedule,
    batches,
    payloads,
    replay_rows,
    slice_mix,
    thin,
    truth_labels,
)
from core.store import Workspace

Progress = Callable[[str, float], None]
FEEDBACK_BATCH = 1_000


@dataclass(frozen=True)
class SimulationResult:
    project: str
    url: str
    start: datetime
    end: datetime
    items: int
    predicted: int
    errors: int
    feedback_sent: int
    feedback_pending: int
    requests: int
    seconds: float
    model_versions: tuple[int, ...]
    mix: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    first_error: str | None = None
    logged: int | None = None  # records in the log after the run (when it started the service)
    log_folder: Path | None = None


def simulate(
    ws: Workspace,
    project: str,
    *,
    days: float,
    url: str | None = None,
    start: datetime | str | None = None,
    feedback_rate: float = 0.7,
    feedback_delay_days: float = 3.0,
    truth: Path | str | Mapping[str, str] | None = None,
    rate_per_hour: int | None = None,
    seed: int = 0,
    source: Path | None = None,
    token: str | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
    truth_columns: Mapping[str, str] | None = None,
) -> SimulationResult:
    """Replay ``days`` of later data through the service at ``url`` (or one started here).
    ``truth_columns``: the truth file's own id and label columns (``{"id": …, "label": …}``)."""
    if not days > 0:
        raise InvalidInput(f"--days must be positive, got {days}.")
    if not 0 <= feedback_rate <= 1:
        raise InvalidInput(f"--feedback-rate must be between 0 and 1, got {feedback_rate}.")
    if feedback_delay_days < 0:
        raise InvalidInput(f"--feedback-delay-days must be 0 or more, got {feedback_delay_days}.")
    if rate_per_hour is not None and rate_per_hour < 1:
        raise InvalidInput(f"--rate-per-hour must be at least 1, got {rate_per_hour}.")
    if url is not None and feedback_rate > 0 and not token:
        raise InvalidInput(
            "Feedback needs a token for the service at --url.",
            hint="pass --token (or set LOOPLINE_TOKEN; `loopline tokens create` makes one), "
            "or --feedback-rate 0",
        )
    report = progress or (lambda stage, fraction: None)
    with ws.store.read():  # one opening of the workspace for everything read here
        spec = get_project(ws, project).spec
        if actor is not None and feedback_rate > 0 and url is None:  # else the service checks
            authorize(ws, actor, "feedback", project)
        rows, window_start = replay_rows(ws, spec, start, source)
    window_end = window_start + timedelta(days=days)
    rows = rows[rows["__ts"] < window_end]
    if rows.empty:
        raise InvalidInput(
            f"No rows of {project!r} between {window_start:%Y-%m-%d %H:%M} and "
            f"{window_end:%Y-%m-%d %H:%M} to replay.",
            hint="choose another --start or more --days",
        )
    rng = np.random.default_rng(seed)
    if rate_per_hour is not None:
        rows = thin(rows, rate_per_hour, rng)
    labels = truth_labels(rows, spec, truth, truth_columns) if feedback_rate > 0 else {}
    schedule = FeedbackSchedule(labels, rate=feedback_rate, delay_days=feedback_delay_days, rng=rng)
    inputs = payloads(rows, spec)
    name = actor.name if actor is not None else "simulator"
    started = time.monotonic()
    with _service(ws, project, url, token, name) as (address, secret):
        result = _replay(address, secret, spec, rows, inputs, schedule, window_end, report=report)
    logged = count_records(ws, project, PREDICTIONS) if url is None else None
    report("done", 1.0)
    return SimulationResult(
        project,
        url or address,
        window_start,
        window_end,
        len(rows),
        result["predicted"],
        result["errors"],
        result["feedback_sent"],
        result["feedback_pending"],
        result["requests"],
        round(time.monotonic() - started, 2),
        tuple(sorted(result["versions"])),
        slice_mix(rows, spec),
        result["first_error"],
        logged,
        log_folder(ws, project, PREDICTIONS),
    )


@contextmanager
def _service(
    ws: Workspace, project: str, url: str | None, token: str | None, actor_name: str
) -> Iterator[tuple[str, str | None]]:
    """The service to talk to: the given URL, or one started here for the replay."""
    if url is not None:
        yield url.rstrip("/"), token
        return

    secret = secrets.token_urlsafe(24)

    def private(given: str) -> Actor:
        if not secrets.compare_digest(given, secret):
            raise Forbidden("Not the simulation's token.")
        return Actor(actor_name, "service")

    from core.serving.app import create_app  # the web stack, only when a service is started
    from core.serving.server import BackgroundServer

    app = create_app(ws, project, authenticate=private)
    with BackgroundServer(app) as server:
        yield server.url, secret


def _replay(
    url: str,
    token: str | None,
    spec: ProjectSpec,
    rows: pd.DataFrame,
    inputs: list[dict[str, Any]],
    schedule: FeedbackSchedule,
    window_end: datetime,
    *,
    report: Progress,
) -> dict[str, Any]:
    import httpx

    run = secrets.token_hex(4)  # request ids stay unique when a window is replayed again
    ids = rows[spec.id_column].astype(str).tolist()
    times = [t.to_pydatetime() for t in rows["__ts"]]
    state: dict[str, Any] = {
        "predicted": 0,
        "errors": 0,
        "feedback_sent": 0,
        "requests": 0,
        "versions": set(),
        "first_error": None,
    }
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:

        def send_feedback(until: datetime) -> None:
            due = [
                {"request_id": request_id, "label": label, "time": _iso_dt(moment)}
                for moment, request_id, label in schedule.due(until)
            ]
            for begin in range(0, len(due), FEEDBACK_BATCH):
                answer = _post(client, "/feedback", {"items": due[begin : begin + FEEDBACK_BATCH]})
                state["requests"] += 1
                if answer.status_code != 200:
                    raise CoreError(
                        f"The service refused the feedback ({answer.status_code}): "
                        f"{_message(answer)}",
                        hint="check the token (--token / LOOPLINE_TOKEN) and its role",
                    )
                state["feedback_sent"] += int(answer.json()["accepted"])

        ranges = list(batches(rows))
        for number, (begin, end) in enumerate(ranges):
            send_feedback(times[begin])
            body = {
                "request_id": f"sim-{run}-{number:06d}",
                "items": [
                    {"time": _iso_dt(times[i]), "inputs": inputs[i]} for i in range(begin, end)
                ],
            }
            answer = _post(client, "/predict", body)
            state["requests"] += 1
            if answer.status_code != 200:
                state["errors"] += end - begin
                state["first_error"] = state["first_error"] or _message(answer)
            else:
                data = answer.json()
                state["versions"].add(int(data["model"]["version"]))
                for offset, item in enumerate(data["items"]):
                    index = begin + offset
                    state["predicted"] += 1
                    schedule.predicted(ids[index], item["request_id"], times[index])
            week = times[begin] - timedelta(days=times[begin].weekday())
            report(f"week of {week:%Y-%m-%d}", (number + 1) / len(ranges))
        send_feedback(window_end)
    state["feedback_pending"] = schedule.pending
    return state


def _post(client: Any, path: str, body: Any) -> Any:
    import httpx

    try:
        return client.post(path, json=body)
    except httpx.HTTPError as error:
        raise CoreError(
            f"Cannot reach the prediction service at {client.base_url}: {error}.",
            hint="start it with `loopline serve PROJECT`, or leave out --url to start one here",
        ) from None


def _message(answer: Any) -> str:
    try:
        return str(answer.json().get("error") or answer.text)[:300]
    except ValueError:
        return str(answer.text)[:300]


def _iso_dt(moment: datetime) -> str:
    return moment.isoformat() + "Z"
