"""Review & label sets: decide a disagreement, read agreement, freeze a new version, export."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts.service import list_artifacts
from core.labeling.review import latest_reviews, review_queue
from core.labeling.tasks import list_tasks
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in


@pytest.fixture
def review(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "rita")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("ooo-replies").run()
    sample = next(
        t for t in list_tasks(Workspace.open(demo_copy), "ooo-replies") if t.name.endswith("sample")
    )
    at.selectbox(key="review.task").set_value(sample.task_id).run()
    assert not at.exception
    return at


def test_opens_on_the_task_with_the_most_items_to_review(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_workspace))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "rita")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("ooo-replies").run()
    assert not at.exception
    ws = Workspace.open(demo_workspace)
    waiting = {
        t.task_id: review_queue(ws, t.task_id, limit=0)[1] for t in list_tasks(ws, "ooo-replies")
    }
    chosen = at.selectbox(key="review.task").value
    assert waiting[chosen] == max(waiting.values()) > 0
    assert "Nothing to review" not in " ".join(s.value for s in at.success)
    assert "(s)" not in " ".join(c.value for c in at.caption)


def test_decide_a_disagreement_and_freeze_v2(review: AppTest, demo_copy: Path) -> None:
    at = review
    case = at.selectbox(key="review.case").value
    assert case.reason in ("disagreement", "span disagreement", "unsure")
    at.button(key="review.decide.out_of_office").click().run()
    assert not at.exception
    ws = Workspace.open(demo_copy)
    decided = latest_reviews(ws, [case.task_id])[(case.task_id, case.item_id)]
    assert (decided.reviewer, decided.label) == ("rita", "out_of_office")
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Krippendorff's α"]) > 0.5
    at.multiselect(key="review.freeze_tasks").set_value([case.task_id]).run()
    at.button(key="review.freeze").click().run()
    assert not at.exception
    versions = [a.version for a in list_artifacts(ws, kind="label_set", project="ooo-replies")]
    assert versions == list(range(len(versions), 0, -1)) and len(versions) >= 2
    assert f"label_set:ooo-replies@{versions[0]}" in at.success[0].value
