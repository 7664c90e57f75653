"""Project files: a third project from a made-up file, and every mistake named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.actor import Actor
from core.errors import CoreError, InvalidInput, NotFound
from core.projects.service import create_project, get_project, list_projects, load_spec_text
from core.store import Workspace
from tests.conftest import FIXTURES


def test_a_third_project_comes_from_files_only(ws: Workspace, actor: Actor) -> None:
    project = create_project(ws, FIXTURES / "tickets.yaml", actor)
    assert (project.name, project.kind, project.spec_version) == (
        "tickets",
        "text_classification",
        1,
    )
    spec = project.spec
    assert spec.id_column == "ticket_id" and spec.inputs == ("text",)
    assert spec.labels.classes == ("billing", "bug", "sales")
    assert [str(p) for p in spec.protected_slices] == ["channel = mail"]
    assert [p.name for p in list_projects(ws)] == ["tickets"]
    assert (
        create_project(ws, FIXTURES / "tickets.yaml", actor).spec_artifact_id
        == project.spec_artifact_id
    )


def test_changed_definition_needs_update(ws: Workspace, actor: Actor, tmp_path: Path) -> None:
    create_project(ws, FIXTURES / "tickets.yaml", actor)
    changed = tmp_path / "tickets.yaml"
    changed.write_text(
        (FIXTURES / "tickets.yaml").read_text().replace("Support ticket routing", "Routing v2")
    )
    with pytest.raises(CoreError, match="already exists with a different definition"):
        create_project(ws, changed, actor)
    updated = create_project(ws, changed, actor, update=True)
    assert (updated.title, updated.spec_version) == ("Routing v2", 2)


def test_unknown_project_lists_the_ones_there(ws: Workspace, actor: Actor) -> None:
    create_project(ws, FIXTURES / "tickets.yaml", actor)
    with pytest.raises(NotFound) as caught:
        get_project(ws, "tikets")
    assert str(caught.value) == (
        "No project 'tikets' in this workspace. Did you mean 'tickets'? Projects here: tickets."
    )
    assert caught.value.hint == "use `tickets`"
    with pytest.raises(NotFound) as caught:
        get_project(ws, "hw-triage")
    assert str(caught.value) == "No project 'hw-triage' in this workspace. Projects here: tickets."
    assert caught.value.hint == "create one with `loopline project create FILE`"


def spec_with(**changes: object) -> str:
    data = yaml.safe_load((FIXTURES / "tickets.yaml").read_text())
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"kind": "regression"},
            "p.yaml: kind: Unknown project kind 'regression'. Expected one of: tabular_classification, text_classification.",
        ),
        (
            {"name": "Tickets!"},
            "p.yaml: name: 'Tickets!' is not a slug: use lowercase letters, digits and '-'.",
        ),
        (
            {"data__columns__4__type": "int"},
            "p.yaml: data.columns[4].type: Unknown column type 'int'. Expected one of: boolean, category, datetime, integer, number, string, text.",
        ),
        (
            {"data__id": "id"},
            "p.yaml: data.id: Unknown column 'id'. Expected one of: amount, channel, opened_at, priority, text, ticket_id, vip.",
        ),
        ({"data__time": "channel"}, "p.yaml: data.time: column 'channel' must have type datetime."),
        (
            {"labels__classes": ["only"]},
            "p.yaml: labels.classes: expected at least two distinct classes, got ['only'].",
        ),
        (
            {"protected_slices": ["channel"]},
            "p.yaml: protected_slices[0]: expected 'slice = value', got 'channel'.",
        ),
        (
            {"protected_slices": ["team = a"]},
            "p.yaml: protected_slices[0]: Unknown slice 'team'. Expected one of: channel, month.",
        ),
        (
            {"split__test_fraction": 1.5},
            "p.yaml: split.test_fraction: expected a number between 0 and 1, got 1.5.",
        ),
        (
            {"slices__1__derive": "weekday"},
            "p.yaml: slices[1].derive: Unknown derivation 'weekday'. Expected one of: email_domain, half, month, quarter, week, year.",
        ),
        (
            {"colour": "blue"},
            "p.yaml: colour: Unknown key 'colour'. Expected one of: data, description, extractor, kind, labels, name, protected_slices, retraining, slices, split, title.",
        ),
    ],
)
def test_spec_mistakes_are_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_spec_text(spec_with(**changes), "p.yaml")
    assert str(caught.value) == message


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_spec_text("name: x\nkind: [unclosed\n", "p.yaml")
    assert str(caught.value).startswith("p.yaml: line 3:")


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidInput, match=r"p\.yaml: top level: expected a mapping, got list\."):
        load_spec_text("- a\n- b\n", "p.yaml")
