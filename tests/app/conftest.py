"""AppTests run the real app against a real workspace named by LOOPLINE_WORKSPACE."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture
def app(demo_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_workspace))
    return AppTest.from_file(MAIN, default_timeout=60)
