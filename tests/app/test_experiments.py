"""Experiments and Builds: compare two runs per slice; promote a version with a reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.registry.service import find_alias, promotion_history
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in


@pytest.fixture
def app_on(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    return sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")


def test_compare_two_runs(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    runs = at.multiselect(key="experiments.compare").options
    assert len(runs) >= 3  # the demo's three builds
    assert all(re.fullmatch(r"#\d+ \S.*", r) for r in runs), runs  # each run by number and name
    ids = [int(r.split()[0].lstrip("#")) for r in runs]
    at.multiselect(key="experiments.compare").set_value([ids[-1], ids[-2]]).run()
    assert not at.exception
    tables = [t.value for t in at.dataframe]
    slices = next(t for t in tables if "language = en" in t.index)
    assert "production" in slices.columns and len(slices.columns) == 3
    metrics = next(t for t in tables if "f1_macro" in t.index)
    assert any(str(c).startswith("Δ") for c in metrics.columns)


def test_filter_runs(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    at.text_input(key="experiments.filter").input("metrics.f1_macro > 2").run()
    assert not at.exception and at.info[0].value.startswith("No runs match")
    at.text_input(key="experiments.filter").input("metrics.f1 >> 2").run()
    assert at.error[0].value.startswith(
        "Expected a value (a number or a quoted text) at position 12"
    )


def test_roll_back_with_a_reason(app_on: AppTest, demo_copy: Path) -> None:
    at = app_on
    at.switch_page("views/builds.py").run()
    at.selectbox(key="builds.project").set_value("ooo-replies").run()
    assert not at.exception
    assert any("fail" in e.value or "successful" in e.value for e in [*at.error, *at.success])
    builds = next(t.value for t in at.dataframe if "trigger" in t.value.columns)
    models = {m for m in builds["model"] if m}
    assert models and all(re.fullmatch(r"ooo-replies v\d+", m) for m in models), models
    ws = Workspace.open(demo_copy)
    current = find_alias(ws, "ooo-replies")
    older = next(o for o in at.selectbox(key="builds.target").options if "production" not in o)
    at.selectbox(key="builds.target").select_index(
        at.selectbox(key="builds.target").options.index(older)
    ).run()
    at.text_input(key="builds.reason").input("roll back: German replies misread").run()
    at.checkbox(key="builds.confirm").check().run()
    at.button(key="builds.promote").click().run()
    assert not at.exception
    now = find_alias(ws, "ooo-replies")
    assert current is not None and now is not None and now.artifact_id != current.artifact_id
    assert promotion_history(ws, "ooo-replies")[0].reason == "roll back: German replies misread"
    history = next(t.value for t in at.dataframe if "replaced" in t.value.columns)
    assert (history["model"][0], history["replaced"][0]) == (
        older,
        f"ooo-replies v{current.version}",
    )  # versions by name; the id is a column of its own
    assert history["model id"][0] == now.artifact_id
