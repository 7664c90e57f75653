"""Labeling from the command line: task, import, agreement, review, decide, freeze, export."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run
from tests.conftest import FIXTURES


def test_labeling_round_trip_on_the_command_line(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(FIXTURES / "tickets.yaml"))
    run("-w", ws, "ingest", "tickets", str(FIXTURES / "tickets.csv"))
    made = run(
        "-w",
        ws,
        "task",
        "create",
        "tickets",
        "--name",
        "mail",
        "--where",
        "channel=mail,chat",
        "--overlap",
        "2",
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Task #1 'mail': 3 items")
    verdicts = tmp_path / "v.csv"
    verdicts.write_text(
        "item_id,annotator,label\nT-1,ann,billing\nT-1,ben,bug\nT-2,ann,bug\nT-2,ben,bug\n"
    )
    imported = run("-w", ws, "labels", "import", "tickets", str(verdicts), "--task", "1")
    assert (
        imported.stdout.strip()
        == "Imported 4 annotations on 2 items by 2 annotator(s) into task #1"
    )
    assert "ann · ben: kappa" in run("-w", ws, "agreement", "1").stdout
    review = run("-w", ws, "review", "1")
    assert review.stdout.splitlines()[0] == "1 item(s) wait for review in task #1"
    assert run("-w", ws, "decide", "1", "T-1", "billing", "--note", "invoice").returncode == 0
    frozen = run("-w", ws, "freeze", "tickets", "--task", "1")
    assert frozen.stdout.startswith("#6 label_set:tickets@1: 2 items {'billing': 1, 'bug': 1}"), (
        frozen.stdout
    )
    out = tmp_path / "ls.json"
    assert (
        run(
            "-w",
            ws,
            "labels",
            "export",
            "label_set:tickets@1",
            "--format",
            "label-studio",
            "--out",
            str(out),
        ).returncode
        == 0
    )
    assert [t["data"]["ticket_id"] for t in json.loads(out.read_text())] == ["T-1", "T-2"]
    listing = run("-w", ws, "tasks", "tickets").stdout
    assert "mail" in listing and "answers to give" in listing


def test_bad_labeling_input_is_one_line(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(FIXTURES / "tickets.yaml"))
    run("-w", ws, "ingest", "tickets", str(FIXTURES / "tickets.csv"))
    bad = run("-w", ws, "task", "create", "tickets", "--name", "x", "--where", "channel")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --where takes COLUMN=VALUE")
    missing = run("-w", ws, "freeze", "tickets", "--task", "9")
    assert missing.returncode == 2 and missing.stderr.startswith("error: No labeling task #9.")
    table = tmp_path / "t.txt"
    table.write_text("x")
    assert (
        "expected a Label Studio .json export"
        in run("-w", ws, "labels", "import", "tickets", str(table)).stderr
    )


def test_uncertainty_order_from_a_predictions_file(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(FIXTURES / "tickets.yaml"))
    run("-w", ws, "ingest", "tickets", str(FIXTURES / "tickets.csv"))
    predictions = tmp_path / "p.csv"
    predictions.write_text(
        "item_id,billing,bug,sales\nT-1,0.9,0.05,0.05\nT-2,0.4,0.3,0.3\n"
        "T-3,0.1,0.1,0.8\nT-4,0.5,0.5,0.0\n"
    )
    made = run(
        "-w",
        ws,
        "task",
        "create",
        "tickets",
        "--name",
        "u",
        "--predictions",
        str(predictions),
        "--order",
        "uncertainty",
        "--uncertainty",
        "margin",
        "--limit",
        "2",
    )
    assert made.returncode == 0, made.stderr
    from core.actor import Actor
    from core.labeling.queue import next_item
    from core.store import Workspace

    workspace = Workspace.open(ws)
    first = next_item(workspace, 1, Actor("a", "test"))
    second = next_item(workspace, 1, Actor("b", "test"))
    assert {first.item_id, second.item_id} == {"T-2", "T-4"}  # type: ignore[union-attr]
    assert first.item_id == "T-4" and first.suggestion.label == "billing"  # type: ignore[union-attr]
