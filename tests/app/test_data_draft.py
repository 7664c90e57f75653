"""Data page: a new project from an uploaded file — drafted, reviewed (edited), created and
ingested, with no YAML written by hand; a draft that cannot be made says why and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.api import Actor, Client
from tests.app.conftest import MAIN, sign_in
from tests.core.test_project_draft import cases_csv


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, Client, Path]:
    workspace = tmp_path / "ws"
    client = Client(workspace, Actor("tester", "test"))
    client.init()  # no accounts, no projects yet
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(workspace))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "tester")
    at.switch_page("views/data.py").run()
    assert not at.exception
    return at, client, tmp_path


def test_a_file_becomes_a_reviewed_project_with_its_data(
    page: tuple[AppTest, Client, Path],
) -> None:
    at, client, folder = page
    data, labels = cases_csv(folder, count=40)
    at.file_uploader(key="data.draft.upload").set_value(
        ("admissions.csv", data.read_bytes(), "text/csv")
    ).run()
    at.file_uploader(key="data.draft.labels").set_value(
        ("diagnoses.csv", labels.read_bytes(), "text/csv")
    ).run()
    at.text_input(key="data.draft.label").input("diagnosis").run()
    at.button(key="data.draft.make").click().run()
    assert not at.exception and not at.error
    draft = at.text_area(key="data.draft.yaml").value
    assert "  classes: [cardiac, other, respiratory]" in draft
    assert "- {name: ward, type: category, required: true, values: [east, north, south]}" in draft
    reviewed = draft.replace("title: Admissions", "title: Ward admissions")
    at.text_area(key="data.draft.yaml").input(reviewed).run()
    at.button(key="data.draft.create").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [
        "Project admissions created (text_classification).",
        "dataset:admissions@1: 40 rows ingested.",
    ]
    project = client.projects.get("admissions")
    assert project.title == "Ward admissions" and project.spec.labels.classes == (
        "cardiac",
        "other",
        "respiratory",
    )


def test_a_draft_that_cannot_be_made_says_why_and_writes_nothing(
    page: tuple[AppTest, Client, Path],
) -> None:
    at, client, folder = page
    data, _ = cases_csv(folder, count=10)
    at.file_uploader(key="data.draft.upload").set_value(
        ("admissions.csv", data.read_bytes(), "text/csv")
    ).run()
    at.text_input(key="data.draft.label").input("diagnosis").run()
    at.button(key="data.draft.make").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "admissions.csv: --label: Unknown column 'diagnosis'. Expected one of: admitted_at, "
        "age, case_id, note, smoker, temperature, ward."
    ]
    assert not [t for t in at.text_area if t.key == "data.draft.yaml"]
    assert client.projects.list() == []
