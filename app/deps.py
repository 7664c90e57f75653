"""Shared handles for the pages: the client of core's public API (for the current workspace and
the signed-in user), the signed-in user, the project selector and error display."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from core.api import Actor, Client, CoreError
from core.api.types import Project

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _client(path: str, user: str, via: str) -> Client:
    return Client(path, Actor(user, via))


def workspace_location() -> str:
    """The workspace named by LOOPLINE_WORKSPACE, else ./.loopline."""
    return str(Path(os.environ.get("LOOPLINE_WORKSPACE") or ".loopline").expanduser().absolute())


def client(actor: Actor | None = None) -> Client:
    """Core's public API for the current workspace, acting as ``actor`` (by default the signed-in
    user); stops the page, saying why, if there is no workspace."""
    who = actor or current_actor()
    found = _client(workspace_location(), who.name, who.via)
    try:
        found.workspace  # noqa: B018 - opened now, so a missing workspace is said at once
    except CoreError as error:
        show_error(error)
        st.stop()
        raise  # unreachable: st.stop() raises
    return found


# --- reads kept between reruns -------------------------------------------------------------------
# A page reruns on every click; the reads that cost seconds on a large project (a review queue over
# 37,000 items, a comparison re-scoring 11,000) are kept between reruns, for this workspace and
# user. ``cached`` reads change with the workspace: they are keyed on ``workspace_stamp`` (it moves
# with every write, the app's, the CLI's or CI's), kept STALE_SECONDS at most, and dropped at once
# by ``forget`` (called after each write the app makes). ``kept`` reads are of registered,
# immutable things (an artifact's preview, a dataset's profile): kept until evicted.
STALE_SECONDS = 1800


def workspace_stamp() -> tuple[tuple[str, int, int], ...]:
    """What moves whenever anything is written to the workspace: name, modification time and
    size of each entry of its folder (the store's files there change on every commit). Lock
    files aside: every read touches them. (Core has no change counter yet: this stands in.)"""
    try:
        entries = list(os.scandir(workspace_location()))
    except OSError:
        return ()
    return tuple(
        sorted(
            (e.name, e.stat().st_mtime_ns, e.stat().st_size)
            for e in entries
            if not e.name.endswith(".lock") and e.name != "locks"
        )
    )


@st.cache_data(ttl=STALE_SECONDS, max_entries=512, show_spinner=False)
def _fresh(
    path: str, user: str, stamp: Any, area: str, method: str, args: tuple[Any, ...], kwargs: Any
) -> Any:
    return getattr(getattr(_client(path, user, "app"), area), method)(*args, **dict(kwargs))


@st.cache_data(max_entries=256, show_spinner=False)
def _kept(path: str, user: str, area: str, method: str, args: tuple[Any, ...], kwargs: Any) -> Any:
    return getattr(getattr(_client(path, user, "app"), area), method)(*args, **dict(kwargs))


def cached(area: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """``client().<area>.<method>(*args, **kwargs)``, kept for this workspace and user until the
    workspace changes (``workspace_stamp``) or ``forget`` is called."""
    key = tuple(sorted(kwargs.items()))
    stamp = workspace_stamp()
    return _fresh(workspace_location(), current_user(), stamp, area, method, args, key)


def kept(area: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Like ``cached``, for what never changes once registered (no expiry, never forgotten)."""
    key = tuple(sorted(kwargs.items()))
    return _kept(workspace_location(), current_user(), area, method, args, key)


def forget() -> None:
    """Drop every ``cached`` read: the app changed the workspace."""
    _fresh.clear()


def show_error(error: CoreError) -> None:
    st.error(error.message, icon="⚠️")
    if error.hint:
        st.caption(f"How to fix it: {error.hint}")


def attempt(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a core call; a CoreError is shown to the user instead of a traceback."""
    try:
        return action(*args, **kwargs)
    except CoreError as error:
        show_error(error)
        return None


def current_user() -> str:
    """Who is using the app: the signed-in user; in a workspace without accounts, the OS user."""
    name = st.session_state.get("login.name")  # set at sign-in; callbacks run outside the page
    return str(name) if name else Actor.from_env("app").name


def current_actor() -> Actor:
    """The signed-in user acting through the app."""
    return Actor(current_user(), "app")


PROJECT_KEY = "project.current"  # the project chosen last in this session, on any page


def _remember(key: str) -> None:
    st.session_state[PROJECT_KEY] = st.session_state[key]


def project_picker(
    api: Client,
    key: str,
    *,
    container: Any = None,
    prefer: Collection[str] = (),
    label: str = "Project",
) -> Project:
    """The project selector every page starts with, shared by all pages: it opens on the project
    chosen last in this session (on any page), else on the first project in name order (among
    ``prefer`` when one of them is visible: e.g. where this user has work). Stops the page when
    there is no project."""
    projects = {p.name: p for p in api.projects.list()}
    visible = api.projects.visible(list(projects))
    if projects and not visible:
        st.info("You have no role in any project yet: ask an admin to grant you one.")
        st.stop()
    shown = sorted(visible)
    if not shown:
        st.info(
            "No projects yet: create one with `loopline project create FILE`, or run `loopline demo`."
        )
        st.stop()
    last = st.session_state.get(PROJECT_KEY)
    preferred = [n for n in shown if n in prefer]
    st.session_state[key] = last if last in shown else (preferred or shown)[0]
    name = (container or st).selectbox(
        label,
        shown,
        key=key,
        format_func=lambda n: projects[n].title,
        on_change=_remember,
        args=(key,),
    )
    st.session_state[PROJECT_KEY] = name
    return projects[str(name)]
