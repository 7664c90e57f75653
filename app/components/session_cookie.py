"""The sign-in cookie: keeps a signed-in session across reloads and new tabs of the browser.

The cookie holds the session's secret (what ``accounts.sign_in`` returned), never a password;
the workspace keeps only its hash, and every run of the app checks it (``accounts.resume``), so
a session that expired, was signed out or whose user was disabled is refused although the
browser still sends the cookie. Streamlit reads cookies (``st.context.cookies``, sent when the
browser connects) but has no way to set one from a script, so a tiny script in the page writes
it: ``SameSite=Strict``, ``Secure`` over HTTPS, for the session's lifetime. (A script-written
cookie cannot be HttpOnly; one would need an HTTP route of our own, i.e. running the app as
``st.App`` with routes.) Each workspace has its own cookie name, so two Loopline apps on one host
do not sign each other out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from app.deps import workspace_location

PREFIX = "loopline_session_"


def cookie_name(workspace: str | None = None) -> str:
    """``loopline_session_<8 hex digits of the workspace's path>``."""
    where = workspace or workspace_location()
    return PREFIX + hashlib.sha256(where.encode()).hexdigest()[:8]


def sent_secret() -> str | None:
    """The session secret this browser sent when it connected (None: no cookie, or no browser)."""
    try:
        value = st.context.cookies.get(cookie_name())
    except Exception:  # no browser context (AppTest, bare mode)
        return None
    return value if isinstance(value, str) and value else None  # AppTest's context is a mock


def remember(secret: str, seconds: float, where: Any = st) -> None:
    """Have the browser keep the session's secret for ``seconds`` (its lifetime)."""
    _script(f"{secret}; Max-Age={max(0, int(seconds))}", where)


def forget(where: Any = st) -> None:
    """Have the browser drop the cookie (signing out, or a session that ended)."""
    _script("; Max-Age=0", where)


def _script(value_and_age: str, where: Any) -> None:
    cookie = json.dumps(f"{cookie_name()}={value_and_age}; Path=/; SameSite=Strict")
    where.html(
        "<script>document.cookie = "
        f'{cookie} + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
    )
