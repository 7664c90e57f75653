"""`loopline simulate`: replay a project's later data through the running service, with feedback.

The replayed rows are the project's rows whose event time comes after the data the production
model was trained on (the end of its training dataset's time range), or from ``start``; for the
sample projects that is the new-language market (A) and the firmware R24.1 rollout (B), so the
replay carries the context shift. Rows go over HTTP in event-time order, in batches per simulated
hour (the hours of a day are merged while a batch holds fewer than ``MIN_BATCH`` items), each
item with its event time. For ``feedback_rate`` of the predicted items the true label follows
about ``feedback_delay_days`` later (uniformly 0.5–1.5 times that), in event-time order between
the batches; labels not due by the end of the window stay pending, as they would in operation.
"""

from __future__ import annotations

import heapq
import math
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

from core.actor import Actor
from core.errors import CoreError, Forbidden, InvalidInput
from core.projects.spec import ProjectSpec
from core.serving.log import PREDICTIONS, count_records, log_folder
from core.store import Workspace

Progress = Callable[[str, float], None]
MIN_BATCH = 100
MAX_BATCH = 200
FEEDBACK_BATCH = 1_000
LABEL_COLUMN = "label"


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
) -> SimulationResult:
    """Replay ``days`` of later data through the service at ``url`` (or one started here)."""
    from core.projects.service import get_project

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
            from core.accounts.access import authorize

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
        rows = _thin(rows, rate_per_hour, rng)
    labels = _truth(rows, spec, truth) if feedback_rate > 0 else {}
    payloads = _payloads(rows, spec)
    name = actor.name if actor is not None else "simulator"
    started = time.monotonic()
    with _service(ws, project, url, token, name) as (address, secret):
        result = _replay(
            address,
            secret,
            spec,
            rows,
            payloads,
            labels,
            window_end,
            feedback_rate=feedback_rate,
            feedback_delay_days=feedback_delay_days,
            rng=rng,
            report=report,
        )
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
        _mix(rows, spec),
        result["first_error"],
        logged,
        log_folder(ws, project, PREDICTIONS),
    )


def replay_rows(
    ws: Workspace, spec: ProjectSpec, start: datetime | str | None, source: Path | None
) -> tuple[pd.DataFrame, datetime]:
    """The rows to replay in event-time order (column ``__ts``) and where the window starts."""
    from core.data.service import latest_dataset, load_rows

    if spec.time_column is None:
        raise InvalidInput(
            f"Project {spec.name!r} has no time column; a replay needs each row's event time.",
            hint="add `time:` under `data:` in the project file",
        )
    if source is not None:
        frame = _read_source(source, spec)
    else:
        dataset = latest_dataset(ws, spec.name)
        if dataset is None:
            raise InvalidInput(f"Project {spec.name!r} has no data yet.", hint="`loopline ingest`")
        frame = load_rows(ws, dataset)
    times = pd.to_datetime(frame[spec.time_column], utc=True).dt.tz_localize(None)
    frame = frame.assign(__ts=times).sort_values(["__ts", spec.id_column], kind="stable")
    if start is not None:
        begin = _naive(pd.Timestamp(start))
        chosen = frame[frame["__ts"] >= begin]
        return chosen.reset_index(drop=True), begin.to_pydatetime()
    cutoff = _trained_until(ws, spec.name)
    chosen = frame[frame["__ts"] > cutoff] if cutoff is not None else frame.iloc[0:0]
    if chosen.empty:
        span = f"{frame['__ts'].min():%Y-%m-%d} – {frame['__ts'].max():%Y-%m-%d}"
        raise InvalidInput(
            f"No rows of {spec.name!r} after {cutoff or 'the production model’s training data'} "
            "to replay: the production model was trained on everything there is.",
            hint=f"pass --start DATE to replay from a date (the data spans {span}), ingest newer "
            "data, or pass --file FILE",
        )
    first = chosen["__ts"].iloc[0].to_pydatetime()
    return chosen.reset_index(drop=True), first


