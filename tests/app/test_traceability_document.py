"""Traceability page, a requirements tool's export (issue 16): the Document tab shows the
tool's sections and text in its order with each requirement's status, and the Evidence tab shows
an ML requirement with no check yet and its attributes with their ReqIF types."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.traceability_support import imported_doors, open_tab


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (no accounts) whose tickets project imported a DOORS-shaped export."""
    return imported_doors(tmp_path, monkeypatch)


def test_the_document_and_the_tool_attributes_show(imported: Path) -> None:
    at = open_tab("Document")
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
