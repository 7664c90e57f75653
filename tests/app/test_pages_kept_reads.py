"""Reads kept between reruns (app/deps.py) never hide a change made in the app; tables show no
None cells."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.components.tables import MISSING, cell
from core.actor import Actor
from core.labeling.review import decide
from core.labeling.tasks import list_tasks
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in


def waiting(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if "for a decision" in c.value)
    found = re.match(r"([\d,]+) items? waits? for a decision", caption)
    assert found, caption
    return int(found.group(1).replace(",", ""))


def test_a_decision_leaves_the_kept_review_queue_at_once(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "rita")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("ooo-replies").run()
    sample = next(
        t for t in list_tasks(Workspace.open(demo_copy), "ooo-replies") if t.name.endswith("sample")
    )
    at.selectbox(key="review.task").set_value(sample.task_id).run()
    before, case = waiting(at), at.selectbox(key="review.case").value
    at.run()  # a rerun reads the kept queue: the same
    assert waiting(at) == before
    at.button(key="review.decide.out_of_office").click().run()
    assert not at.exception
    assert waiting(at) == before - 1  # the decision dropped the kept queue
    assert not [o for o in at.selectbox(key="review.case").options if o.startswith(case.item_id)]


def test_a_change_made_outside_the_app_shows_at_the_next_rerun(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "rita")
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("ooo-replies").run()
    ws = Workspace.open(demo_copy)
    sample = next(t for t in list_tasks(ws, "ooo-replies") if t.name.endswith("sample"))
    at.selectbox(key="review.task").set_value(sample.task_id).run()
    before, case = waiting(at), at.selectbox(key="review.case").value
    decide(ws, sample.task_id, case.item_id, Actor("rita", "cli"), "out_of_office")  # the CLI's
    at.run()
    assert waiting(at) == before - 1  # the workspace moved: the kept queue was not used


def test_the_data_profile_has_no_none_cells(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_workspace))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")
    at.switch_page("views/data.py").run()
    for project in ("ooo-replies", "hw-triage"):
        at.selectbox(key="data.project").set_value(project).run()
        assert not at.exception
        tables = [t.value for t in at.dataframe]
        assert len(tables) == 2  # the versions and the profile of the chosen version
        for table in tables:
            cells = table.astype(object).to_numpy().ravel().tolist()
            assert not [c for c in cells if c is None or (isinstance(c, float) and pd.isna(c))]
    profile = tables[1].set_index("column")  # hw-triage's, the last shown
    assert profile.loc["unit_id", "min"] == MISSING  # an id column has no minimum
    assert profile.loc["reboot_count", "outside_previous_range"] == "21"  # a count, not 21.000
    assert profile.loc["firmware_version", "new_categories"] == "R24.1"  # a list, as its items


def test_a_list_cell_reads_as_its_items() -> None:
    assert cell(["R24.1", "R25.0"]) == "R24.1, R25.0"
    assert cell([]) == MISSING
    assert cell(None) == MISSING and cell(float("nan")) == MISSING
