"""Loopline's app: page config, sign-in, the pages this user may open, nothing else."""

import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # `streamlit run app/main.py` from a checkout

from app.components.login import signed_in  # after the path is set
from app.deps import client
from core.api import in_session

st.set_page_config(page_title="Loopline", page_icon="🔁", layout="wide")
st.html("<style>.block-container {padding-top: 2.5rem;}</style>")  # less empty space above titles

APP = Path(__file__).resolve().parent
# section → (page file, title, icon, the permission that shows it; None: everyone)
PAGES = {
    "Workspace": [
        ("views/home.py", "Home", "🏠", None),
        ("views/artifacts.py", "Artifacts", "🗂️", "data.read"),
    ],
    "Data management": [
        ("views/data.py", "Data", "🗃️", "data.read"),
        ("views/labeling.py", "Labeling", "🏷️", "label"),
        ("views/review.py", "Review & label sets", "⚖️", "labeling.read"),
    ],
    "Modeling & CI": [
        ("views/experiments.py", "Experiments", "🧪", "experiments.read"),
        ("views/builds.py", "Builds & releases", "🏗️", "experiments.read"),
    ],
    "Requirements & operations": [
        ("views/traceability.py", "Traceability", "🧭", "requirements.read"),
        ("views/monitoring.py", "Monitoring", "📈", "monitoring.read"),
    ],
    "Administration": [
        ("views/audit.py", "Audit log", "🧾", "audit.read"),
    ],
}


def navigation(show: Callable[[str], bool], position: str = "sidebar") -> st.Page:
    """The pages ``show`` allows; Home (a summary of every project's loop) is shown to all."""
    shown: dict[str, list[st.Page]] = {}
    for section, entries in PAGES.items():
        for path, title, icon, permission in entries:
            if (APP / path).is_file() and (permission is None or show(permission)):
                page = st.Page(path, title=title, icon=icon, default=path == "views/home.py")
                shown.setdefault(section, []).append(page)
                if permission is None:
                    summaries.add(id(page))
    return st.navigation(shown, position=position)  # type: ignore[arg-type]


summaries: set[int] = set()
api = client()
# None: a workspace without accounts (everything is open). While signing in, a hidden navigation
# keeps the page the link asked for.
actor = signed_in(api, keep_page=lambda: navigation(lambda _: True, position="hidden"))
rights = None if actor is None else client(actor).accounts
chosen = navigation(lambda permission: rights is None or rights.allowed(permission))
with in_session(None if id(chosen) in summaries else actor):  # reads are checked as this user
    chosen.run()
