"""AppTests run the real app against a real workspace named by LOOPLINE_WORKSPACE.

``sign_in`` logs a user in through the real form (when the workspace has accounts; the demo's
all use the password ``loopline-demo``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

MAIN = str(ROOT / "app" / "main.py")

# Every new AppTest scans the metadata of every installed distribution for Streamlit components
# (~100 here: 1-4 s of each test's first run, most of an AppTest's start). The installed packages
# do not change during a run, so the scan runs once per process and its result is reused.
manifest_scanner.scan_component_manifests = functools.cache(  # type: ignore[method-assign]
    manifest_scanner.scan_component_manifests
)
DEMO_PASSWORD = "loopline-demo"


def sign_in(at: AppTest, user: str, password: str = DEMO_PASSWORD) -> AppTest:
    """Run the app and sign ``user`` in through the login form; fails when sign-in fails."""
    at.run()
    keys = {w.key for w in at.text_input}
    if "login.user" not in keys:  # a workspace without accounts: nobody signs in
        return at
    at.text_input(key="login.user").input(user)
    at.text_input(key="login.password").input(password)
    at.button(key="login.submit").click().run()
    assert not at.exception, at.exception
    problems = [e.value for e in at.error]
    assert not problems and at.session_state["login.name"] == user, problems
    return at


@pytest.fixture
def app(demo_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_workspace))
    return AppTest.from_file(MAIN, default_timeout=60)
