"""`loopline` in a real process: LOGNAME/USER name nobody, LOOPLINE_USER needs a token or an
admin, the audit row names the real OS login, and token lifetimes are bounded."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from core.accounts.roles import ADMIN
from core.accounts.tokens import create_token
from core.accounts.users import create_user
from core.actor import Actor
from core.cli import main
from core.store import Workspace
from tests.conftest import ROOT

REAL_LOGIN = pwd.getpwuid(os.getuid()).pw_name
FORGED = {"LOGNAME": "admin", "USER": "admin", "LNAME": "admin", "USERNAME": "admin"}


@pytest.fixture
def team(tmp_path: Path) -> Workspace:
    """The admin 'boss' is the OS login 'admin' (not ours); our real login is 'dan', a data
    scientist."""
    ws = Workspace.init(tmp_path / "ws")
    create_user(ws, Actor("setup", "test"), "boss", roles=[ADMIN], os_user="admin")
    create_user(ws, Actor("boss", "test"), "dan", roles=["data_scientist"], os_user=REAL_LOGIN)
    return ws


def loopline(ws: Workspace, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, with LOGNAME/USER forged to the admin's login."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(ws.root), *args],
        cwd=ROOT,
        env={**clean, **FORGED, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def audit_rows(ws: Workspace, action: str) -> list[tuple[str, str, dict[str, object]]]:
    with ws.store.read() as tx:
        rows = tx.rows(
            "SELECT actor, via, details FROM audit_log WHERE action = ? ORDER BY audit_id",
            [action],
        )
    return [(str(a), str(v), json.loads(d)) for a, v, d in rows]


def test_a_forged_logname_does_not_make_an_admin(team: Workspace) -> None:
    whoami = loopline(team, "users", "whoami")
    assert (whoami.returncode, whoami.stdout.strip()) == (
        0,
        f"dan (data_scientist) via OS user {REAL_LOGIN}",
    )
    added = loopline(team, "users", "add", "eve", "--role", "admin", "--no-password")
    assert added.returncode == 2
    assert added.stderr.splitlines() == [
        "error: dan (data_scientist) may not manage users, roles and tokens; "
        "an admin role is needed.",
        "hint: ask an admin: `loopline users grant dan admin`",
    ]
    assert audit_rows(team, "users.add")[2:] == []  # only the two of the fixture


def test_acting_as_the_admin_needs_the_admins_token(team: Workspace) -> None:
    refused = loopline(team, "users", "add", "eve", "--role", "admin", LOOPLINE_USER="boss")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"error: LOOPLINE_USER=boss is refused: the OS user {REAL_LOGIN!r} is dan, who is not an "
        "admin. Acting as another user needs that user's API token (LOOPLINE_TOKEN) or an "
        "admin's OS login.",
        "hint: unset LOOPLINE_USER, or set LOOPLINE_TOKEN to a token of boss (an admin creates "
        "one: `loopline tokens create boss --label …`)",
    ]
    token = create_token(team, Actor("boss", "test"), "boss", "release laptop")
    added = loopline(
        team, "users", "add", "eve", "--role", "annotator", "--no-password",
        LOOPLINE_USER="boss", LOOPLINE_TOKEN=token,
    )  # fmt: skip
    assert (added.returncode, added.stdout.strip()) == (0, "Added eve (annotator).")
    assert audit_rows(team, "users.add")[-1] == (
        "boss",
        "cli",
        {
            "by_os_user": REAL_LOGIN,
            "first_user": False,
            "os_user": None,
            "roles": ["annotator"],
            "token": "release laptop",
        },
    )


def test_a_token_alone_names_its_user_and_the_real_login(team: Workspace) -> None:
    token = create_token(team, Actor("boss", "test"), "dan", "CI")
    made = loopline(team, "tokens", "create", "dan", "--label", "laptop", LOOPLINE_TOKEN=token)
    assert made.returncode == 0 and made.stdout.startswith("llt.dan.")
    assert audit_rows(team, "tokens.create")[-1][:2] == ("dan", "cli")
    assert audit_rows(team, "tokens.create")[-1][2]["by_os_user"] == REAL_LOGIN
    assert audit_rows(team, "tokens.create")[-1][2]["token"] == "CI"


@pytest.mark.parametrize(
    ("given", "shown"),
    [("1e308", "1e+308"), ("nan", "nan"), ("inf", "inf"), ("-3", "-3.0"), ("0", "0.0")],
)
def test_token_lifetimes_out_of_range_exit_2_and_write_nothing(
    team: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    given: str,
    shown: str,
) -> None:
    monkeypatch.setattr("core.actor.os_login", lambda: "admin")  # the admin, in this process
    monkeypatch.delenv("LOOPLINE_USER", raising=False)
    monkeypatch.delenv("LOOPLINE_TOKEN", raising=False)
    args = ["-w", str(team.root), "tokens", "create", "dan", "--label", "CI"]
    assert main([*args, f"--expires-days={given}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: A token's lifetime must be 1 to 3650 days; got {shown}.",
        "hint: pass e.g. --expires-days 90, or leave it out for a token that never expires",
    ]
    with team.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM api_tokens") == 0
    assert audit_rows(team, "tokens.create") == []
