"""Signing in, in Chromium: a reload and a new tab stay signed in; signing out ends it everywhere.

Runs the app (`streamlit run app/main.py`, as conftest starts it) over a small workspace of its
own with two accounts, so it needs no demo."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Page, expect

from core.accounts.users import create_user
from core.actor import Actor
from core.store import Workspace
from tests.e2e.conftest import VIEWPORT, Server, _start, _stop
from tests.e2e.test_browser import sign_in_if_asked, wait_for_app

PASSWORD = "correct horse battery"
T = TypeVar("T")


@pytest.fixture(scope="module")
def small_app() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="loopline-e2e-sign-in-") as tmp:
        ws = Workspace.init(Path(tmp) / "workspace")
        create_user(ws, Actor("setup", "test"), "root", roles=["admin"], password=PASSWORD)
        create_user(ws, Actor("root", "test"), "maria", roles=["manager"], password=PASSWORD)
        log = Path(tmp) / "streamlit.log"
        env = {**os.environ, "LOOPLINE_WORKSPACE": str(ws.root), "PYTHONUNBUFFERED": "1"}
        process, url = _start(env, log)
        try:
            yield Server(url=url, workspace=ws.root, log=log)
        finally:
            _stop(process)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile: its tabs share cookies."""
    made = browser.new_context(viewport=VIEWPORT)
    made.set_default_timeout(30_000)
    try:
        yield made
    finally:
        made.close()


def session_cookies(context: BrowserContext) -> list[Cookie]:
    return [c for c in context.cookies() if c["name"].startswith("loopline_session_")]


def open_app(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_app(page)


def expect_signed_in(page: Page, user: str) -> None:
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {user}")
    expect(page.get_by_role("textbox", name="Password")).to_have_count(0)


def expect_sign_in_form(page: Page) -> None:
    expect(page.get_by_role("textbox", name="Password")).to_be_visible()


def test_a_reload_and_a_new_tab_stay_signed_in_until_signing_out(
    context: BrowserContext, small_app: Server
) -> None:
    try:
        first = context.new_page()
        open_app(first, small_app.url)
        expect_sign_in_form(first)
        sign_in_if_asked(first, "maria", PASSWORD)
        expect_signed_in(first, "maria")
        cookies = eventually(lambda: session_cookies(context))
        assert len(cookies) == 1 and cookies[0]["sameSite"] == "Strict", cookies
        assert PASSWORD not in cookies[0]["value"]

        first.reload(wait_until="domcontentloaded")
        wait_for_app(first)
        expect_signed_in(first, "maria")

        second = context.new_page()  # a link opened in a new tab
        open_app(second, f"{small_app.url}/audit")
        expect_signed_in(second, "maria")
        expect(second.get_by_role("heading", name="Audit log")).to_be_visible()

        second.get_by_role("button", name="Sign out").click()
        expect(second.get_by_text("You signed out.")).to_be_visible()
        expect_sign_in_form(second)
        assert eventually(lambda: not session_cookies(context))  # the browser dropped it

        first.reload(wait_until="domcontentloaded")
        wait_for_app(first)
        expect_sign_in_form(first)
    except Exception:
        print(small_app.output())
        raise


def eventually(check: Callable[[], T], seconds: float = 10.0) -> T:
    """``check()`` once it is truthy: the page's script sets or drops the cookie just after the
    page is drawn. Returns the last result when time runs out."""
    deadline = time.monotonic() + seconds
    found = check()
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = check()
    return found
