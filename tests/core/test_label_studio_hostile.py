"""Hostile Label Studio files: malformed, entity tricks, wrong encodings, mismatched names. Each is
refused with a message naming what is wrong, and writes nothing (not even the items)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.actor import Actor
from core.data.service import latest_dataset
from core.errors import CoreError
from core.labeling.interchange import import_label_studio
from core.projects.service import create_project
from core.store import Workspace
from tests.core.label_studio_tool import CONFIG, MAPPING, PROJECT_YAML, studio_export


@pytest.fixture
def routing(ws: Workspace, actor: Actor, tmp_path: Path) -> str:
    (tmp_path / "routing.yaml").write_text(PROJECT_YAML)
    return create_project(ws, tmp_path / "routing.yaml", actor).spec.name


def _rows(ws: Workspace) -> dict[str, int]:
    """Every table's row count: what a refused import must leave as it was."""
    with ws.store.read() as tx:
        names = [r[0] for r in tx.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return {n: int(tx.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}


def _export(change: Callable[[list[dict[str, Any]]], object] | None = None) -> bytes:
    tasks = studio_export(5, 8)
    if change is not None:
        change(tasks)
    return json.dumps(tasks, ensure_ascii=False).encode()


def _first_kept(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return next(a for t in tasks for a in t["annotations"] if a["result"])


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<View><Text name="text" value="$text"/><Choices name="intent" toName="text">
<Choice value="&lol2;"/></Choices></View>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE View [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<View><Choices name="intent" toName="text"><Choice value="&xxe;"/></Choices></View>"""

HOSTILE: dict[str, tuple[bytes, bytes | None, bytes | None, str]] = {
    "utf-16": (
        _export().decode().encode("utf-16"),
        CONFIG.encode(),
        MAPPING.encode(),
        "export.json is UTF-16 text; Label Studio exports are UTF-8.",
    ),
    "latin-1": (
        b'[{"id": 1, "data": {"text": "Caf\xe9 cr\xe8me"}, "annotations": []}]',
        CONFIG.encode(),
        MAPPING.encode(),
        "export.json is not UTF-8 text (byte 0xe9 at position ",
    ),
    "truncated": (
        _export()[:-40],
        CONFIG.encode(),
        MAPPING.encode(),
        "Not a Label Studio JSON export: ",
    ),
    "nested-too-deeply": (
        b"[" * 200_000 + b"]" * 200_000,
        None,
        None,
        "Not a Label Studio JSON export: nested too deeply.",
    ),
    "one-task-not-a-list": (
        json.dumps(studio_export(5, 1)[0]).encode(),
        None,
        None,
        "Not a Label Studio JSON export: expected a list of tasks.",
    ),
    "config-billion-laughs": (
        _export(),
        BILLION_LAUGHS,
        MAPPING.encode(),
        "The labeling config is refused: it declares a DTD or entities (DTDForbidden).",
    ),
    "config-external-entity": (
        _export(),
        EXTERNAL_ENTITY,
        MAPPING.encode(),
        "The labeling config is refused: it declares a DTD or entities (DTDForbidden).",
    ),
    "config-malformed": (
        _export(),
        b"<View><Choices name='intent'></View>",
        MAPPING.encode(),
        "The labeling config is not well-formed XML: mismatched tag: line 1, column 31.",
    ),
    "config-without-choices": (
        _export(),
        b'<View><Text name="text" value="$text"/></View>',
        MAPPING.encode(),
        "The labeling config has no <Choices> control; a Loopline project needs a class per item.",
    ),
    "classes-without-mapping": (
        _export(),
        CONFIG.encode(),
        None,
        "Label Studio choice value(s) 'Bug', 'Sales' match none of the project's "
        "classes (billing, bug, sales)",
    ),
    "span-labels-without-mapping": (
        _export(),
        CONFIG.encode(),
        b"classes: {Billing: billing, Bug: bug, Sales: sales}",
        "Label Studio label value(s) 'Date', 'Product' match none of the project's span types "
        "(PRODUCT, DATE)",
    ),
    "control-renamed-in-config": (
        _export(),
        CONFIG.replace('name="intent"', 'name="route"').encode(),
        MAPPING.encode(),
        "choices result(s) named intent → text are not in the labeling config, whose <Choices> "
        "is route → text",
    ),
    "value-not-in-config": (
        _export(lambda ts: _first_kept(ts)["result"][-1]["value"].update(choices=["Spam"])),
        CONFIG.encode(),
        MAPPING.encode(),
        "choices value(s) 'Spam' are not in the config's <Choices name='intent'> "
        "(Billing, Bug, Sales)",
    ),
    "mapping-onto-no-class": (
        _export(),
        CONFIG.encode(),
        MAPPING.replace("Bug: bug", "Bug: defect").encode(),
        "Label Studio choice value(s) 'Bug' match none of the project's classes",
    ),
    "mapping-unknown-key": (
        _export(),
        CONFIG.encode(),
        b"labels: {a: b}",
        "Unknown key(s) in the mapping file: labels. Expected: item_id, classes, span_types, "
        "class_control.",
    ),
    "mapping-not-yaml": (
        _export(),
        CONFIG.encode(),
        b"classes: {Billing: [",
        "The mapping file is not valid YAML",
    ),
    "completed_by-a-list": (
        _export(lambda ts: _first_kept(ts).update(completed_by=[1, 2])),
        CONFIG.encode(),
        MAPPING.encode(),
        "'completed_by' is neither a user id nor an object with an email or id",
    ),
    "span-text-not-in-data": (
        _export(
            lambda ts: next(
                r
                for t in ts
                for a in t["annotations"]
                for r in a["result"]
                if r["type"] == "labels"
            )["value"].update(text="something else")
        ),
        CONFIG.encode(),
        MAPPING.encode(),
        "annotations are invalid; nothing was imported: ",
    ),
    "data-outside-the-schema": (
        _export(lambda ts: ts[3]["data"].update(channel="fax")),
        CONFIG.encode(),
        MAPPING.encode(),
        "The tasks' data does not fit project 'routing'; nothing was imported: task 104 "
        "(item TK-104): channel: value 'fax' is not an allowed category (expected one of: mail, chat).",
    ),
    "same-item-twice": (
        _export(lambda ts: ts[4]["data"].update(ticket_id=ts[3]["data"]["ticket_id"])),
        CONFIG.encode(),
        MAPPING.encode(),
        "task 4: item 'TK-104' appears in two tasks",
    ),
    "two-choices-in-one-result": (
        _export(lambda ts: _first_kept(ts)["result"][-1]["value"].update(choices=["Bug", "Sales"])),
        CONFIG.encode(),
        MAPPING.encode(),
        "result 2: 'value.choices' must hold exactly one name",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_export_is_refused_and_writes_nothing(
    ws: Workspace, routing: str, actor: Actor, case: str
) -> None:
    raw, config, mapping, message = HOSTILE[case]
    before = _rows(ws)
    with pytest.raises(CoreError) as refused:
        import_label_studio(
            ws, routing, raw, actor, config=config, mapping=mapping, file_name="export.json"
        )
    assert message in str(refused.value)
    assert _rows(ws) == before


def test_an_export_refused_after_its_items_were_checked_leaves_no_dataset(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    """The items are a valid ingest; an annotation is not: the dataset version goes too."""
    raw, config, mapping, _ = HOSTILE["span-text-not-in-data"]
    with pytest.raises(CoreError, match="nothing was imported"):
        import_label_studio(ws, routing, raw, actor, config=config, mapping=mapping)
    assert latest_dataset(ws, routing) is None
    done = import_label_studio(ws, routing, _export(), actor, config=config, mapping=mapping)
    assert done.items > 0 and latest_dataset(ws, routing) is not None


def test_unmatched_values_come_with_a_mapping_to_write(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    raw, config, mapping, _ = HOSTILE["classes-without-mapping"]
    with pytest.raises(CoreError) as refused:
        import_label_studio(ws, routing, raw, actor, config=config, mapping=mapping)
    assert refused.value.hint == (
        "map them in a mapping file (classes: {Bug: bug, Sales: sales}; "
        "span_types: {Date: DATE, Product: PRODUCT}) and pass it with --mapping"
    )


def test_tasks_naming_items_the_data_lacks_are_refused(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    first = import_label_studio(
        ws, routing, _export(), actor, config=CONFIG.encode(), mapping=MAPPING.encode()
    )
    more = studio_export(5, 10)  # the same eight tasks, and two more the data does not have
    before = _rows(ws)
    with pytest.raises(CoreError) as refused:
        import_label_studio(
            ws,
            routing,
            json.dumps(more).encode(),
            actor,
            config=CONFIG.encode(),
            mapping=MAPPING.encode(),
        )
    assert str(refused.value) == (
        "2 Label Studio task(s) name items that dataset:routing@1 does not have; nothing was "
        "imported: task 109 (item TK-109), task 110 (item TK-110)."
    )
    assert _rows(ws) == before
    again = import_label_studio(
        ws, routing, _export(), actor, config=CONFIG.encode(), mapping=MAPPING.encode()
    )
    assert again.task_id != first.task_id and again.annotations == first.annotations


def test_an_export_over_the_size_limit_is_refused_before_it_is_read(
    ws: Workspace, routing: str, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.labeling.label_studio as label_studio

    monkeypatch.setattr(label_studio, "MAX_IMPORT_BYTES", 1 << 20)
    huge = json.dumps([{"id": 1, "data": {"text": "x" * (2 << 20)}}]).encode()
    before = _rows(ws)
    with pytest.raises(CoreError) as refused:
        import_label_studio(ws, routing, huge, actor, config=CONFIG.encode())
    assert str(refused.value) == "The file is 2 MiB; imports take at most 1 MiB."
    assert _rows(ws) == before