def _trained_until(ws: Workspace, project: str) -> datetime | None:
    """The end of the time range of the data the production model was trained on."""
    from core.artifacts.service import get_artifact
    from core.registry.service import find_alias

    model = find_alias(ws, project)
    if model is None or not model.metadata.get("dataset_id"):
        return None
    trained = get_artifact(ws, model.metadata["dataset_id"]).metadata.get("time_range") or {}
    return _naive(pd.Timestamp(trained["to"])).to_pydatetime() if trained.get("to") else None


def _naive(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo is not None else moment


def _read_source(path: Path, spec: ProjectSpec) -> pd.DataFrame:
    from core.data.extract import load_entry_point
    from core.data.formats import detect_format
    from core.data.service import IngestRefused

    if not Path(path).is_file():
        raise InvalidInput(f"No file at {path}.", hint="check the path")
    extractor = load_entry_point(spec.extractor)
    fmt = detect_format(Path(path).name, None)
    checked = extractor(Path(path), spec, fmt=fmt, name=Path(path).name)
    if not checked.ok:
        raise IngestRefused(Path(path).name, checked.problems, checked.problem_count)
    return checked.frame


def _thin(rows: pd.DataFrame, per_hour: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most ``per_hour`` items per simulated hour (a seeded sample, order kept)."""
    hours = rows["__ts"].dt.floor("h")
    keep = np.zeros(len(rows), dtype=bool)
    for positions in hours.groupby(hours).indices.values():
        if len(positions) > per_hour:
            positions = rng.choice(positions, per_hour, replace=False)
        keep[positions] = True
    return rows[keep].reset_index(drop=True)


def _truth(
    rows: pd.DataFrame, spec: ProjectSpec, truth: Path | str | Mapping[str, str] | None
) -> dict[str, str]:
    if isinstance(truth, Mapping):
        return {str(k): str(v) for k, v in truth.items()}
    if truth is None:
        if LABEL_COLUMN in rows.columns:
            known = rows[[spec.id_column, LABEL_COLUMN]].dropna()
            return dict(
                zip(known[spec.id_column].astype(str), known[LABEL_COLUMN].astype(str), strict=True)
            )
        raise InvalidInput(
            f"Feedback needs the true labels, and {spec.name!r}'s data has no {LABEL_COLUMN!r} "
            "column.",
            hint=f"pass --truth FILE (a CSV with columns {spec.id_column}, {LABEL_COLUMN}) or "
            "--feedback-rate 0",
        )
    path = Path(truth)
    if not path.is_file():
        raise InvalidInput(f"No truth file at {path}.", hint="check the path")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (spec.id_column, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{path.name} has no column {missing[0]!r}; it has: {', '.join(frame.columns)}.",
            hint=f"a truth file has the columns {spec.id_column} and {LABEL_COLUMN}",
        )
    unknown = sorted(set(frame[LABEL_COLUMN]) - set(spec.labels.classes) - {""})
    if unknown:
        raise InvalidInput(
            f"{path.name} holds labels the project does not know: {unknown[:5]}. "
            f"Expected one of: {', '.join(spec.labels.classes)}."
        )
    return dict(zip(frame[spec.id_column], frame[LABEL_COLUMN], strict=True))


def _payloads(rows: pd.DataFrame, spec: ProjectSpec) -> list[dict[str, Any]]:
    """Each row as the service's ``inputs`` (JSON values; missing values left out)."""
    columns = [c for c in spec.columns if c.name in rows.columns]
    values = {c.name: rows[c.name].tolist() for c in columns}
    out: list[dict[str, Any]] = []
    for index in range(len(rows)):
        item: dict[str, Any] = {}
        for column in columns:
            value = values[column.name][index]
            if value is None or value is pd.NA or value is pd.NaT:
                continue
            if isinstance(value, float) and math.isnan(value):
                continue
            if column.type == "integer":
                item[column.name] = int(value)
            elif column.type == "number":
                item[column.name] = float(value)
            elif column.type == "boolean":
                item[column.name] = bool(value)
            elif column.type == "datetime":
                item[column.name] = _iso(pd.Timestamp(value))
            else:
                item[column.name] = str(value)
        out.append(item)
    return out


def _iso(moment: pd.Timestamp) -> str:
    return _naive(moment).isoformat() + "Z"


def _batches(rows: pd.DataFrame) -> Iterator[tuple[int, int]]:
    """Index ranges in event-time order: per simulated hour, hours of a day merged while small."""
    hours = rows["__ts"].dt.floor("h").to_numpy()
    days = rows["__ts"].dt.floor("D").to_numpy()
    begin = 0
    for index in range(1, len(rows) + 1):
        if index == len(rows):
            yield begin, index
            break
        size = index - begin
        new_hour = hours[index] != hours[index - 1]
        if size >= MAX_BATCH or (
            new_hour and (size >= MIN_BATCH or days[index] != days[index - 1])
        ):
            yield begin, index
            begin = index


@contextmanager
def _service(
    ws: Workspace, project: str, url: str | None, token: str | None, actor_name: str
) -> Iterator[tuple[str, str | None]]:
    """The service to talk to: the given URL, or one started here for the replay."""
    if url is not None:
        yield url.rstrip("/"), token
        return
    from core.serving.app import create_app
    from core.serving.server import BackgroundServer

    secret = secrets.token_urlsafe(24)

    def private(given: str) -> Actor:
        if not secrets.compare_digest(given, secret):
            raise Forbidden("Not the simulation's token.")
        return Actor(actor_name, "service")

    app = create_app(ws, project, authenticate=private)
    with BackgroundServer(app) as server:
        yield server.url, secret


def _replay(
    url: str,
    token: str | None,
    spec: ProjectSpec,
    rows: pd.DataFrame,
    payloads: list[dict[str, Any]],
    labels: Mapping[str, str],
    window_end: datetime,
    *,
    feedback_rate: float,
    feedback_delay_days: float,
    rng: np.random.Generator,
    report: Progress,
) -> dict[str, Any]:
    import httpx

    run = secrets.token_hex(4)  # request ids stay unique when a window is replayed again
    ids = rows[spec.id_column].astype(str).tolist()
    times = [t.to_pydatetime() for t in rows["__ts"]]
    pending: list[tuple[datetime, str, str]] = []  # (due, request id, label)
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
            due: list[dict[str, str]] = []
            while pending and pending[0][0] <= until:
                moment, request_id, label = heapq.heappop(pending)
                due.append({"request_id": request_id, "label": label, "time": _iso_dt(moment)})
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

        batches = list(_batches(rows))
        for number, (begin, end) in enumerate(batches):
            send_feedback(times[begin])
            body = {
                "request_id": f"sim-{run}-{number:06d}",
                "items": [
                    {"time": _iso_dt(times[i]), "inputs": payloads[i]} for i in range(begin, end)
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
                    label = labels.get(ids[index])
                    if label and rng.random() < feedback_rate:
                        delay = feedback_delay_days * rng.uniform(0.5, 1.5)
                        heapq.heappush(
                            pending,
                            (times[index] + timedelta(days=delay), item["request_id"], label),
                        )
            week = times[begin] - timedelta(days=times[begin].weekday())
            report(f"week of {week:%Y-%m-%d}", (number + 1) / len(batches))
        send_feedback(window_end)
    state["feedback_pending"] = len(pending)
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


def _mix(rows: pd.DataFrame, spec: ProjectSpec) -> dict[str, dict[str, int]]:
    """Value counts of the replay's category slices (the context shift shows here)."""
    out: dict[str, dict[str, int]] = {}
    for slice_spec in spec.slices:
        column = spec.column(slice_spec.column)
        if slice_spec.derive is None and column.type == "category":
            counts = rows[slice_spec.column].astype("string").fillna("(missing)").value_counts()
            out[slice_spec.name] = {str(k): int(v) for k, v in counts.sort_index().items()}
    return out
