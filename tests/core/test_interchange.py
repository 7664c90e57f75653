"""Label Studio round trip, CSV/JSONL export, formula injection, and imports that write nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from core.actor import Actor
from core.data.service import ingest
from core.errors import InvalidInput
from core.labeling.freeze import freeze, load_label_set
from core.labeling.interchange import (
    export_label_set,
    import_annotations,
    parse_label_studio,
    read_annotation_table,
    safe_cell,
)
from core.labeling.tasks import list_tasks
from core.projects.service import Project
from core.store import Workspace

HEADER = "ticket_id,opened_at,channel,text,priority,amount,vip\n"


@pytest.fixture
def frozen(ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path) -> str:
    (tmp_path / "t.csv").write_text(
        HEADER + 'T-1,2026-03-01,mail,=HYPERLINK("x"),1,,\n'
        "T-2,2026-03-02,chat,app crash,1,,\nT-3,2026-03-03,mail,buy,1,,\n"
    )
    ingest(ws, "tickets", tmp_path / "t.csv", actor)
    verdicts = read_annotation_table(
        b"item_id,annotator,label\nT-1,ops1,billing\nT-2,ops1,bug\nT-2,ops2,bug\nT-3,ops2,=cmd|' /C calc'!A0\n",
        "v.csv",
    )
    with pytest.raises(InvalidInput, match="1 of 4 annotations are invalid; nothing was imported"):
        import_annotations(ws, "tickets", verdicts, actor)
    assert list_tasks(ws) == [] or all(t.name != "Imported labels" for t in list_tasks(ws)[1:])
    verdicts.loc[3, "label"] = "sales"
    result = import_annotations(ws, "tickets", verdicts, actor, task_name="Operator verdicts")
    assert (result.annotations, result.items, result.annotators) == (4, 3, ("ops1", "ops2"))
    return freeze(ws, "tickets", actor, [result.task_id]).artifact.ref


def test_label_studio_round_trip(ws: Workspace, actor: Actor, frozen: str) -> None:
    exported = export_label_set(ws, frozen, "label-studio")
    tasks = json.loads(exported)
    assert tasks[0]["data"]["text"] == '=HYPERLINK("x")' and tasks[0]["annotations"][0]["result"][
        0
    ]["value"] == {"choices": ["billing"]}
    records = parse_label_studio(exported, "ticket_id")
    back = import_annotations(ws, "tickets", records, actor, task_name="from Label Studio")
    again = freeze(ws, "tickets", actor, [back.task_id])
    original, reimported = load_label_set(ws, frozen), load_label_set(ws, again.artifact)
    assert original[["item_id", "label", "spans"]].equals(reimported[["item_id", "label", "spans"]])


def test_csv_and_jsonl_exports(ws: Workspace, frozen: str) -> None:
    table = pd.read_csv(io.BytesIO(export_label_set(ws, frozen, "csv")))
    assert table["label"].tolist() == ["billing", "bug", "sales"]
    lines = export_label_set(ws, frozen, "jsonl").decode().splitlines()
    assert json.loads(lines[1]) == {
        "item_id": "T-2",
        "label": "bug",
        "spans": [],
        "source": "unanimous",
    }
    with pytest.raises(InvalidInput, match="Unknown export format 'xlsx'"):
        export_label_set(ws, frozen, "xlsx")


def test_formula_injection_is_neutralised() -> None:
    assert [safe_cell(v) for v in ["=1+1", "+A1", "-2", "@SUM(A1)", "plain", 3]] == [
        "'=1+1",
        "'+A1",
        "'-2",
        "'@SUM(A1)",
        "plain",
        3,
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "Not a Label Studio JSON export"),
        (b'{"a": 1}', "expected a list of tasks"),
        (b'[{"data": {"text": "x"}}]', "data has no 'ticket_id'"),
        (
            b'[{"data": {"ticket_id": "T-1"}, "annotations": [{"result": []}]}]',
            "an annotation without a choice",
        ),
    ],
)
def test_malformed_label_studio_files(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_label_studio(raw, "ticket_id")
