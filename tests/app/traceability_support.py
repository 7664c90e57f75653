"""What the Traceability page's ReqIF tests share (test_traceability_document,
test_traceability_relations): a workspace whose tickets project imported a DOORS-shaped export
the `reqif` library wrote, and the page opened on one tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import MAIN, sign_in
from tests.core.reqif_support import PROJECT, new_client, run_tool

PAGE = "views/traceability.py"


def imported_doors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str) -> Path:
    """A workspace (no accounts) at ``tmp_path/ws`` whose tickets project imported
    tests/tools/reqif_tool.py's DOORS-shaped module (``options``: its CHANGES and ``refined``),
    the app pointed at it."""
    api = new_client(tmp_path / "ws")
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module), *options)
    api.requirements.import_file(module, project=PROJECT)
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


def open_tab(tab: str) -> AppTest:
    """The Traceability page as the admin, on ``tab`` (only the open tab runs)."""
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "admin")
    at.switch_page(PAGE).run()
    at.session_state["traceability.tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at
