"""The public API (core.api): every method of every area called on a real workspace, each result
JSON-serialisable through ``serialise``; exact messages for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.api import Actor, Client, CoreError, Forbidden, IngestRefused, InvalidInput, serialise
from core.api.types import Project
from tests.conftest import FIXTURES
from tests.core import test_api_demo_builds, test_api_demo_data, test_api_demo_operations
from tests.core.api_calls import AREAS, PARTS, Recorder, methods, owned

# -- small workspaces ------------------------------------------------------------------------


@pytest.fixture
def client(ws: Any, tickets: Project) -> Client:
    return Client(ws.root, Actor("tester", "test"))


def test_a_missing_workspace_is_named_with_a_hint(tmp_path: Path) -> None:
    api = Client(tmp_path / "nowhere", Actor("tester", "test"))
    with pytest.raises(CoreError) as caught:
        api.projects.list()
    assert caught.value.message == f"No workspace at {tmp_path / 'nowhere'}."
    assert caught.value.hint.startswith("run `loopline init` or `loopline demo`")


def test_init_makes_a_workspace_where_there_was_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "from-env"))
    api = Client(None, Actor("tester", "test"))  # None: $LOOPLINE_WORKSPACE
    assert api.location == tmp_path / "from-env" and not api.exists()
    assert api.init() == tmp_path / "from-env"
    assert api.exists() and api.projects.list() == []
    assert api.init() == tmp_path / "from-env"  # an existing workspace is opened as it is


def test_serve_refuses_a_tiny_body_limit_before_anything_else(client: Client) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.serving.serve("tickets", max_body_bytes=10)
    assert caught.value.message == "--max-body-bytes must be at least 1000, got 10."


def test_suggestions_need_a_model_or_a_predictions_file(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.labeling.create_task("tickets", name="x", suggest_with="production")
    assert caught.value.message == "Project 'tickets' has no production model yet."
    missing = tmp_path / "none.csv"
    with pytest.raises(InvalidInput) as caught:
        client.labeling.create_task("tickets", name="x", predictions=missing)
    assert caught.value.message == f"No predictions file at {missing}."
    assert client.serving.sample_truth("tickets") is None  # not a sample project


def test_clients_of_one_folder_share_one_workspace_handle(client: Client) -> None:
    other = client.acting_as(Actor("someone", "test"))
    assert other.workspace is client.workspace
    assert other.actor == Actor("someone", "test") and other.location == client.location


def test_projects_and_data_on_the_tickets_project(client: Client, tmp_path: Path) -> None:
    call = Recorder(client)
    assert [p.name for p in call("projects.list")] == ["tickets"]
    assert call("projects.get", "tickets").title == "Support ticket routing"
    assert call("projects.visible", ["tickets", "other"]) == ["tickets", "other"]
    assert call("data.detect_format", "new.CSV") == "csv"
    done = call("data.ingest", "tickets", FIXTURES / "tickets.csv")
    assert (done.new_rows, done.total_rows) == (4, 4)
    report = call("data.quality", done.dataset.artifact_id)
    assert report["rows"] == 4
    assert isinstance(call("data.quality_flags", report), list)
    ranges = call("data.profile", done.dataset.artifact_id, ["priority"], None)
    assert set(ranges["*"]) == {"priority"}
    assert call("data.unusual", {"priority": 99}, ranges, None)["priority"].startswith("high")
    assert call("artifacts.count_by_kind", "tickets") == {
        "data_source": 1,
        "dataset": 1,
        "project": 1,
        "report": 1,
    }
    preview = call("artifacts.preview", done.dataset.artifact_id)
    assert preview[0].shape == "table"
    record = serialise(done.dataset)
    assert isinstance(record, dict)
    assert (
        record["kind"] == "dataset" and record["created_at"] == done.dataset.created_at.isoformat()
    )


def test_a_refused_ingest_names_the_file_and_writes_nothing(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ticket_id,opened_at,channel,text\nT1,2024-01-01,fax,hello\n")
    with pytest.raises(IngestRefused) as caught:
        client.data.ingest("tickets", bad)
    assert caught.value.problems[0].column == "channel"
    assert client.artifacts.list(kind="dataset") == []


def test_an_unknown_format_is_refused_with_the_allowed_ones(client: Client) -> None:
    with pytest.raises(CoreError) as caught:
        client.data.detect_format("notes.txt")
    assert "notes.txt" in caught.value.message


def test_a_label_file_of_another_kind_is_refused(client: Client) -> None:
    with pytest.raises(CoreError) as caught:
        client.labeling.import_labels("tickets", b"x", "labels.xlsx")
    assert caught.value.message == (
        "labels.xlsx: expected a Label Studio .json export or a .csv of item_id, annotator, label."
    )


def test_serialise_turns_results_into_json_values() -> None:
    frame = pd.DataFrame(
        {"value": [1.5, float("nan")], "at": pd.to_datetime(["2024-05-01", None])},
        index=pd.Index(["a", "b"], name="metric"),
    )
    assert serialise(frame) == [
        {"metric": "a", "value": 1.5, "at": "2024-05-01T00:00:00"},
        {"metric": "b", "value": None, "at": None},
    ]
    assert serialise(pd.DataFrame({"x": [1, 2]})) == [{"x": 1}, {"x": 2}]
    assert serialise({1: b"\x00\x01", "when": datetime(2024, 1, 2, tzinfo=UTC)}) == {
        "1": "AAE=",
        "when": "2024-01-02T00:00:00+00:00",
    }
    assert serialise((Path("a/b"), timedelta(minutes=1), {2, 1})) == ["a/b", 60.0, [1, 2]]
    # an actor's token is left out: it is hidden from repr
    assert serialise(Actor("ada", "cli", token="llt.ada.secret")) == {
        "name": "ada",
        "via": "cli",
        "os_user": None,
        "chosen": False,
        "address": None,
    }
    refused = Forbidden("No.", hint="ask an admin")
    assert serialise(refused) == {"error": "Forbidden", "message": "No.", "hint": "ask an admin"}
    with pytest.raises(TypeError, match="serialise: no JSON form for object"):
        serialise(object())


# -- every method, on a copy of the demo: tests/core/test_api_demo_*.py ---------------------


def test_the_demo_parts_together_call_every_method_of_every_area() -> None:
    """Each test_api_demo_<part>.py checks that it called every method of its part; each method
    is one part's, and every part is a file's."""
    owners = {method: [part for part in PARTS if method in owned(part)] for method in methods()}
    wrong = {method: parts for method, parts in owners.items() if len(parts) != 1}
    assert not wrong, f"methods of no part or of two (api_calls.PARTS): {wrong}"
    named = {claim for claims in PARTS.values() for claim in claims}
    assert named <= set(AREAS) | methods(), "a part names what the API does not have"
    files = (test_api_demo_data, test_api_demo_builds, test_api_demo_operations)
    assert sorted(module.PART for module in files) == sorted(PARTS)
