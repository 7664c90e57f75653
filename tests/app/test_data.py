"""Data: ingest an upload (a good file becomes a version; a bad one writes nothing), read quality."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts.service import count_by_kind, list_artifacts
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in
from tests.conftest import ROOT


@pytest.fixture
def data_page(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "lead")  # a data scientist ingests
    at.switch_page("views/data.py").run()
    at.selectbox(key="data.project").set_value("hw-triage").run()
    assert not at.exception
    return at


def test_data_page_opens_on_the_project_chosen_last_on_any_page(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_workspace))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "lead")
    at.switch_page("views/data.py").run()
    assert at.selectbox(key="data.project").value == "hw-triage"  # first in name order
    at.switch_page("views/review.py").run()
    at.selectbox(key="review.project").set_value("ooo-replies").run()
    at.switch_page("views/data.py").run()
    assert not at.exception
    assert at.selectbox(key="data.project").value == "ooo-replies"  # the one chosen last


def test_upload_becomes_a_new_version_with_its_quality_report(
    data_page: AppTest, demo_copy: Path
) -> None:
    later = (ROOT / "sample_data" / "hw-triage" / "data" / "later.csv").read_bytes()
    # the header and 300 units of the rollout months, returned again as new units (new ids): the
    # demo already ingested the later file itself
    lines = later.split(b"\n")
    head = b"\n".join([lines[0], *(line.replace(b"U-00", b"U-90", 1) for line in lines[1:301])])
    data_page.file_uploader(key="data.upload").set_value(
        ("returns-october.csv", head + b"\n", "text/csv")
    ).run()
    data_page.button(key="data.ingest").click().run()
    assert not data_page.exception
    assert data_page.success[0].value.startswith("dataset:hw-triage@3: 300 new rows")
    flags = [w.value for w in data_page.warning]  # the ingest's flags and the shown report's
    assert len(flags) <= 2 and all(f.count("\n- ") >= 1 for f in flags)  # one box each, a list
    assert "(s)" not in " ".join(flags)
    versions = list_artifacts(Workspace.open(demo_copy), kind="dataset", project="hw-triage")
    assert [v.version for v in versions] == [3, 2, 1] and versions[0].metadata["new_rows"] == 300
    source = list_artifacts(Workspace.open(demo_copy), kind="data_source", project="hw-triage")[0]
    assert source.metadata["file_name"] == "returns-october.csv"
    data_page.selectbox(key="data.version.hw-triage").set_value(versions[0]).run()
    metrics = {m.label: m.value for m in data_page.metric}
    assert metrics["Rows ingested"] == "300"  # the version's quality report


def test_bad_upload_lists_problems_and_writes_nothing(data_page: AppTest, demo_copy: Path) -> None:
    before = count_by_kind(Workspace.open(demo_copy))
    bad = b"unit_id,log_id,returned_at\nU-1,LB-1,yesterday\n"
    data_page.file_uploader(key="data.upload").set_value(("bad.csv", bad, "text/csv")).run()
    data_page.button(key="data.ingest").click().run()
    assert not data_page.exception
    assert count_by_kind(Workspace.open(demo_copy)) == before
    refusal = data_page.error[0].value  # an error, in red, with the problems open below
    assert refusal.startswith("bad.csv: refused, ") and "nothing was written" in refusal
    assert not [p for p in data_page.get("progress")]  # the progress bar is gone
    problems = next(t.value for t in data_page.dataframe if "problem" in t.value.columns)
    assert set(problems["problem"]) == {"required column is missing from the header"}
    assert "unit_type" in " ".join(problems["expected"])
