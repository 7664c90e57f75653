"""The server's side of a remote tracker: ``runs.log_batch`` writes each piece of a run once.

A tracker that logs to a server sends its runs as JSON (``to_wire``); here the batches go
through the public API in this process (``Client.runs``), as JSON and back, so each test reads
the real workspace. ``LostResponse`` is a sink whose first answer gets lost after the server
wrote the batch: the tracker sends it again and nothing is written twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core.actor import Actor
from core.api import Client
from core.errors import InvalidInput, NotFound
from core.experiments.tracking import Origin, Tracker, _Buffered, to_wire
from core.store import Workspace, utcnow


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


class ApiSink:
    """A tracker's batches through ``Client.runs`` as JSON, as ``core.remote.tracking`` sends
    them; with ``lose`` set, the answer to that many writes is lost after they were written."""

    keeps_failed = True
    min_block = 1

    def __init__(self, client: Client, lose: int = 0) -> None:
        self.client = client
        self.lose = lose
        self.outbox: list[dict[str, Any]] = []
        self.calls = 0

    @property
    def actor_name(self) -> str:
        return self.client.actor.name

    def check(self, project: str | None, inputs: Sequence[int]) -> None:
        self.client.runs.check_logging(project, list(inputs))

    def reserve(self, count: int) -> list[int]:
        return self.client.runs.reserve_ids(count)

    def write(
        self, fresh: list[_Buffered], done: list[_Buffered], origin: Origin, reserve: int
    ) -> list[int]:
        self.outbox.extend(_json(to_wire(s)) for s in fresh + done)
        answer = self.client.runs.log_batch(
            _json(self.outbox), environment=_json(origin.environment), reserve=reserve
        )
        self.calls += 1
        if self.lose:
            self.lose -= 1
            raise ConnectionResetError("the answer was lost")
        self.outbox = []
        return answer["reserved"]

    def put(self, project: str, content: bytes | Path) -> tuple[str, int]:
        data = content.read_bytes() if isinstance(content, Path) else content
        return self.client.runs.put_file(project, data), len(data)

    def pending(self) -> bool:
        return bool(self.outbox)

    def tidy(self) -> None:
        """The server keeps its tables in order as it writes."""


@pytest.fixture
def client(ws: Workspace, actor: Actor) -> Client:
    return Client(ws.root, actor)


def counts(ws: Workspace) -> dict[str, int]:
    with ws.store.read() as tx:
        return {
            table: tx.scalar(f"SELECT count(*) FROM {table}")
            for table in ("runs", "run_params", "run_metrics", "metric_history", "run_tags")
        }


def log_three(tracker: Tracker) -> None:
    for index in range(3):
        with tracker.start_run("p", tags={"owner": "mia"}) as run:
            run.log_params({"model": "xgb", "depth": index})
            for step in range(4):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_metrics({"f1": 0.5 + index / 10})
            run.log_metrics({"f1": 0.4}, slice="language = de")


def test_a_batch_whose_answer_was_lost_is_written_once(ws: Workspace, client: Client) -> None:
    sink = ApiSink(client, lose=1)
    tracker = Tracker(sink, flush_interval=60)
    log_three(tracker)
    with pytest.raises(ConnectionResetError):
        tracker.flush()  # written, but the tracker never heard so
    assert counts(ws)["runs"] == 3 and sink.pending()
    tracker.close()  # sends the same pieces again
    assert sink.calls == 2 and not sink.pending()
    assert counts(ws) == {
        "runs": 3,
        "run_params": 6,
        "run_metrics": 9,  # loss (its last step), f1, f1 on language = de
        "metric_history": 12,
        "run_tags": 3,
    }
    table = client.runs.search("p", order_by=["run_id ASC"])
    assert list(table.frame["status"]) == ["finished"] * 3
    assert list(table.frame["params.depth"]) == ["0", "1", "2"]


def test_an_open_run_is_sent_in_pieces_and_finished_once(ws: Workspace, client: Client) -> None:
    sink = ApiSink(client, lose=1)
    tracker = Tracker(sink, flush_interval=60)
    with tracker.start_run("p", name="long") as run:
        run.log_params({"model": "lr"})
        run.log_metric("loss", 0.9, step=0)
        with pytest.raises(ConnectionResetError):
            tracker.flush()  # the open run's first piece: written, answer lost
        run.log_metric("loss", 0.5, step=1)
        tracker.flush()  # the first piece again (skipped), and a second one
        with ws.store.read() as tx:
            assert tx.scalar("SELECT status FROM runs WHERE name = 'long'") == "running"
        run.log_metric("loss", 0.2, step=2)
        run.log_metrics({"f1": 0.8})
    tracker.close()
    detail = client.runs.get(run.run_id)
    assert (detail.status, detail.params, detail.metrics["f1"]) == (
        "finished",
        {"model": "lr"},
        0.8,
    )
    with ws.store.read() as tx:
        steps = tx.rows(
            "SELECT step FROM metric_history WHERE run_id = ? ORDER BY step", [run.run_id]
        )
        assert [s for (s,) in steps] == [0, 1, 2]
        assert tx.scalar("SELECT count(*) FROM run_segments WHERE run_id = ?", [run.run_id]) == 3


def test_the_same_batch_sent_twice_returns_the_same_ids(ws: Workspace, client: Client) -> None:
    [run_id] = client.runs.reserve_ids(1)
    piece = _json(to_wire(_piece(run_id)))
    first = client.runs.log_batch([piece], reserve=2)
    again = client.runs.log_batch([piece])
    assert first["run_ids"] == again["run_ids"] == [run_id]
    assert len(first["reserved"]) == 2 and again["reserved"] == []
    assert counts(ws)["runs"] == 1 and counts(ws)["run_params"] == 1


def test_nan_and_infinity_travel_as_text(ws: Workspace, client: Client) -> None:
    sink = ApiSink(client)
    with Tracker(sink) as tracker, tracker.start_run("p") as run:
        run.log_metrics({"loss": float("nan"), "gain": float("inf")})
    with ws.store.read() as tx:
        values = dict(tx.rows("SELECT key, value FROM run_metrics WHERE run_id = ?", [run.run_id]))
    assert math.isnan(values["loss"]) and values["gain"] == math.inf


def test_files_and_models_are_stored_and_named_by_the_run(ws: Workspace, client: Client) -> None:
    sink = ApiSink(client)
    with Tracker(sink) as tracker, tracker.start_run("p") as run:
        digest = run.log_artifact("report", b"hello")
    assert ws.blobs.path(digest).read_bytes() == b"hello"
    with ws.store.read() as tx:
        assert tx.rows("SELECT role, blob_hash, size_bytes FROM run_files") == [
            ("report", digest, 5)
        ]


def _piece(run_id: int, **changes: Any) -> _Buffered:
    state = _Buffered(run_id, "p", "p", f"run-{run_id}", utcnow(), "someone", status="finished")
    state.params = {"model": "xgb"}
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def _refused(client: Client, runs: list[dict[str, Any]], **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        client.runs.log_batch(runs, **kwargs)
    return str(caught.value)


def test_bad_batches_are_refused_with_what_is_wrong(ws: Workspace, client: Client) -> None:
    [run_id] = client.runs.reserve_ids(1)
    good = _json(to_wire(_piece(run_id)))
    assert _refused(client, [{**good, "colour": "red"}]).startswith(
        "A run must have exactly the fields uuid, segment, run_id, project, experiment, name, "
        "status, started_at, ended_at, duration_s, error, params, metrics, history, tags, "
        "inputs, files; got ["
    )
    assert _refused(client, [{**good, "status": "paused"}]) == (
        "Unknown run status 'paused'. Expected one of: running, finished, failed."
    )
    assert _refused(client, [{**good, "segment": "1"}]) == (
        f"Run {good['uuid']!r} is malformed: expected an integer, got '1'."
    )
    assert _refused(client, [{**good, "files": {"m": ["../../etc/passwd", 3]}}]) == (
        f"Run {good['uuid']}: '../../etc/passwd' is not a SHA-256 (64 hex digits)."
    )
    assert _refused(client, [{**good, "files": {"m": ["a" * 64, 3]}}]).startswith(
        f"Run files {'a' * 64} are not stored on the server."
    )
    assert _refused(client, [good], reserve=5000) == (
        "Reserve 0 to 1000 run ids at a time; got 5000."
    )
    client.runs.log_batch([good])
    other = _json(to_wire(_piece(run_id)))  # another run (uuid) with the same id
    assert _refused(client, [other]) == f"Run ids [{run_id}] are taken by other runs."
    assert _refused(client, [{**good, "run_id": run_id + 1}]) == (
        f"Run {good['uuid']} was written as run {run_id}, not {run_id + 1}."
    )
    assert counts(ws)["runs"] == 1


def test_logging_checks_project_role_and_inputs(ws: Workspace, client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.runs.check_logging("p", [999])
    assert str(caught.value) == "Run inputs [999] are not artifacts of this workspace."
    with pytest.raises(InvalidInput) as refused:
        client.runs.reserve_ids(0)
    assert str(refused.value) == "Reserve 1 to 1000 run ids at a time; got 0."
