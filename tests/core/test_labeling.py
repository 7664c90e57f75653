"""Tasks, the leased queue, append-only answers, review and freezing, on a real workspace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.accounts.users import create_user
from core.actor import Actor
from core.artifacts.lineage import lineage
from core.data.service import ingest
from core.errors import Forbidden, InvalidInput
from core.labeling.freeze import freeze, load_label_set
from core.labeling.models import TaskFilter
from core.labeling.progress import labels_left, left_for, task_progress
from core.labeling.queue import (
    current_annotations,
    item_history,
    next_item,
    save_annotation,
    skip_item,
    undo_last,
)
from core.labeling.review import agreement_so_far, decide, review_queue
from core.labeling.tasks import create_task, uncertainty_scores
from core.projects.service import Project
from core.spans.detect import Span
from core.store import Workspace, utcnow
from tests.conftest import FIXTURES

ANN = Actor("ann", "test")
BEN = Actor("ben", "test")
CAT = Actor("cat", "test")


@pytest.fixture
def loaded(ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path) -> Workspace:
    rows = "".join(
        f"T-{i:02d},2026-03-{i % 28 + 1:02d}T10:00:00Z,{['mail', 'chat', 'phone'][i % 3]},ticket {i},1,,\n"
        for i in range(20)
    )
    path = tmp_path / "t.csv"
    path.write_text("ticket_id,opened_at,channel,text,priority,amount,vip\n" + rows)
    ingest(ws, "tickets", path, actor)
    return ws


def test_filter_and_overlap(loaded: Workspace, actor: Actor) -> None:
    task = create_task(
        loaded,
        "tickets",
        actor,
        name="mail only",
        overlap=2,
        task_filter=TaskFilter(equals={"channel": ("mail",)}, date_to="2026-03-10"),
    )
    assert task.items == 4  # T-00, T-03, T-06, T-09 fall before 2026-03-11
    with pytest.raises(InvalidInput, match="Unknown column 'colour'"):
        create_task(
            loaded, "tickets", actor, name="x", task_filter=TaskFilter(equals={"colour": ("red",)})
        )
    with pytest.raises(InvalidInput, match="No item matches this filter; nothing was created."):
        create_task(
            loaded, "tickets", actor, name="x", task_filter=TaskFilter(equals={"channel": ("fax",)})
        )


def test_two_annotators_never_get_the_same_item_beyond_the_overlap(
    loaded: Workspace, actor: Actor
) -> None:
    task = create_task(loaded, "tickets", actor, name="t", task_filter=TaskFilter(limit=3))
    first, second = next_item(loaded, task.task_id, ANN), next_item(loaded, task.task_id, BEN)
    assert first and second and first.item_id != second.item_id
    again = next_item(loaded, task.task_id, ANN)
    assert (
        again and again.item_id == first.item_id and again.resumed
    )  # a reload resumes the same item
    third = next_item(loaded, task.task_id, CAT)
    assert third and third.item_id not in {first.item_id, second.item_id}
    assert next_item(loaded, task.task_id, Actor("dan", "test")) is None  # all leased


def test_an_abandoned_item_returns_after_the_lease(loaded: Workspace, actor: Actor) -> None:
    task = create_task(
        loaded, "tickets", actor, name="t", lease_seconds=60, task_filter=TaskFilter(limit=1)
    )
    held = next_item(loaded, task.task_id, ANN)
    assert held and next_item(loaded, task.task_id, BEN) is None
    later = utcnow() + timedelta(seconds=61)
    back = next_item(loaded, task.task_id, BEN, now=later)
    assert back and back.item_id == held.item_id


def test_a_held_item_is_handed_back_until_it_is_answered(loaded: Workspace, actor: Actor) -> None:
    task = create_task(loaded, "tickets", actor, name="t", task_filter=TaskFilter(limit=3))
    first = next_item(loaded, task.task_id, ANN)
    assert first is not None and not first.resumed
    again = next_item(loaded, task.task_id, ANN)  # a reload: the same item, said to be resumed
    assert again is not None and (again.item_id, again.resumed) == (first.item_id, True)
    assert (again.required, again.labels_so_far, again.fields) == (1, 0, first.fields)
    other = next_item(loaded, task.task_id, BEN)  # another annotator gets another item
    assert other is not None and other.item_id != first.item_id and not other.resumed
    save_annotation(loaded, task.task_id, first.item_id, ANN, "bug")
    after = next_item(loaded, task.task_id, ANN)
    assert after is not None and after.item_id not in (first.item_id, other.item_id)
    assert not after.resumed


def test_only_each_annotators_latest_answer_counts(loaded: Workspace, actor: Actor) -> None:
    """Changing an answer, skipping and undoing append rows; every count reads the latest one."""
    task = create_task(
        loaded, "tickets", actor, name="t", overlap=2, task_filter=TaskFilter(limit=3)
    )
    item = next_item(loaded, task.task_id, ANN)
    assert item is not None
    save_annotation(loaded, task.task_id, item.item_id, ANN, "bug")
    save_annotation(loaded, task.task_id, item.item_id, ANN, "sales", unsure=True)  # changed
    save_annotation(loaded, task.task_id, item.item_id, BEN, "sales")
    skipped = next_item(loaded, task.task_id, CAT)
    assert skipped is not None
    skip_item(loaded, task.task_id, skipped.item_id, CAT)
    theirs = next_item(loaded, task.task_id, CAT)
    assert theirs is not None
    save_annotation(loaded, task.task_id, theirs.item_id, CAT, "billing")
    undo_last(loaded, task.task_id, CAT)  # takes back the billing label, not the skip
    current = current_annotations(loaded, [task.task_id])
    assert sorted((a.annotator, a.item_id, a.label, a.unsure) for a in current) == [
        ("ann", item.item_id, "sales", True),
        ("ben", item.item_id, "sales", False),
    ]
    progress = task_progress(loaded, task.task_id, "cat")
    assert (progress.complete_items, progress.labels_done, progress.per_annotator) == (
        1,
        2,
        {"ann": 1, "ben": 1},
    )
    assert (progress.skipped, progress.unsure, progress.mine_total, progress.mine_today) == (
        1,
        1,
        0,
        0,
    )
    assert labels_left(loaded, [task.task_id]) == {task.task_id: 4}
    assert left_for(loaded, [task.task_id], "cat") == {task.task_id: 1}  # the one taken back
    held = next_item(loaded, task.task_id, CAT)  # the undo handed the item back, leased
    assert held is not None and (held.item_id, held.resumed, held.labels_so_far) == (
        theirs.item_id,
        True,
        0,
    )


def test_agreement_sample_gets_more_annotators(loaded: Workspace, actor: Actor) -> None:
    task = create_task(
        loaded, "tickets", actor, name="t", overlap=1, agreement_sample=0.5, agreement_overlap=3
    )
    progress = task_progress(loaded, task.task_id)
    assert progress.items == 20
    assert 20 < progress.labels_needed < 60 and (progress.labels_needed - 20) % 2 == 0


def test_label_skip_undo_and_history(loaded: Workspace, actor: Actor) -> None:
    task = create_task(loaded, "tickets", actor, name="t", task_filter=TaskFilter(limit=2))
    item = next_item(loaded, task.task_id, ANN)
    assert item is not None
    save_annotation(loaded, task.task_id, item.item_id, ANN, "bug")
    nxt = next_item(loaded, task.task_id, ANN)
    assert nxt and nxt.item_id != item.item_id
    skip_item(loaded, task.task_id, nxt.item_id, ANN)
    assert next_item(loaded, task.task_id, ANN) is None
    back = undo_last(loaded, task.task_id, ANN)
    assert back and back.item_id == nxt.item_id  # the skip was the last answer
    assert next_item(loaded, task.task_id, ANN).item_id == nxt.item_id  # type: ignore[union-attr]
    save_annotation(
        loaded, task.task_id, nxt.item_id, ANN, "sales", unsure=True, note="could be billing"
    )
    assert [a.status for a in item_history(loaded, task.task_id, nxt.item_id)] == [
        "skipped",
        "retracted",
        "labeled",
    ]
    progress = task_progress(loaded, task.task_id, "ann")
    assert (progress.complete_items, progress.mine_total, progress.mine_today, progress.unsure) == (
        2,
        2,
        2,
        1,
    )
    with pytest.raises(
        InvalidInput, match="Unknown class 'bugg'. Expected one of: billing, bug, sales."
    ):
        save_annotation(loaded, task.task_id, item.item_id, ANN, "bugg")


def test_left_for_counts_what_one_annotator_can_still_answer(
    loaded: Workspace, actor: Actor
) -> None:
    task = create_task(
        loaded, "tickets", actor, name="t", overlap=2, task_filter=TaskFilter(limit=3)
    )
    assert left_for(loaded, [task.task_id], "ann") == {task.task_id: 3}
    first = next_item(loaded, task.task_id, ANN)
    assert first is not None
    save_annotation(loaded, task.task_id, first.item_id, ANN, "bug")
    second = next_item(loaded, task.task_id, ANN)
    assert second is not None
    skip_item(loaded, task.task_id, second.item_id, ANN)
    assert left_for(loaded, [task.task_id], "ann") == {task.task_id: 1}  # labeled + skipped
    assert left_for(loaded, [task.task_id], "ben") == {task.task_id: 3}  # overlap 2: all open
    assert left_for(loaded, [], "ann") == {}


def test_uncertainty_order_and_suggestions(loaded: Workspace, actor: Actor) -> None:
    ids = [f"T-{i:02d}" for i in range(20)]
    probs = pd.DataFrame(
        {"billing": [0.9] * 20, "bug": [0.05] * 20, "sales": [0.05] * 20}, index=ids
    )
    probs.loc["T-07"] = [0.34, 0.33, 0.33]
    probs.loc["T-12"] = [0.5, 0.45, 0.05]
    task = create_task(
        loaded, "tickets", actor, name="u", ordering="uncertainty", probabilities=probs
    )
    first = next_item(loaded, task.task_id, ANN)
    second = next_item(loaded, task.task_id, BEN)
    assert (first and first.item_id, second and second.item_id) == ("T-07", "T-12")
    assert (
        first
        and first.suggestion.label == "billing"
        and first.suggestion.probability == pytest.approx(0.34)
    )
    top = create_task(
        loaded,
        "tickets",
        actor,
        name="top",
        ordering="uncertainty",
        probabilities=probs,
        task_filter=TaskFilter(limit=2),
    )
    assert top.items == 2


def test_uncertainty_measures() -> None:
    p = [[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]]
    assert uncertainty_scores(p, "least_confident").tolist() == pytest.approx([1.0, 0.0, 0.4])
    assert uncertainty_scores(p, "margin").tolist() == pytest.approx([1.0, 0.0, 0.4])
    assert uncertainty_scores(p, "entropy").tolist() == pytest.approx([1.0, 0.0, 0.7219], abs=1e-4)


def test_review_and_freeze_rules(loaded: Workspace, actor: Actor) -> None:
    task = create_task(
        loaded, "tickets", actor, name="t", overlap=3, task_filter=TaskFilter(limit=4)
    )
    answers = {
        "ann": ["bug", "bug", "sales", "bug"],
        "ben": ["bug", "sales", "billing", "bug"],
        "cat": ["bug", "bug", "bug", "bug"],
    }
    order: list[str] = []
    for name, labels in answers.items():
        who = Actor(name, "test")
        for index, label in enumerate(labels):
            item = next_item(loaded, task.task_id, who)
            assert item is not None
            if name == "ann":
                order.append(item.item_id)
            assert item.item_id == order[index]
            save_annotation(
                loaded,
                task.task_id,
                item.item_id,
                who,
                label,
                unsure=(name == "cat" and index == 3),
            )
    cases, waiting = review_queue(loaded, task.task_id)
    assert waiting == 3 and [c.reason for c in cases] == ["disagreement", "disagreement", "unsure"]
    assert [c.item_id for c in cases][:2] == sorted(order[1:3])
    majority = freeze(loaded, "tickets", actor, [task.task_id], rule="majority")
    assert (majority.rows, majority.excluded, majority.sources) == (
        3,
        {"tie": 1},
        {"majority": 1, "unanimous": 2},
    )
    decide(loaded, task.task_id, order[2], Actor("rita", "test"), "billing", note="refund request")
    unanimous = freeze(loaded, "tickets", actor, [task.task_id], rule="unanimous")
    labels = load_label_set(loaded, unanimous.artifact).set_index("item_id")
    assert labels.loc[order[2], ["label", "source"]].tolist() == ["billing", "review"]
    assert order[1] not in labels.index and unanimous.excluded == {"disagreement": 1}
    assert unanimous.artifact.version == 2 and unanimous.artifact.metadata["items_compared"] == 4
    meta = unanimous.artifact.metadata  # the agreement carries its interval (requirement evidence)
    assert meta["alpha_lower"] <= meta["alpha"] <= meta["alpha_upper"]
    graph = lineage(loaded, unanimous.artifact.artifact_id)
    assert {n.kind for n in graph.nodes.values()} >= {"label_set", "dataset", "data_source"}


def test_spans_are_checked_and_frozen(ws: Workspace, actor: Actor, tmp_path: Path) -> None:
    spec = (
        (FIXTURES / "tickets.yaml")
        .read_text()
        .replace(
            "labels:\n  classes: [billing, bug, sales]",
            "labels:\n  classes: [billing, bug, sales]\n  spans: {field: text, types: [AMOUNT], detect: {AMOUNT: [date]}}",
        )
    )
    (tmp_path / "t.yaml").write_text(spec)
    from core.projects.service import create_project

    create_project(ws, tmp_path / "t.yaml", actor)
    (tmp_path / "t.csv").write_text(
        "ticket_id,opened_at,channel,text\nT-1,2026-03-01,mail,Refund 20 EUR by 12.03.2026\n"
    )
    ingest(ws, "tickets", tmp_path / "t.csv", actor)
    task = create_task(ws, "tickets", actor, name="spans")
    item = next_item(ws, task.task_id, ANN)
    assert item and [s.text for s in item.suggestion.spans] == ["12.03.2026"]
    with pytest.raises(InvalidInput, match=r"Span 7-9 reads '20', not '21'\."):
        save_annotation(ws, task.task_id, "T-1", ANN, "billing", spans=[Span(7, 9, "AMOUNT", "21")])
    with pytest.raises(InvalidInput, match="outside the text"):
        save_annotation(ws, task.task_id, "T-1", ANN, "billing", spans=[Span(7, 99, "AMOUNT", "")])
    save_annotation(ws, task.task_id, "T-1", ANN, "billing", spans=[Span(7, 9, "AMOUNT", "20")])
    frozen = freeze(ws, "tickets", actor, [task.task_id])
    assert load_label_set(ws, frozen.artifact)["spans"].tolist() == [
        '[{"type":"AMOUNT","start":7,"end":9,"text":"20"}]'
    ]


def test_annotators_working_at_once_in_threads(loaded: Workspace, actor: Actor) -> None:
    """Four annotators in four threads (as on one app server): each item gets exactly its answers."""
    import threading
    from collections import Counter

    from core.labeling.queue import current_annotations

    task = create_task(loaded, "tickets", actor, name="race", overlap=2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        who = Actor(name, "test")
        try:
            while (item := next_item(loaded, task.task_id, who)) is not None:
                save_annotation(loaded, task.task_id, item.item_id, who, "bug")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"a{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    answers = current_annotations(loaded, [task.task_id])
    per_item = Counter(a.item_id for a in answers)
    assert len(per_item) == 20 and set(per_item.values()) == {2}
    assert all(len({a.annotator for a in answers if a.item_id == i}) == 2 for i in per_item)


def test_agreement_so_far_is_read_by_the_tasks_annotators_and_no_one_outside(
    loaded: Workspace, actor: Actor
) -> None:
    task = create_task(loaded, "tickets", actor, name="pairs", overlap=2)
    create_user(loaded, actor, "root", roles=["admin"])
    for name, role in (("ann", "annotator"), ("ben", "annotator"), ("rel", "release_manager")):
        create_user(loaded, Actor("root", "test"), name, roles=[role])
    for who, labels in ((ANN, ["billing", "bug"]), (BEN, ["billing", "billing"])):
        for label in labels:
            item = next_item(loaded, task.task_id, who)
            assert item is not None
            save_annotation(loaded, task.task_id, item.item_id, who, label)
    report = agreement_so_far(loaded, task.task_id, ANN)  # an annotator: no labeling.read needed
    assert report.items_compared == 2
    assert agreement_so_far(loaded, task.task_id, Actor("root", "test")) == report
    with pytest.raises(Forbidden) as refused:
        agreement_so_far(loaded, task.task_id, Actor("rel", "test"))
    assert str(refused.value) == (
        "rel (release_manager) may not see labeling tasks, answers and agreement in tickets; "
        "a reviewer or data_scientist or manager role is needed."
    )
