"""Accounts: users, the first admin, roles per project, API tokens (only their hash is stored)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.accounts.assignments import assign
from core.accounts.auditlog import parse_time
from core.accounts.tokens import create_token, list_tokens, revoke_token, verify_token
from core.accounts.users import (
    add_user,
    create_user,
    get_user,
    grant,
    list_users,
    reset_password,
    revoke,
    set_active,
    update_user,
)
from core.actor import Actor
from core.errors import Forbidden, InvalidInput, NotFound
from core.store import Workspace, utcnow

ADMIN = Actor("root", "test")
PASSWORD = "correct horse battery"


@pytest.fixture
def team(ws: Workspace, tickets: object) -> Workspace:
    """The tickets project, an admin (root), a data scientist (dana) and an annotator (anna)."""
    create_user(ws, Actor("bootstrap", "test"), "root", roles=["admin"], password=PASSWORD)
    create_user(ws, ADMIN, "dana", roles=["data_scientist"], password=PASSWORD)
    create_user(ws, ADMIN, "anna", roles=["annotator"], password=PASSWORD)
    return ws


def audit_rows(ws: Workspace, action: str) -> list[tuple[object, ...]]:
    with ws.store.read() as tx:
        return tx.rows(
            "SELECT actor, via, project, target, details FROM audit_log WHERE action = ? "
            "ORDER BY audit_id",
            [action],
        )


def test_the_first_user_must_be_an_admin(ws: Workspace) -> None:
    with pytest.raises(InvalidInput, match="The first user of a workspace must be an admin"):
        create_user(ws, Actor("me", "test"), "dana", roles=["data_scientist"])
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    (row,) = audit_rows(ws, "users.add")
    assert row[0] == "me" and row[3] == "root"  # recorded while the workspace was still open


def test_add_user_maps_the_first_admin_to_the_os_login_and_makes_passwords(
    ws: Workspace,
) -> None:
    first = add_user(ws, Actor("me", "test"), "root", roles=["admin"], first_os_user="me")
    assert first.first and first.user.os_user == "me" and first.password is None
    assert not first.user.has_password
    made = add_user(
        ws, ADMIN, "dana", roles=["data_scientist"], temporary_password=True, first_os_user="me"
    )
    assert not made.first and made.user.os_user is None  # only the first user is mapped
    assert made.password is not None and len(made.password) == 16 and made.user.has_password
    given = add_user(ws, ADMIN, "anna", roles=["annotator"], password=PASSWORD, os_user="anna")
    assert given.password is None and given.user.has_password and given.user.os_user == "anna"
    with pytest.raises(InvalidInput, match="The password is too short"):
        add_user(ws, ADMIN, "eve", roles=["annotator"], password="", temporary_password=True)


def test_audit_filter_times_are_parsed_once() -> None:
    assert parse_time(None) is None and parse_time("") is None
    assert parse_time("2026-03-01") == datetime(2026, 3, 1)
    assert parse_time("2026-03-01T10:30") == datetime(2026, 3, 1, 10, 30)
    with pytest.raises(InvalidInput) as bad:
        parse_time("yesterday")
    assert str(bad.value) == "'yesterday' is not a date or time."
    assert bad.value.hint == "use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"


def test_after_the_first_admin_only_admins_add_users(team: Workspace) -> None:
    with pytest.raises(Forbidden) as refused:
        create_user(team, Actor("dana", "test"), "eve", roles=["admin"])
    assert str(refused.value) == (
        "dana (data_scientist) may not manage users, roles and tokens; an admin role is needed."
    )
    with pytest.raises(Forbidden, match="'stranger' is not a user of this workspace"):
        create_user(team, Actor("stranger", "test"), "eve", roles=["annotator"])
    assert [u.name for u in list_users(team)] == ["anna", "dana", "root"]


def test_user_names_roles_and_passwords_are_checked(team: Workspace) -> None:
    with pytest.raises(InvalidInput, match="The user name 'Bad Name' is not allowed"):
        create_user(team, ADMIN, "Bad Name")
    with pytest.raises(InvalidInput, match="Unknown role 'wizard'. Expected one of: admin"):
        create_user(team, ADMIN, "eve", roles=["wizard"])
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        create_user(team, ADMIN, "eve", password="short")
    with pytest.raises(InvalidInput, match="must not be the user name"):
        create_user(team, ADMIN, "evelyn1234", password="evelyn1234")
    with pytest.raises(InvalidInput, match="admin is a role for the whole workspace"):
        create_user(team, ADMIN, "eve", roles=["admin"], project="tickets")
    with pytest.raises(InvalidInput, match="The user 'dana' already exists"):
        create_user(team, ADMIN, "dana")
    with pytest.raises(NotFound, match="No project 'nowhere'"):
        create_user(team, ADMIN, "eve", roles=["annotator"], project="nowhere")


def test_passwords_are_stored_as_argon2id_hashes(team: Workspace) -> None:
    with team.store.read() as tx:
        stored = tx.scalar("SELECT password_hash FROM users WHERE user_name = 'dana'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PASSWORD.encode() not in (team.root / "loopline.duckdb").read_bytes()


def test_grant_revoke_and_project_limits(team: Workspace) -> None:
    user = grant(team, ADMIN, "anna", "reviewer", "tickets")
    assert [g.label for g in user.grants] == ["annotator", "reviewer@tickets"]
    assert user.roles("tickets") == ("annotator", "reviewer")
    assert user.roles("other") == ("annotator",)
    with pytest.raises(InvalidInput, match="anna already has the role reviewer@tickets"):
        grant(team, ADMIN, "anna", "reviewer", "tickets")
    user = revoke(team, ADMIN, "anna", "reviewer", "tickets")
    assert [g.label for g in user.grants] == ["annotator"]
    with pytest.raises(InvalidInput, match=r"does not have the role reviewer \(roles: annotator\)"):
        revoke(team, ADMIN, "anna", "reviewer")
    assert [r[4] for r in audit_rows(team, "users.grant")] == ['{"role": "reviewer@tickets"}']


def test_the_last_admin_cannot_lock_everyone_out(team: Workspace) -> None:
    with pytest.raises(InvalidInput, match="root is the last active admin"):
        set_active(team, ADMIN, "root", False)
    with pytest.raises(InvalidInput, match="root is the last active admin"):
        revoke(team, ADMIN, "root", "admin")
    grant(team, ADMIN, "dana", "admin")
    assert not set_active(team, ADMIN, "root", False).active


def test_disabled_users_are_refused(team: Workspace) -> None:
    set_active(team, ADMIN, "dana", False)
    with pytest.raises(Forbidden, match="The account 'dana' is disabled"):
        create_token(team, Actor("dana", "test"), "dana", "laptop")
    assert set_active(team, ADMIN, "dana", True).active
    assert [r[3] for r in audit_rows(team, "users.disable")] == ["dana"]


def test_users_see_themselves_admins_see_everyone(team: Workspace) -> None:
    assert [u.name for u in list_users(team, Actor("anna", "test"))] == ["anna"]
    assert len(list_users(team, ADMIN)) == 3


def test_update_user_maps_os_logins_once(team: Workspace) -> None:
    update_user(team, ADMIN, "dana", os_user="dlogin", email="dana@example.com")
    assert get_user(team, "dana").os_user == "dlogin"
    with pytest.raises(InvalidInput, match="The OS user 'dlogin' is already mapped to dana"):
        update_user(team, ADMIN, "anna", os_user="dlogin")
    assert get_user(team, "dana").email == "dana@example.com"


def test_reset_password_generates_one_and_ends_sessions(team: Workspace) -> None:
    from core.accounts.sessions import login, resume_session

    session = login(team, "anna", PASSWORD, client="test")
    new = reset_password(team, ADMIN, "anna")
    assert len(new) >= 16
    with pytest.raises(Forbidden, match="Your session ended"):
        resume_session(team, session.secret)
    assert login(team, "anna", new, client="test").user == "anna"


def test_assign_annotators_to_tasks(team: Workspace) -> None:
    with pytest.raises(NotFound, match="No task #99"):
        assign(team, ADMIN, 99, ["anna"])


# -- API tokens -------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(team: Workspace) -> None:
    token = create_token(team, ADMIN, "dana", "GitHub Actions")
    assert token.startswith("llt.dana.") and len(token) > 40
    actor = verify_token(team, token)
    assert (actor.name, actor.via) == ("dana", "service")
    data = (team.root / "loopline.duckdb").read_bytes()
    assert token.encode() not in data and token.split(".")[-1].encode() not in data
    (row,) = audit_rows(team, "tokens.create")
    assert row[0] == "root" and row[3] == "dana" and "GitHub Actions" in str(row[4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "An API token is needed."),
        ("not-a-token", "The API token is malformed"),
        ("llt.dana.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "The API token is not valid"),
        ("llt.root.{secret}", "The API token is not valid"),  # another user's name, dana's secret
        ("x" * 5000, "The API token is malformed"),
    ],
)
def test_bad_tokens_are_refused(team: Workspace, text: str, message: str) -> None:
    token = create_token(team, ADMIN, "dana", "ci")
    with pytest.raises(Forbidden, match=message):
        verify_token(team, text.replace("{secret}", token.split(".")[-1]))


def test_revoked_and_expired_tokens_stop_working(team: Workspace) -> None:
    token = create_token(team, ADMIN, "dana", "old laptop", expires_days=1)
    with pytest.raises(Forbidden, match="expired on"):
        verify_token(team, token, now=utcnow() + timedelta(days=2))
    (listed,) = list_tokens(team, ADMIN)
    revoke_token(team, Actor("dana", "test"), listed.token_id)  # users revoke their own
    with pytest.raises(Forbidden, match="The API token 'old laptop' of dana was revoked on"):
        verify_token(team, token)
    with pytest.raises(InvalidInput, match="already revoked"):
        revoke_token(team, ADMIN, listed.token_id)


def test_tokens_of_disabled_users_stop_working(team: Workspace) -> None:
    token = create_token(team, Actor("dana", "test"), "dana", "my laptop")  # for oneself
    set_active(team, ADMIN, "dana", False)
    with pytest.raises(Forbidden, match="The account 'dana' of this API token is disabled"):
        verify_token(team, token)


def test_only_admins_create_tokens_for_others(team: Workspace) -> None:
    with pytest.raises(Forbidden, match="dana .data_scientist. may not manage users"):
        create_token(team, Actor("dana", "test"), "root", "steal")
    with pytest.raises(InvalidInput, match="needs a label"):
        create_token(team, ADMIN, "dana", "  ")
    assert list_tokens(team, Actor("anna", "test")) == []


def test_a_token_actor_is_checked_on_every_change(team: Workspace, tmp_path: Path) -> None:
    from core.accounts.users import create_user as add

    token = create_token(team, ADMIN, "root", "admin script")
    actor = verify_token(team, token, via="cli")
    add(team, actor, "eve", roles=["annotator"])
    (row,) = [r for r in audit_rows(team, "users.add") if r[3] == "eve"]
    assert row[0] == "root" and row[1] == "cli" and '"token": "admin script"' in str(row[4])
    (listed,) = list_tokens(team, ADMIN)
    revoke_token(team, ADMIN, listed.token_id)
    with pytest.raises(Forbidden, match="was revoked"):
        add(team, actor, "fay", roles=["annotator"])


def test_an_identity_providers_email_picks_the_user(team: Workspace) -> None:
    from core.accounts.users import user_for_email

    update_user(team, ADMIN, "dana", email="Dana@Example.com")
    found = user_for_email(team, "dana@example.COM ")
    assert found is not None and found.name == "dana"
    assert user_for_email(team, "nobody@example.com") is None
