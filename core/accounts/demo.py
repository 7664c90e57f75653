"""The demo's accounts: everyone its story acts as, all with the password ``loopline-demo``.

Called first thing by ``loopline demo`` (so every step after it is checked like real work). The
OS user who runs the demo is the admin ``admin``; ``ci`` gets an API token, written with the
accounts to ``demo-notes.md`` in the workspace folder. Annotators and reviewers named in a sample
project's demo.yaml get accounts too, so a new simulated person needs no change here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from core.accounts.audit import record
from core.accounts.passwords import hash_password
from core.accounts.roles import ALL_PROJECTS
from core.accounts.tokens import create_token
from core.actor import Actor, os_login
from core.store import Workspace, utcnow

_INSERT_ROLE = (
    "INSERT INTO user_roles (user_name, role, project, granted_at, granted_by) "
    "VALUES (?, ?, ?, ?, ?)"
)

DEMO_PASSWORD = "loopline-demo"
NOTES = "demo-notes.md"
SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"

# user → (display name, roles); the order is the order of creation (admin first)
DEMO_USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("Workspace admin", ("admin",)),
    "demo": ("The demo (system user)", ("admin",)),
    "maria": ("Maria (manager)", ("manager",)),
    "lead": ("Lead data scientist", ("data_scientist", "release_manager", "reviewer")),
    "ds": ("Data scientist", ("data_scientist",)),
    "ci": ("CI pipeline", ("data_scientist", "release_manager")),
    "simulator": ("Traffic simulator (service)", ("service",)),
    "alice": ("Alice (annotator)", ("annotator",)),
    "bruno": ("Bruno (annotator)", ("annotator",)),
    "chen": ("Chen (annotator)", ("annotator",)),
    "eng-mei": ("Mei (repair engineer)", ("annotator",)),
    "eng-jonas": ("Jonas (repair engineer)", ("annotator",)),
    "eng-sara": ("Sara (repair engineer)", ("annotator",)),
    "rita": ("Rita (reviewer)", ("reviewer",)),
    "lead-omar": ("Omar (lead engineer, reviewer)", ("reviewer",)),
}


def people_in_stories(root: Path = SAMPLE_DATA) -> dict[str, str]:
    """Simulated annotators and reviewers named in the sample projects' demo.yaml files."""
    found: dict[str, str] = {}
    for manifest in sorted(root.glob("*/demo.yaml")):
        data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        for config in _task_configs(data):
            for annotator in config.get("annotators") or []:
                if isinstance(annotator, Mapping) and annotator.get("name"):
                    found.setdefault(str(annotator["name"]), "annotator")
            review = config.get("review")
            if isinstance(review, Mapping) and review.get("reviewer"):
                found.setdefault(str(review["reviewer"]), "reviewer")
    return found


def _task_configs(data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    labeling = data.get("labeling") or {}
    yield from labeling.get("tasks") or []
    for step in data.get("story") or []:
        if isinstance(step, Mapping) and isinstance(step.get("task"), Mapping):
            yield step["task"]


def seed_demo_users(ws: Workspace, *, login: str | None = None) -> str:
    """Create the demo's accounts in a fresh workspace (one transaction); returns the CI token,
    which is also written to the notes."""
    login = login or os_login()
    people = dict(DEMO_USERS)
    for name, role in people_in_stories().items():
        people.setdefault(name, (name, (role,)))
    now = utcnow()
    with ws.store.transaction() as tx:
        for name, (display, roles) in people.items():
            creator = Actor("admin", "demo") if name != "admin" else Actor(login, "demo")
            record(
                tx,
                creator,
                "users.add",
                target=name,
                details={"roles": list(roles), "demo": True},
            )
            tx.execute(
                "INSERT INTO users (user_name, display_name, os_user, password_hash, active, "
                "created_at, created_by, password_changed_at) VALUES (?, ?, ?, ?, true, ?, ?, ?)",
                [
                    name,
                    display,
                    login if name == "admin" else None,
                    hash_password(DEMO_PASSWORD),
                    now,
                    creator.name,
                    now,
                ],
            )
            tx.executemany(
                _INSERT_ROLE,
                [[name, role, ALL_PROJECTS, now, creator.name] for role in roles],
            )
    token = create_token(ws, Actor("admin", "demo"), "ci", "demo CI token")
    _write_notes(ws.root, people, login, token)
    return token


def _write_notes(
    root: Path, people: Mapping[str, tuple[str, tuple[str, ...]]], login: str, token: str
) -> None:
    lines = [
        "# Demo accounts",
        "",
        f"Every account's password is `{DEMO_PASSWORD}`. The OS user `{login}` acts as `admin` in the CLI.",
        "Never use these accounts for real data.",
        "",
        "| user | roles |",
        "|---|---|",
        *(f"| `{name}` | {', '.join(roles)} |" for name, (_, roles) in people.items()),
        "",
        "The CI user's API token (try `LOOPLINE_TOKEN=… loopline users whoami`):",
        "",
        f"    {token}",
        "",
    ]
    target = root / NOTES
    partial = target.with_name(f".{NOTES}.partial")
    partial.write_text("\n".join(lines), encoding="utf-8")
    os.chmod(partial, 0o600)
    partial.replace(target)
