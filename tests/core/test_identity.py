"""Who the CLI is: the real uid's login (not LOGNAME/USER), acting as another user only with
their token or as an admin, the audit row naming the OS login, and tokens' lifetimes."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from core.accounts.access import check_action
from core.accounts.audit import record
from core.accounts.roles import ADMIN
from core.accounts.tokens import create_token
from core.accounts.users import create_user
from core.actor import Actor, os_login
from core.errors import Forbidden, InvalidInput
from core.store import Workspace

REAL_LOGIN = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LOOPLINE_TOKEN", "LOOPLINE_USER"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def team(ws: Workspace, clean_env: pytest.MonkeyPatch) -> Workspace:
    """'boss' is the admin of the OS login 'admin' (not ours); the real login is 'dan', a data
    scientist; 'otto' is an annotator with no login."""
    create_user(ws, Actor("setup", "test"), "boss", roles=[ADMIN], os_user="admin")
    create_user(ws, Actor("boss", "test"), "dan", roles=["data_scientist"], os_user=REAL_LOGIN)
    create_user(ws, Actor("boss", "test"), "otto", roles=["annotator"])
    return ws


def last_audit(ws: Workspace) -> tuple[str, str, str, dict[str, object]]:
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT actor, via, action, details FROM audit_log ORDER BY audit_id DESC LIMIT 1"
        )
    assert row is not None
    return str(row[0]), str(row[1]), str(row[2]), json.loads(row[3])


@pytest.mark.parametrize("variable", ["LOGNAME", "USER", "LNAME", "USERNAME"])
def test_the_os_login_is_the_real_uids_not_the_environments(
    clean_env: pytest.MonkeyPatch, variable: str
) -> None:
    clean_env.setenv(variable, "admin")
    assert os_login() == REAL_LOGIN != "admin"
    assert Actor.from_env().os_user == REAL_LOGIN


def test_a_uid_without_passwd_entry_is_named_by_its_number(
    clean_env: pytest.MonkeyPatch,
) -> None:
    unknown = 3_999_999_999
    with pytest.raises(KeyError):
        pwd.getpwuid(unknown)  # really no entry: the fallback below is the real lookup failing
    clean_env.setattr(os, "getuid", lambda: unknown)
    clean_env.setenv("LOGNAME", "admin")
    assert os_login() == f"uid-{unknown}"


def test_logname_does_not_make_a_user_admin(team: Workspace, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LOGNAME", "admin")
    clean_env.setenv("USER", "admin")
    me = Actor.from_env()
    with pytest.raises(Forbidden) as refused:
        create_user(team, me, "eve", roles=[ADMIN])
    assert str(refused.value) == (
        "dan (data_scientist) may not manage users, roles and tokens; an admin role is needed."
    )


def test_acting_as_someone_without_token_or_admin_is_refused(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("LOOPLINE_USER", "boss")
    with pytest.raises(Forbidden) as refused, team.store.transaction() as tx:
        record(tx, Actor.from_env(), "users.add", target="eve")
    assert str(refused.value) == (
        f"LOOPLINE_USER=boss is refused: the OS user {REAL_LOGIN!r} is dan, who is not an admin. "
        "Acting as another user needs that user's API token (LOOPLINE_TOKEN) or an admin's OS "
        "login."
    )
    assert refused.value.hint == (
        "unset LOOPLINE_USER, or set LOOPLINE_TOKEN to a token of boss "
        "(an admin creates one: `loopline tokens create boss --label …`)"
    )


def test_an_unmapped_login_cannot_act_as_anyone(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setattr("core.actor.os_login", lambda: "runner")
    clean_env.setenv("LOOPLINE_USER", "dan")
    with pytest.raises(Forbidden) as refused, team.store.transaction() as tx:
        record(tx, Actor.from_env(), "ingest", project="tickets")
    assert str(refused.value).startswith(
        "LOOPLINE_USER=dan is refused: the OS user 'runner' is not mapped to a Loopline user. "
    )


def test_acting_as_someone_with_their_token_is_recorded_as_them(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    token = create_token(team, Actor("boss", "test"), "boss", "release laptop")
    clean_env.setenv("LOOPLINE_USER", "boss")
    clean_env.setenv("LOOPLINE_TOKEN", token)
    with team.store.transaction() as tx:
        record(tx, Actor.from_env(), "settings.update", target="x")
    assert last_audit(team) == (
        "boss",
        "cli",
        "settings.update",
        {"by_os_user": REAL_LOGIN, "token": "release laptop"},
    )


def test_someone_elses_token_does_not_prove_the_chosen_user(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    token = create_token(team, Actor("boss", "test"), "otto", "otto's")
    clean_env.setenv("LOOPLINE_USER", "boss")
    clean_env.setenv("LOOPLINE_TOKEN", token)
    with pytest.raises(Forbidden) as refused, team.store.transaction() as tx:
        record(tx, Actor.from_env(), "settings.update")
    assert str(refused.value) == (
        "LOOPLINE_USER=boss is refused: the API token in LOOPLINE_TOKEN belongs to otto."
    )
    assert refused.value.hint == "set LOOPLINE_TOKEN to boss's own token, or unset LOOPLINE_USER"


def test_every_cli_change_names_the_real_os_login(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("LOGNAME", "admin")
    create_token(team, Actor.from_env(), "dan", "own")  # dan's own token: the 'self' permission
    actor, via, action, details = last_audit(team)
    assert (actor, via, action) == ("dan", "cli", "tokens.create")
    assert details["by_os_user"] == REAL_LOGIN
    clean_env.setattr("core.actor.os_login", lambda: "admin")  # boss's login acts as otto
    clean_env.setenv("LOOPLINE_USER", "otto")
    with team.store.transaction() as tx:
        record(tx, Actor.from_env(), "annotate", project="tickets", target="item 1")
    assert last_audit(team)[:3] == ("otto", "cli", "annotate")
    assert last_audit(team)[3] == {"by_os_user": "admin", "act_as_by": "boss"}


def test_the_os_user_a_change_sets_is_not_overwritten_by_the_actors(
    team: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setattr("core.actor.os_login", lambda: "admin")
    create_user(team, Actor.from_env(), "ben", roles=["annotator"], os_user="ben")
    details = last_audit(team)[3]
    assert (details["os_user"], details["by_os_user"]) == ("ben", "admin")


def test_an_open_workspace_still_records_the_os_login(
    ws: Workspace, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("LOOPLINE_USER", "someone")
    with ws.store.transaction() as tx:
        record(tx, Actor.from_env(), "settings.update")
    assert last_audit(ws) == ("someone", "cli", "settings.update", {"by_os_user": REAL_LOGIN})


def test_a_refusal_names_the_role_the_change_needs(team: Workspace) -> None:
    """What `requirements edit` and `freeze` must check before registering their artifact."""
    with team.store.read() as tx:
        with pytest.raises(Forbidden) as refused:
            check_action(tx, Actor("otto", "test"), "freeze", project="tickets", target=None)
        assert str(refused.value) == (
            "otto (annotator) may not freeze label sets in tickets; "
            "a reviewer or data_scientist role is needed."
        )
        with pytest.raises(Forbidden) as refused:
            check_action(
                tx, Actor("otto", "test"), "requirements.edit", project="tickets", target=None
            )
        assert str(refused.value) == (
            "otto (annotator) may not edit requirements in tickets; a manager role is needed."
        )


def test_a_refused_requirements_edit_names_the_manager_role(
    tickets: object, team: Workspace
) -> None:
    from core.requirements.service import edit_requirement

    with pytest.raises(Forbidden) as refused:
        edit_requirement(team, "tickets", "SYS-1", {"title": "Useful"}, Actor("otto", "test"))
    assert str(refused.value) == (
        "otto (annotator) may not edit requirements in tickets; a manager role is needed."
    )


LIFETIME = "A token's lifetime must be 1 to 3650 days; got {}."


@pytest.mark.parametrize(
    "days", [float("nan"), float("inf"), -float("inf"), 1e308, -1.0, 0, 0.5, 3651]
)
def test_token_lifetimes_outside_the_range_are_refused(team: Workspace, days: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_token(team, Actor("boss", "test"), "dan", "CI", expires_days=days)
    assert str(refused.value) == LIFETIME.format(repr(days))
    with team.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM api_tokens") == 0


@pytest.mark.parametrize("days", [1, 90.5, 3650])
def test_token_lifetimes_in_the_range_are_kept(team: Workspace, days: float) -> None:
    create_token(team, Actor("boss", "test"), "dan", "CI", expires_days=days)
    with team.store.read() as tx:
        lived = tx.scalar("SELECT date_diff('minute', created_at, expires_at) FROM api_tokens")
    assert lived == round(days * 24 * 60)
