"""Traceability page, a requirements tool's export (issue 16): the Document tab shows the
tool's sections and text in its order with each requirement's status, and the Evidence tab shows
an ML requirement with no check yet and its attributes with their ReqIF types."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.actor import Actor
from core.api import Client
from tests.app.conftest import MAIN, sign_in
from tests.conftest import ROOT
from tests.core.test_reqif_tools import run_tool

PAGE = "views/traceability.py"


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (no accounts) whose tickets project imported a DOORS-shaped export."""
    api = Client(tmp_path / "ws", Actor("admin", "test"))
    api.init()
    api.projects.create(ROOT / "tests" / "fixtures" / "tickets.yaml")
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module))
    api.requirements.import_file(module, project="tickets")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


def test_the_document_and_the_tool_attributes_show(imported: Path) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "admin")
    at.switch_page(PAGE).run()
    at.session_state["traceability.tab"] = "Document"  # only the open tab runs
    at.run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    assert "#### 1 Stakeholder needs" in shown and "#### 2 Model requirements" in shown
    assert (
        "- **MLR-201** Precision of the out-of-office class · ⚪ no evidence · `no check yet`"
        in shown
    )
    assert [s.value for s in at.subheader][:2] == ["Stakeholder Requirements", "ML Requirements"]
    at.session_state["traceability.tab"] = "Evidence"
    at.run().selectbox(key="traceability.requirement").set_value("MLR-201").run()
    assert not at.exception, at.exception
    table = next(t.value for t in at.dataframe if "attribute" in t.value.columns)
    rows = {r.attribute: (r.type, r.value) for r in table.itertuples()}
    assert rows["Error Budget"] == ("REAL", "0.25")
    assert rows["Status"] == ("ENUMERATION", "Approved")
    assert rows["Safety Relevant"] == ("BOOLEAN", "true")
    assert rows["Due Date"] == ("DATE", "2026-05-01T00:00:00Z")
    assert rows["ReqIF.Text"] == ("XHTML", "Precision & recall stay high <for every market>.")
    captions = " ".join(c.value for c in at.caption)
    assert "Check `no check yet`" in captions and "derived from STK-101, STK-102" in captions
