"""Label Studio configs with several controls (nested views, two objects, a second <Choices>,
<Labels> on another object, a TextArea, a Rating): each control is mapped onto the project's
class or span types or ignored with the reason, and the round trip through Label Studio's own
converter gives the same rows, the ignored controls' results included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.actor import Actor
from core.errors import CoreError
from core.labeling.freeze import freeze
from core.labeling.interchange import export_label_set, import_label_studio
from core.labeling.queue import current_annotations
from core.projects.service import create_project
from core.store import Workspace
from tests.core.label_studio_tool import (
    MAPPING,
    MULTI_CONFIG,
    MULTI_PROJECT_YAML,
    ONE_OBJECT_CONFIG,
    PROJECT_YAML,
    convert,
    studio_export_multi,
)

IGNORED = (
    "control 'subject_tags' is not imported: it marks spans in $subject, not in the project's "
    "span field 'text'",
    "control 'urgency' is not imported: the class comes from <Choices name='intent'>",
    "control 'comment' is not imported: Loopline has no counterpart for <TextArea>",
    "control 'confidence' is not imported: Loopline has no counterpart for <Rating>",
)


@pytest.fixture
def routing(ws: Workspace, actor: Actor, tmp_path: Path) -> str:
    (tmp_path / "routing.yaml").write_text(MULTI_PROJECT_YAML)
    return create_project(ws, tmp_path / "routing.yaml", actor).spec.name


def _rows(ws: Workspace) -> dict[str, int]:
    with ws.store.read() as tx:
        names = [r[0] for r in tx.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return {n: int(tx.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}


def _write(folder: Path, name: str, content: Any) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize("subject", [True, False], ids=["two-objects", "one-object"])
def test_several_controls_round_trip_through_the_converter(
    ws: Workspace, actor: Actor, tmp_path: Path, subject: bool
) -> None:
    (tmp_path / "routing.yaml").write_text(MULTI_PROJECT_YAML if subject else PROJECT_YAML)
    routing = create_project(ws, tmp_path / "routing.yaml", actor).spec.name
    xml = MULTI_CONFIG if subject else ONE_OBJECT_CONFIG
    export = studio_export_multi(4, 14, subject=subject)
    config = _write(tmp_path, "label_config.xml", xml.encode())
    before = convert(config, _write(tmp_path, "export.json", export))

    done = import_label_studio(
        ws, routing, json.dumps(export).encode(), actor, config=xml.encode(),
        mapping=MAPPING.encode(),
    )  # fmt: skip
    assert done.ignored == (IGNORED if subject else IGNORED[1:])
    # the class from intent (on the subject), the spans from ner only (never subject_tags)
    answers = {(a.item_id, a.annotator): a for a in current_annotations(ws, [done.task_id])}
    for task in export:
        for annotation in task["annotations"]:
            if annotation["was_cancelled"]:
                continue
            mine = answers[(task["data"]["ticket_id"], f"ls-user-{annotation['completed_by']}")]
            results = annotation["result"]
            intent = next(r for r in results if r["from_name"] == "intent")
            assert mine.label == intent["value"]["choices"][0].lower()
            assert sorted((s.start, s.end, s.type) for s in mine.spans) == sorted(
                (r["value"]["start"], r["value"]["end"], r["value"]["labels"][0].upper())
                for r in results
                if r["from_name"] == "ner"
            )

    frozen = freeze(ws, routing, actor, [done.task_id])
    back = export_label_set(ws, frozen.artifact.ref, "label-studio")
    after = convert(config, _write(tmp_path, "back.json", back))
    # Label Studio offers CoNLL for one text object only
    assert (before["conll"] is None) == subject and before["conll"] == after["conll"]
    assert before["json_min"] == after["json_min"]
    assert before["csv"] == after["csv"]
    rows = before["json_min"]
    controls = ["intent", "ner", "urgency", "comment", "confidence"]
    for control in [*controls, "subject_tags"] if subject else controls:
        assert any(control in row for row in rows), control  # the rows say something
    written = json.loads(back)
    assert [t["data"] for t in written] == [t["data"] for t in export]
    for old, new in zip(export, written, strict=True):  # every result in its place
        kept = [a for a in old["annotations"] if not a["was_cancelled"]]
        assert [[r["id"] for r in a["result"]] for a in new["annotations"][: len(kept)]] == [
            [r["id"] for r in a["result"]] for a in kept
        ]


def _import(ws: Workspace, project: str, actor: Actor, config: str, mapping: str | None) -> Any:
    return import_label_studio(
        ws,
        project,
        json.dumps(studio_export_multi(4, 6)).encode(),
        actor,
        config=config.encode(),
        mapping=None if mapping is None else mapping.encode(),
    )


TOPIC = MULTI_CONFIG.replace(
    '<TextArea name="comment"',
    '<Choices name="topic" toName="text"><Choice value="Billing"/><Choice value="Bug"/>'
    '<Choice value="Sales"/></Choices>\n    <TextArea name="comment"',
)

REFUSED: dict[str, tuple[str, str | None, str]] = {
    "class-values-unmatched-listed-for-the-class-control-only": (
        MULTI_CONFIG,
        "span_types: {Product: PRODUCT, Date: DATE}",
        "The Label Studio file has 1 problem(s); nothing was imported: Label Studio choice "
        "value(s) 'Billing', 'Bug', 'Sales' match none of the project's classes (billing, bug, "
        "sales)",
    ),
    "two-choices-could-hold-the-class": (
        TOPIC,
        MAPPING,
        "Several <Choices> controls of the labeling config could hold the class (intent, topic).",
    ),
    "no-choices-matches-the-classes": (
        MULTI_CONFIG.replace('value="Billing"', 'value="Money"')
        .replace('value="Bug"', 'value="Defect"')
        .replace('value="Sales"', 'value="Deal"'),
        None,
        "None of the labeling config's <Choices> controls (urgency: Low, High, Legal; intent: "
        "Money, Defect, Deal) has values matching the project's classes (billing, bug, sales).",
    ),
    "class-control-not-a-choices": (
        MULTI_CONFIG,
        MAPPING + "class_control: comment\n",
        "The mapping's class_control 'comment' is no <Choices> of the labeling config "
        "(urgency, intent).",
    ),
    "control-points-at-no-object": (
        MULTI_CONFIG.replace('name="ner" toName="text"', 'name="ner" toName="body"'),
        MAPPING,
        "The labeling config's <Labels name='ner'> points at 'body', which no object of the "
        "config names (objects: subject, text).",
    ),
    "two-controls-one-name": (
        MULTI_CONFIG.replace('name="comment"', 'name="urgency"'),
        MAPPING,
        "The labeling config names several controls 'urgency'; Label Studio needs each "
        "control's name to be unique.",
    ),
    "results-of-a-control-the-config-lacks": (
        MULTI_CONFIG.replace('<Labels name="ner"', '<Labels name="entities"'),
        MAPPING,
        "labels result(s) named ner → text are not in the labeling config, whose <Labels> is "
        "entities → text",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_config_that_does_not_meet_the_project_is_refused(
    ws: Workspace, routing: str, actor: Actor, case: str
) -> None:
    config, mapping, message = REFUSED[case]
    before = _rows(ws)
    with pytest.raises(CoreError) as refused:
        _import(ws, routing, actor, config, mapping)
    assert message in str(refused.value)
    assert _rows(ws) == before


def test_the_mapping_names_the_class_control(ws: Workspace, routing: str, actor: Actor) -> None:
    done = _import(ws, routing, actor, TOPIC, MAPPING + "class_control: intent\n")
    assert "control 'topic' is not imported: the class comes from <Choices name='intent'>" in (
        done.ignored
    )
    assert done.annotations > 0


def test_unmatched_class_values_come_with_the_mapping_to_write(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    config, mapping, _ = REFUSED["class-values-unmatched-listed-for-the-class-control-only"]
    with pytest.raises(CoreError) as refused:
        _import(ws, routing, actor, config, mapping)
    assert refused.value.hint == (
        "map them in a mapping file (classes: {Billing: billing, Bug: bug, Sales: sales}) and "
        "pass it with --mapping"
    )


def test_a_project_without_span_types_ignores_every_labels_control(
    ws: Workspace, actor: Actor, tmp_path: Path
) -> None:
    plain = MULTI_PROJECT_YAML.replace("name: routing", "name: plain").replace(
        "  spans: {field: text, types: [PRODUCT, DATE]}\n", ""
    )
    (tmp_path / "plain.yaml").write_text(plain)
    create_project(ws, tmp_path / "plain.yaml", actor)
    done = _import(
        ws, "plain", actor, MULTI_CONFIG, "classes: {Billing: billing, Bug: bug, Sales: sales}"
    )
    assert done.ignored[:2] == (
        "control 'subject_tags' is not imported: the project has no span types",
        "control 'ner' is not imported: the project has no span types",
    )
    assert all(not a.spans for a in current_annotations(ws, [done.task_id]))


def _block(text: str, after: str, fence: str) -> str:
    rest = text[text.index(after) :]
    start = rest.index(f"```{fence}\n") + len(fence) + 4
    return rest[start : rest.index("```", start)]


def test_the_docs_example_with_several_controls(ws: Workspace, routing: str, actor: Actor) -> None:
    """docs/labeling.md's config with several controls, and what the import prints for it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "labeling.md").read_text()
    section = page[page.index("### Configs with several controls") :]
    config = _block(section, "With the routing project above", "xml")
    done = _import(ws, routing, actor, config, MAPPING)
    printed = [
        f"Imported {done.annotations} annotations on {done.items} items by "
        f"{len(done.annotators)} annotator(s) into task #{done.task_id}",
        *(f"  {note}" for note in done.ignored),
    ]
    assert _block(section, "```bash", "text").splitlines() == printed


def test_several_controls_without_the_config_are_refused(
    ws: Workspace, routing: str, actor: Actor
) -> None:
    before = _rows(ws)
    with pytest.raises(CoreError) as refused:
        import_label_studio(
            ws, routing, json.dumps(studio_export_multi(4, 6)).encode(), actor,
            mapping=MAPPING.encode(),
        )  # fmt: skip
    assert str(refused.value) == (
        "The Label Studio file has 2 problem(s); nothing was imported: results name several "
        "choices controls (intent, urgency); pass the labeling config; results name several "
        "labels controls (ner, subject_tags); pass the labeling config"
    )
    assert refused.value.hint == "pass the project's labeling config with --config"
    assert _rows(ws) == before
