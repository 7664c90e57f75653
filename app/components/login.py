"""Signing in to the app: the login form, the first admin account, OpenID Connect, signing out.

Local accounts sign in with a password (``client.accounts.sign_in``: failed sign-ins are limited,
sessions expire); the session's secret is kept in a cookie (app/components/session_cookie.py), so
a reload or a new tab of the same browser stays signed in until the session ends. With ``[auth]``
in .streamlit/secrets.toml the company's identity provider signs people in (``st.login``) and
``st.user``'s e-mail picks the Loopline user. A workspace without users is open: the sidebar
offers to create the first admin account.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app.components import session_cookie
from app.deps import show_error
from core.api import Actor, Client, CoreError
from core.api.types import Session

SESSION = "login.session"  # the session's secret (kept in this browser tab's server-side state)
USER = "login.name"
NOTICE = "login.notice"
COOKIE = "login.cookie"  # the secret the browser's cookie holds, as far as this tab knows
DROPPED = "login.dropped"  # a secret that ended: its cookie (still sent until reload) is ignored
LIFETIME = "login.lifetime"  # seconds the new session lasts at most (the cookie's lifetime)


def client_address() -> str:
    """The browser's address as Streamlit sees it (behind a proxy: the proxy's)."""
    try:
        return str(st.context.ip_address or "local")
    except Exception:  # no context outside a browser session (AppTest)
        return "local"


def identity_provider() -> str | None:
    """The OpenID Connect provider configured in secrets.toml ('' for a single default one)."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets file at all
        return None
    if not auth:
        return None
    providers = [str(k) for k, v in auth.items() if hasattr(v, "keys")]  # [auth.<provider>]
    return providers[0] if providers else ""


def signed_in(api: Client, *, keep_page: Callable[[], object] | None = None) -> Actor | None:
    """The signed-in user; None when the workspace has no accounts (it is open).

    Draws the sign-in page and stops the script while nobody is signed in. ``keep_page`` runs
    first then (a hidden navigation), so the page a link asked for opens after signing in."""
    if api.accounts.is_open():
        _first_admin(api)
        st.session_state.pop(SESSION, None)
        return None
    provider = identity_provider()
    if provider is not None:
        return _with_identity_provider(api, provider)
    secret = st.session_state.get(SESSION) or _cookie_secret()
    if secret:
        try:
            actor = api.accounts.resume(str(secret))
        except CoreError as error:
            _drop(str(secret))
            st.session_state[NOTICE] = error.message
        else:
            st.session_state[SESSION] = secret
            st.session_state[USER] = actor.name
            _sidebar(api, actor)
            lifetime = st.session_state.get(LIFETIME)
            if lifetime and st.session_state.get(COOKIE) != secret:  # signed in in this tab
                session_cookie.remember(str(secret), float(lifetime), st.sidebar)
                st.session_state[COOKIE] = secret
            return actor
    st.session_state.pop(USER, None)
    if keep_page is not None:
        keep_page()
    _form(api)
    if st.session_state.get(COOKIE):  # the browser still keeps an ended session's cookie
        session_cookie.forget()
        st.session_state.pop(COOKIE, None)
    st.stop()
    raise AssertionError("unreachable: st.stop() raises")


def _form(api: Client) -> None:
    st.title("🔁 Loopline")
    st.caption(
        "Sign in with your Loopline account. An admin creates accounts: `loopline users add`."
    )
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.info(notice)
    left, _ = st.columns([1, 2])
    with left.form("login.form", clear_on_submit=True):
        name = st.text_input("User name", key="login.user", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="login.password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", key="login.submit", type="primary")
    if submitted:
        try:
            session = api.accounts.sign_in(name, password, client=client_address())
        except CoreError as error:
            show_error(error)
            return
        _started(session)


def _started(session: Session) -> None:
    """A new session, kept for this tab; the next run puts it in the browser's cookie."""
    st.session_state[SESSION] = session.secret
    st.session_state[USER] = session.user
    st.session_state[LIFETIME] = (session.expires_at - session.created_at).total_seconds()
    st.rerun()


def _cookie_secret() -> str | None:
    """The session the browser's cookie names, unless it is one this tab saw end."""
    secret = session_cookie.sent_secret()
    if not secret or secret == st.session_state.get(DROPPED):
        return None
    st.session_state[COOKIE] = secret
    return secret


