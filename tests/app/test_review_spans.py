"""Review page: a span disagreement decided span by span, or as one annotator's spans (a small
workspace imported from a Label Studio export, not the demo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.actor import Actor
from core.labeling.interchange import import_label_studio
from core.labeling.review import latest_reviews
from core.projects.service import create_project
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in
from tests.core.label_studio_tool import CONFIG, MAPPING, PROJECT_YAML

TEXT = "Since 1 April the Zebra-7 scanner crashes; the API key too."
PRODUCT, DATE, KEY = (18, 33, "Product"), (6, 13, "Date"), (47, 54, "Product")


def _annotation(number: int, user: int, spans: list[tuple[int, int, str]]) -> dict[str, object]:
    result: list[dict[str, object]] = [
        {
            "id": f"r{number}-{i}",
            "type": "labels",
            "from_name": "ner",
            "to_name": "text",
            "origin": "manual",
            "value": {"start": s, "end": e, "text": TEXT[s:e], "labels": [label]},
        }
        for i, (s, e, label) in enumerate(spans)
    ]
    result.append(
        {
            "id": f"r{number}-c",
            "type": "choices",
            "from_name": "intent",
            "to_name": "text",
            "value": {"choices": ["Bug"]},
        }
    )
    return {
        "id": number,
        "completed_by": user,
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": f"2026-03-02T10:0{number}:00.000000Z",
    }


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """One ticket three annotators labeled 'bug' with different spans."""
    ws = Workspace.init(tmp_path / "ws")
    actor = Actor("tester", "test")
    (tmp_path / "routing.yaml").write_text(PROJECT_YAML)
    create_project(ws, tmp_path / "routing.yaml", actor)
    export = [
        {
            "id": 41,
            "data": {"ticket_id": "TK-41", "channel": "mail", "text": TEXT},
            "annotations": [
                _annotation(1, 1, [DATE, PRODUCT]),
                _annotation(2, 2, [PRODUCT]),
                _annotation(3, 7, [DATE, PRODUCT, KEY]),
            ],
        }
    ]
    done = import_label_studio(
        ws,
        "routing",
        json.dumps(export).encode(),
        actor,
        config=CONFIG.encode(),
        mapping=MAPPING.encode(),
    )
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws", done.task_id


def _open(task_id: int) -> AppTest:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "tester")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("routing").run()
    at.selectbox(key="review.task").set_value(task_id).run()
    assert not at.exception, at.exception
    case = at.selectbox(key="review.case").value
    assert (case.item_id, case.reason) == ("TK-41", "span disagreement")
    return at


def _decided(path: Path, task_id: int) -> set[tuple[int, int, str]]:
    review = latest_reviews(Workspace.open(path), [task_id])[(task_id, "TK-41")]
    assert review.label == "bug"
    return {(s.start, s.end, s.type) for s in review.spans}


def test_decide_span_by_span(workspace: tuple[Path, int]) -> None:
    path, task_id = workspace
    at = _open(task_id)
    boxes = {c.key: c for c in at.checkbox if c.key.startswith("review.span.TK-41.")}
    # in text order: DATE (ana, chen), PRODUCT (all three), the API key (chen alone)
    assert [c.value for c in boxes.values()] == [True, True, False]
    assert "marked by ls-user-1, ls-user-7" in boxes["review.span.TK-41.0"].label
    at.checkbox(key="review.span.TK-41.0").uncheck()
    at.checkbox(key="review.span.TK-41.2").check().run()
    at.button(key="review.decide.bug").click().run()
    assert not at.exception, at.exception
    assert _decided(path, task_id) == {(18, 33, "PRODUCT"), (47, 54, "PRODUCT")}


def test_decide_as_one_annotators_spans(workspace: tuple[Path, int]) -> None:
    path, task_id = workspace
    at = _open(task_id)
    at.radio(key="review.span_mode").set_value("item").run()
    at.selectbox(key="review.span_from.TK-41").set_value("ls-user-7").run()
    at.button(key="review.decide.bug").click().run()
    assert not at.exception, at.exception
    assert _decided(path, task_id) == {(6, 13, "DATE"), (18, 33, "PRODUCT"), (47, 54, "PRODUCT")}
    at.run()
    assert "Nothing to review in this task." in [s.value for s in at.success]


def test_a_project_without_tasks_offers_the_label_studio_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    (tmp_path / "routing.yaml").write_text(PROJECT_YAML)
    create_project(ws, tmp_path / "routing.yaml", Actor("tester", "test"))
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "ws"))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "tester")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("routing").run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == [
        "This project has no labeling task yet: create one, or import a Label Studio project."
    ]
    assert "review.import_go" not in {b.key for b in at.button}  # no file chosen yet
