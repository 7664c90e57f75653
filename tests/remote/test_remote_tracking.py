"""A notebook logging to the team server: ``core.remote.tracking.Tracker`` in a process that knows
only the server's URL and a token, against `loopline server` in a subprocess (the ``hub``).

The lost-response test puts a small TCP proxy between the notebook and the server that swallows
the server's first answer to ``runs.log_batch`` (after the server wrote the batch) and cuts the
connection; the tracker, told not to retry on its own, keeps the batch and sends it again with
its next flush, and the server writes each run once."""

from __future__ import annotations

import contextlib
import json
import socket
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.remote.conftest import Hub

NOTEBOOK = """
import json, sys
from pathlib import Path
from core.remote import from_env
from core.remote.tracking import Tracker

class TinyModel:
    def files(self):
        return {"model.json": b'{"kind": "tiny"}', "weights.bin": bytes(range(256)) * 64}

Path("report.txt").write_text("per-class report\\n" * 1000)
ids = []
with Tracker() as tracker:  # LOOPLINE_URL and LOOPLINE_TOKEN
    for index in range(3):
        with tracker.start_run("tickets", experiment="nb", tags={"owner": "mia"}) as run:
            run.log_params({"model": "xgb" if index else "lr", "depth": index})
            for step in range(5):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_metrics({"f1": 0.5 + index / 10})
            run.log_metrics({"f1": 0.25}, slice="language = de")
            run.log_artifact("report", Path("report.txt"))
            files = run.log_model(TinyModel())
        ids.append(run.run_id)
client = from_env()
table = client.runs.search("tickets", "params.model = 'xgb'", ["metrics.f1 DESC"])
detail = client.runs.get(ids[-1])
print(json.dumps({
    "ids": ids,
    "found": [int(i) for i in table.frame["run_id"]],
    "detail": {
        "status": detail.status,
        "created_by": detail.created_by,
        "params": detail.params,
        "metrics": detail.metrics,
        "slices": detail.slice_metrics,
        "history": len(detail.history),
        "tags": detail.tags,
        "files": detail.files,
    },
    "model_files": files,
    "duckdb": "duckdb" in sys.modules,
}))
"""


def _last_json(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def test_a_notebook_logs_runs_metrics_files_and_models_to_the_server(hub: Hub) -> None:
    out = _last_json(hub.run_python(NOTEBOOK, token="data_scientist"))
    assert out["duckdb"] is False  # the notebook never loaded DuckDB
    _, second, third = out["ids"]
    assert out["found"] == [third, second]  # xgb runs, best f1 first
    detail = out["detail"]
    assert detail["status"] == "finished" and detail["created_by"] == "data_scientist"
    assert detail["params"] == {"model": "xgb", "depth": "2"}
    assert detail["metrics"]["f1"] == pytest.approx(0.7) and detail["metrics"]["loss"] == 0.2
    assert detail["slices"] == {"language = de": {"f1": 0.25}}
    assert detail["history"] == 5 and detail["tags"] == {"owner": "mia"}
    assert set(detail["files"]) == {"report", "model.json", "weights.bin"}
    assert detail["files"]["model.json"] == out["model_files"]["model.json"]


def test_a_role_that_may_not_train_is_refused_before_logging(hub: Hub) -> None:
    code = textwrap.dedent(
        """
        from core.remote.tracking import Tracker
        from core.api import CoreError
        try:
            with Tracker() as tracker:
                tracker.start_run("tickets")
        except CoreError as error:
            print(type(error).__name__, error)
        """
    )
    done = hub.run_python(code, token="annotator")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Forbidden ")


class LosingProxy:
    """Forwards TCP to ``upstream``; the answer to the first ``runs/log_batch`` request is
    swallowed and the client's connection cut (the server has written the batch by then)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.to_lose = 1
        self.lost = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            state = {"lose": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                if b"/runs/log_batch" in data:
                    with self._lock:
                        if self.to_lose:
                            self.to_lose -= 1
                            state["lose"] = True
                server.sendall(data)
        except OSError:
            pass

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := server.recv(65536):
                if state["lose"]:  # the answer to the batch: dropped, and the connection cut
                    self.lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        for end in (client, server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(hub: Hub) -> Iterator[LosingProxy]:
    found = LosingProxy(hub.url)
    yield found
    found.close()


def test_a_batch_whose_answer_was_lost_is_written_once(hub: Hub, proxy: LosingProxy) -> None:
    code = textwrap.dedent(
        f"""
        import os
        from core.remote.tracking import Tracker
        tracker = Tracker({proxy.url!r}, os.environ["LOOPLINE_TOKEN"], retries=0,
                          flush_interval=3600)
        for index in range(20):
            with tracker.start_run("tickets", tags={{"batch": "lost-answer"}}) as run:
                run.log_params({{"index": index}})
                for step in range(10):
                    run.log_metric("loss", 1 / (step + 1), step=step)
        try:
            tracker.flush()
        except Exception as error:
            print("first flush:", type(error).__name__)
        tracker.close()  # sends the kept batch again
        print("closed", run.run_id)
        """
    )
    done = hub.run_python(code, token="data_scientist")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "first flush: CoreError" in done.stdout and proxy.lost == 1
    last = int(done.stdout.split("closed")[1])
    status, found = hub.call(
        "runs",
        "search",
        token="data_scientist",
        project="tickets",
        filter="tags.batch = 'lost-answer'",
    )
    assert status == 200, found
    rows = found["result"]["frame"]
    assert len(rows) == 20 and sorted(r["params.index"] for r in rows) == sorted(
        str(i) for i in range(20)
    )
    status, detail = hub.call("runs", "get", token="data_scientist", run_id=last)
    assert status == 200 and len(detail["result"]["history"]) == 10
