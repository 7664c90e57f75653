"""Label Studio both ways, judged by Label Studio's own converter: an export imported into a
project with no items, frozen and exported again converts to the same rows as the original."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.actor import Actor
from core.data.service import latest_dataset, load_rows
from core.labeling.freeze import freeze, load_label_set
from core.labeling.interchange import export_label_set, import_label_studio
from core.labeling.queue import current_annotations
from core.labeling.review import latest_reviews
from core.projects.service import create_project
from core.store import Workspace
from tests.core.label_studio_tool import CONFIG, MAPPING, PROJECT_YAML, convert, studio_export


@pytest.fixture
def routing(ws: Workspace, actor: Actor, tmp_path: Path) -> str:
    (tmp_path / "routing.yaml").write_text(PROJECT_YAML)
    return create_project(ws, tmp_path / "routing.yaml", actor).spec.name


def _write(folder: Path, name: str, content: Any) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize(
    ("seed", "user_objects", "id_in_data"),
    [(1, False, True), (2, True, False)],
    ids=["completed_by-id", "completed_by-object-and-ids-from-tasks"],
)
def test_converter_rows_survive_a_round_trip(
    ws: Workspace,
    routing: str,
    actor: Actor,
    tmp_path: Path,
    seed: int,
    user_objects: bool,
    id_in_data: bool,
) -> None:
    export = studio_export(seed, 14, user_objects=user_objects, id_in_data=id_in_data)
    config = _write(tmp_path, "label_config.xml", CONFIG.encode())
    before = convert(config, _write(tmp_path, "export.json", export))

    done = import_label_studio(
        ws,
        routing,
        json.dumps(export).encode(),
        actor,
        config=CONFIG.encode(),
        mapping=MAPPING.encode(),
        file_name="export.json",
    )
    frozen = freeze(ws, routing, actor, [done.task_id])
    back = export_label_set(ws, frozen.artifact.ref, "label-studio")
    after = convert(config, _write(tmp_path, "back.json", back))

    assert before["json_min"] == after["json_min"]
    assert before["csv"] == after["csv"]
    assert before["conll"] == after["conll"]
    # the rows say something: every kept annotation, with its spans, and the unannotated tasks
    kept = [a for t in export for a in t["annotations"] if not a["was_cancelled"]]
    rows = before["json_min"]
    assert len(rows) == len(kept) + sum(1 for t in export if not t["annotations"])
    assert any(isinstance(r.get("ner"), list) and len(r["ner"]) == 2 for r in rows)
    written = json.loads(back)
    assert [t["id"] for t in written] == [t["id"] for t in export]
    assert [t["data"] for t in written] == [t["data"] for t in export]
    assert {r["from_name"] for t in written for a in t["annotations"] for r in a["result"]} == {
        "intent",
        "ner",
    }


def test_import_keeps_every_annotator_and_ground_truth(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    export = studio_export(3, 10)
    done = import_label_studio(
        ws,
        routing,
        json.dumps(export).encode(),
        actor,
        config=CONFIG.encode(),
        mapping=MAPPING.encode(),
    )
    # items created from the export's data: a dataset version, validated like any ingest
    dataset = latest_dataset(ws, routing)
    assert dataset is not None
    rows = load_rows(ws, dataset).set_index("ticket_id")
    assert sorted(rows.index) == sorted(t["data"]["ticket_id"] for t in export)
    assert rows.loc["TK-101", "text"] == export[0]["data"]["text"]
    # every kept annotation, under its annotator's e-mail or Label Studio user id
    answers = current_annotations(ws, [done.task_id])
    expected = sorted(
        (t["data"]["ticket_id"], f"ls-user-{a['completed_by']}")
        for t in export
        for a in t["annotations"]
        if not a["was_cancelled"]
    )
    assert sorted((a.item_id, a.annotator) for a in answers) == expected
    first = next(
        (t, a)
        for t in export
        for a in t["annotations"]
        if not a["was_cancelled"] and len(a["result"]) > 1
    )
    mine = next(
        a
        for a in answers
        if a.item_id == first[0]["data"]["ticket_id"]
        and a.annotator == f"ls-user-{first[1]['completed_by']}"
    )
    assert mine.label == first[1]["result"][-1]["value"]["choices"][0].lower()
    assert {(s.start, s.end, s.text) for s in mine.spans} == {
        (r["value"]["start"], r["value"]["end"], r["value"]["text"])
        for r in first[1]["result"]
        if r["type"] == "labels"
    }
    # ground truth is a reviewer's decision, which the frozen label follows
    truths = {
        t["data"]["ticket_id"]: a for t in export for a in t["annotations"] if a["ground_truth"]
    }
    assert truths, "the generated export has a ground truth"
    reviews = latest_reviews(ws, [done.task_id])
    assert {item for _, item in reviews} == set(truths)
    labels = load_label_set(ws, freeze(ws, routing, actor, [done.task_id]).artifact).set_index(
        "item_id"
    )
    for item, annotation in truths.items():
        assert labels.loc[item, "source"] == "review"
        assert labels.loc[item, "label"] == annotation["result"][-1]["value"]["choices"][0].lower()


def _block(text: str, after: str, fence: str) -> str:
    """The first ``fence`` code block after the line ``after`` in a docs page."""
    rest = text[text.index(after) :]
    start = rest.index(f"```{fence}\n") + len(fence) + 4
    return rest[start : rest.index("```", start)]


def test_the_docs_example_round_trips(
    ws: Workspace, routing: str, actor: Actor, tmp_path: Path
) -> None:
    """docs/labeling.md's worked example, as written there: its config, export and mapping."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "labeling.md").read_text()
    example = page[page.index("### Example: ticket routing from Label Studio") :]
    config = _write(
        tmp_path, "label_config.xml", _block(example, "`label_config.xml`", "xml").encode()
    )
    export = _write(tmp_path, "export.json", _block(example, "`export.json`", "json").encode())
    mapping = _block(example, "so `names.yaml` maps them", "yaml").encode()
    done = import_label_studio(
        ws, routing, export.read_bytes(), actor, config=config.read_bytes(), mapping=mapping
    )
    assert (done.items, done.annotations, done.annotators) == (1, 1, ("ls-user-1",))
    frozen = freeze(ws, routing, actor, [done.task_id])
    back = _write(tmp_path, "back.json", export_label_set(ws, frozen.artifact.ref, "label-studio"))
    before, after = convert(config, export), convert(config, back)
    assert before["json_min"] == after["json_min"] and before["csv"] == after["csv"]
    assert after["json_min"][0]["intent"] == "Bug"
    assert after["json_min"][0]["ner"] == [
        {"start": 18, "end": 33, "text": "Zebra-7 scanner", "labels": ["Product"]}
    ]