def _drop(secret: str) -> None:
    """Forget an ended session in this tab (its cookie is removed when the form is drawn)."""
    st.session_state.pop(SESSION, None)
    st.session_state[DROPPED] = secret


def _sidebar(api: Client, actor: Actor) -> None:
    user = api.accounts.user(actor.name)
    roles = ", ".join(g.label for g in user.grants) if user else ""
    st.sidebar.caption(f"Signed in as **{actor.name}** ({roles or 'no role'})")
    st.sidebar.button("Sign out", key="login.sign_out", on_click=_sign_out, args=(api,))


def _sign_out(api: Client) -> None:
    """End the session in the workspace (every tab and the cookie stop working at once)."""
    secret = st.session_state.pop(SESSION, None)
    st.session_state.pop(USER, None)
    if secret:
        api.accounts.sign_out(str(secret))
        st.session_state[DROPPED] = str(secret)
        st.session_state[COOKIE] = str(secret)  # the form run removes it from the browser
    st.session_state[NOTICE] = "You signed out."


def _first_admin(api: Client) -> None:
    """Open workspace: everyone may do everything until the first (admin) account exists."""
    box = st.sidebar.expander("🔓 No accounts yet: create the first admin", expanded=False)
    box.caption(
        "This workspace has no access control: anyone who can open this app can change "
        "everything. The first account is an admin; from then on everyone signs in."
    )
    with box.form("login.first_admin", clear_on_submit=True):
        name = st.text_input("User name", key="login.first_name")
        password = st.text_input(
            "Password (10+ characters)", type="password", key="login.first_password"
        )
        again = st.text_input("Password again", type="password", key="login.first_again")
        submitted = st.form_submit_button("Create the admin account", key="login.first_submit")
    if not submitted:
        return
    if password != again:
        box.error("The two passwords differ.")
        return
    try:
        api.acting_as(Actor.from_env("app")).accounts.create_user(
            name.strip(), roles=["admin"], password=password
        )
        session = api.accounts.sign_in(name, password, client=client_address())
    except CoreError as error:
        with box:
            show_error(error)
        return
    _started(session)


def _with_identity_provider(api: Client, provider: str) -> Actor:
    """OpenID Connect: the provider signs people in; their e-mail names the Loopline user."""
    if not st.user.get("is_logged_in"):
        st.title("🔁 Loopline")
        st.caption("Sign in with your company account.")
        st.button(
            "Sign in",
            key="login.oidc",
            type="primary",
            on_click=st.login,
            args=(provider,) if provider else (),
        )
        st.stop()
    email = str(st.user.get("email") or "")
    user = api.accounts.user_for_email(email) if email else None
    if user is None or not user.active:
        st.error(
            f"{email or 'Your account'} has no active Loopline account in this workspace.", icon="⚠️"
        )
        st.caption(
            f"How to fix it: ask an admin: `loopline users add NAME --email {email} --role …`"
        )
        st.button("Sign out", key="login.oidc_out", on_click=st.logout)
        st.stop()
    actor = Actor(user.name, "app")
    if st.session_state.get(USER) != user.name:  # once per browser session
        api.accounts.record_sign_in(
            user.name, client=client_address(), method=f"oidc {provider}".strip()
        )
    st.session_state[USER] = user.name
    st.sidebar.caption(f"Signed in as **{user.name}** ({email})")
    st.sidebar.button("Sign out", key="login.sign_out", on_click=st.logout)
    return actor


VIEWS = Path(__file__).resolve().parents[1] / "views"


def refused_page(url: str | None) -> str | None:
    """The page a link asked for that this user's role does not show, when the app fell back to
    Home because of it: ``.../builds`` → "builds". None when the link asked for Home itself."""
    if not url:
        return None
    wanted = url.split("?")[0].split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    if not wanted or wanted == "home" or not (VIEWS / f"{wanted}.py").is_file():
        return None
    return wanted


def refused_page_note() -> None:
    """On Home: say so when a link to a page this user may not open landed here instead."""
    try:
        url = st.context.url
    except Exception:  # no browser context (AppTest)
        url = None
    wanted = refused_page(url)
    if wanted:
        st.warning(
            f"Your role does not include the **{wanted.replace('_', ' ').capitalize()}** page, "
            "so Home is shown instead. Ask an admin if you need it.",
            icon="🔒",
        )
