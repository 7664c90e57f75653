"""Labeling: an annotator labels three replies of A, one with a span, and the rows are in the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.labeling.progress import left_for
from core.labeling.queue import current_annotations, item_history, load_item
from core.labeling.tasks import list_tasks
from core.projects.service import get_project
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in


@pytest.fixture
def labeling(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(
        AppTest.from_file(MAIN, default_timeout=60), "bruno"
    )  # no answers in that task yet
    at.switch_page("views/labeling.py").run()
    assert "bruno" in [t.value for t in at.text]  # labeling as the signed-in user
    assert not [w for w in at.text_input if w.key == "labeling.who"]  # no name to type
    at.selectbox(key="labeling.project").set_value("ooo-replies").run()
    open_task = next(
        t
        for t in list_tasks(Workspace.open(demo_copy), "ooo-replies")
        if t.name.endswith("next batch")
    )
    at.selectbox(key="labeling.task").set_value(open_task.task_id).run()
    assert not at.exception
    return at


def shown_item(at: AppTest) -> str:
    line = next(m.value for m in at.markdown if m.value.startswith("**Item `"))
    return line.split("`")[1]


def test_label_three_items_one_with_a_span(labeling: AppTest, demo_copy: Path) -> None:
    at = labeling
    first = shown_item(at)
    at.button(key="labeling.class.not_out_of_office").click().run()
    second = shown_item(at)
    assert second != first
    at.button(key="labeling.class.out_of_office").click().run()
    third = shown_item(at)
    body = Workspace.open(demo_copy)
    task = next(t for t in list_tasks(body, "ooo-replies") if t.name.endswith("next batch"))
    text = load_item(body, task, get_project(body, "ooo-replies"), third).fields["body"]
    wanted = text.split("\n")[0][:12]  # the reply's first words, typed as a span
    at.text_input(key="labeling.span_text").input(wanted).run()
    at.button(key="labeling.add_span").click().run()
    assert not at.error, [e.value for e in at.error]
    at.checkbox(key="labeling.unsure").check().run()
    at.button(key="labeling.class.out_of_office").click().run()
    assert not at.exception
    mine = {
        a.item_id: a for a in current_annotations(body, [task.task_id]) if a.annotator == "bruno"
    }
    assert set(mine) == {first, second, third}
    assert (mine[first].label, mine[second].label, mine[third].label) == (
        "not_out_of_office",
        "out_of_office",
        "out_of_office",
    )
    (span,) = mine[third].spans
    assert (span.text, span.start) == (wanted, text.index(wanted))
    assert mine[third].unsure and mine[third].source == "app"
    assert mine[first].seconds is not None


def test_undo_brings_the_last_item_back(labeling: AppTest, demo_copy: Path) -> None:
    at = labeling
    first = shown_item(at)
    at.button(key="labeling.class.not_out_of_office").click().run()
    at.button(key="labeling.undo").click().run()
    assert shown_item(at) == first
    task = next(
        t
        for t in list_tasks(Workspace.open(demo_copy), "ooo-replies")
        if t.name.endswith("next batch")
    )
    assert [a.status for a in item_history(Workspace.open(demo_copy), task.task_id, first)][
        -2:
    ] == [
        "labeled",
        "retracted",
    ]


def test_undo_after_a_skip_takes_back_the_skip(labeling: AppTest) -> None:
    at = labeling
    first = shown_item(at)
    at.button(key="labeling.skip").click().run()
    assert shown_item(at) != first
    at.button(key="labeling.undo").click().run()
    assert not at.exception
    assert shown_item(at) == first
    assert f"Took back your skip of {first}: it is shown again." in [t.value for t in at.toast]


def test_keys_work_right_after_choosing_a_task(labeling: AppTest) -> None:
    """A select keeps the keyboard focus; the page releases it after a new choice, so 1 labels."""
    at = labeling
    chosen = at.selectbox(key="labeling.task").value
    other = 1 if at.selectbox(key="labeling.task").index == 0 else 0
    at.selectbox(key="labeling.task").select_index(other).run()
    assert len(focus_scripts(at)) == 1
    at.selectbox(key="labeling.task").set_value(chosen).run()  # back: released again
    scripts = focus_scripts(at)
    assert len(scripts) == 1 and "blur()" in scripts[0]
    at.button(key="labeling.class.out_of_office").click().run()  # same task: no new script
    assert not focus_scripts(at)


def focus_scripts(at: AppTest) -> list[str]:
    """The bodies of the focus-releasing st.html elements, wherever they were drawn."""
    found, todo = [], [at._tree]
    while todo:
        node = todo.pop()
        todo.extend(getattr(node, "children", {}).values())
        body = getattr(getattr(node, "proto", None), "body", None)
        if node.type == "html" and body and "release focus" in body:
            found.append(str(body))
    return found


def test_opens_on_the_newest_task_with_items_left_for_this_user(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "bruno")
    at.switch_page("views/labeling.py").run()
    project = at.selectbox(key="labeling.project").value
    body = Workspace.open(demo_copy)
    tasks = [t for t in list_tasks(body, project) if t.status == "open"]
    left = left_for(body, [t.task_id for t in tasks], "bruno")
    newest = max((t for t in tasks if left.get(t.task_id)), key=lambda t: t.created_at)
    assert at.selectbox(key="labeling.task").value == newest.task_id
    assert "items left for you" in at.selectbox(key="labeling.task").format_func(newest.task_id)
    assert not [m for m in at.markdown if "(s)" in m.value]
