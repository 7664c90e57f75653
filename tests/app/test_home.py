"""Home: both projects as the loop, and the workspace's contents."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import sign_in


def test_home_shows_both_projects_as_the_loop(app: AppTest) -> None:
    sign_in(app, "maria")
    assert not app.exception
    assert app.title[0].value == "🔁 Loopline"
    subheaders = [s.value for s in app.subheader]
    assert "Out-of-office reply detection" in subheaders
    assert "Fault triage of returned radio hardware" in subheaders
    markdown = " ".join(m.value for m in app.markdown)
    for stage in ("Data management", "ML modeling", "Build & release", "Operations"):
        assert stage in markdown
    assert "dataset v2" in markdown  # the history, then the later months
    assert "ML requirements:" in markdown and "met" in markdown
    assert "open alert" in markdown or "no open alerts" in markdown
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Projects"] == "2"
    assert int(metrics["Artifacts"].replace(",", "")) >= 9


def test_home_without_a_workspace_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: AppTest
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "nowhere"))
    app.run()
    assert not app.exception
    assert app.error[0].value == f"No workspace at {tmp_path / 'nowhere'}."


def test_a_link_to_a_page_the_role_lacks_is_named_on_home() -> None:
    from app.components.login import refused_page

    assert refused_page("http://localhost:8501/builds") == "builds"
    assert refused_page("http://localhost:8501/") is None
    assert refused_page("http://localhost:8501") is None
    assert refused_page("http://localhost:8501/no-such-page") is None
    assert refused_page(None) is None
