"""Signing in survives a reload and a new tab: the session's secret goes into a cookie the app
checks on every run; signing out ends the session for every tab and removes the cookie.

AppTest cannot send cookies, so a "new tab" here is a fresh AppTest whose browser sends the
cookie the first tab's page wrote (``session_cookie.sent_secret``); tests/e2e/test_sign_in.py
does the same in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components import session_cookie
from core.accounts.sessions import resume_session
from core.accounts.users import create_user
from core.actor import Actor
from core.errors import Forbidden
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in

PASSWORD = "correct horse battery"
WRITE = re.compile(r'document\.cookie = "(loopline_session_[0-9a-f]{8})=([^;"]*); Max-Age=(\d+);')


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(ws.root))
    create_user(ws, Actor("setup", "test"), "root", roles=["admin"], password=PASSWORD)
    create_user(ws, Actor("root", "test"), "maria", roles=["manager"], password=PASSWORD)
    return ws


def cookie_writes(at: AppTest) -> list[tuple[str, str, int]]:
    """(name, value, max-age) of each cookie the page's scripts write."""
    found = []
    for element in at.get("html"):
        match = WRITE.search(element.proto.body)
        if match:
            found.append((match[1], match[2], int(match[3])))
    return found


def new_tab(monkeypatch: pytest.MonkeyPatch, cookie: str | None) -> AppTest:
    """A fresh browser tab (its own Streamlit session) that sends ``cookie``."""
    monkeypatch.setattr(session_cookie, "sent_secret", lambda: cookie)
    return AppTest.from_file(MAIN, default_timeout=60).run()


def signed_in_as(at: AppTest) -> str | None:
    assert not at.exception, at.exception
    form = "login.user" in {w.key for w in at.text_input}
    return None if form else str(at.session_state["login.name"])


def test_signing_in_keeps_the_session_secret_in_a_cookie_for_its_lifetime(team: Workspace) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    [(name, secret, max_age)] = cookie_writes(at)
    assert name == session_cookie.cookie_name(str(team.root))
    assert max_age == 12 * 3600  # the session's absolute lifetime
    assert PASSWORD not in secret and secret == at.session_state["login.session"]
    assert resume_session(team, secret).name == "maria"  # a live session of the workspace
    at.run()
    assert cookie_writes(at) == []  # written once


def test_a_new_tab_with_the_cookie_is_signed_in(
    team: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    [(_, secret, _)] = cookie_writes(first)
    tab = new_tab(monkeypatch, secret)
    assert signed_in_as(tab) == "maria" and cookie_writes(tab) == []
    assert signed_in_as(new_tab(monkeypatch, None)) is None  # no cookie: the form
    assert signed_in_as(new_tab(monkeypatch, "forged-" + secret)) is None


def test_signing_out_ends_the_session_in_every_tab_and_removes_the_cookie(
    team: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    [(name, secret, _)] = cookie_writes(first)
    tab = new_tab(monkeypatch, secret)
    assert signed_in_as(tab) == "maria"
    tab.button(key="login.sign_out").click().run()
    assert signed_in_as(tab) is None and tab.info[0].value == "You signed out."
    assert (name, "", 0) in cookie_writes(tab)  # the browser drops the cookie
    with pytest.raises(Forbidden, match=r"^Your session ended \(signed out\)\.$"):
        resume_session(team, secret)
    first.run()  # the other tab is signed out too, and drops the cookie as well
    assert signed_in_as(first) is None
    assert first.info[0].value == "Your session ended (signed out)."
    assert (name, "", 0) in cookie_writes(first)
    reloaded = new_tab(monkeypatch, secret)  # a browser that still sends the old cookie
    assert signed_in_as(reloaded) is None
    assert reloaded.info[0].value == "Your session ended (signed out)."


def test_an_expired_session_in_the_cookie_asks_to_sign_in_again(
    team: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    [(name, secret, _)] = cookie_writes(first)
    with team.store.transaction() as tx:  # as if the browser had been closed for an hour
        tx.execute("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 1 HOUR")
    tab = new_tab(monkeypatch, secret)
    assert signed_in_as(tab) is None
    assert tab.info[0].value == "Your session ended (idle for more than 30 minutes)."
    assert (name, "", 0) in cookie_writes(tab)
