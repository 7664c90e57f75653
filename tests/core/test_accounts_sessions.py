"""Signing in: password checks, failed-login limits per user and per client, session expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.accounts.models import LoginPolicy
from core.accounts.passwords import hash_password, needs_rehash, verify_password
from core.accounts.sessions import LoginRefused, lockout, login, logout, resume_session
from core.accounts.users import create_user, set_active
from core.actor import Actor
from core.errors import Forbidden
from core.store import Workspace, utcnow

PASSWORD = "correct horse battery"
POLICY = LoginPolicy(
    idle_minutes=30,
    absolute_hours=12,
    window_minutes=60,
    user_failures=3,
    client_failures=5,
    first_lockout_seconds=30,
    max_lockout_minutes=15,
)


@pytest.fixture
def users(ws: Workspace) -> Workspace:
    create_user(ws, Actor("me", "test"), "root", roles=["admin"], password=PASSWORD)
    create_user(ws, Actor("root", "test"), "anna", roles=["annotator"], password=PASSWORD)
    return ws


def audit(ws: Workspace, action: str) -> list[tuple[object, ...]]:
    with ws.store.read() as tx:
        return tx.rows(
            "SELECT actor, via, target, details FROM audit_log WHERE action = ? ORDER BY audit_id",
            [action],
        )


def test_argon2id_hashes_verify_and_refuse() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)  # an unknown user
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(stored, "x" * 5000)
    assert hash_password(PASSWORD) != stored  # salted
    assert not needs_rehash(stored)
    assert needs_rehash("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")


def test_sign_in_and_out_are_recorded(users: Workspace) -> None:
    session = login(users, "Anna ", PASSWORD, client="10.0.0.7")
    assert session.user == "anna" and len(session.secret) > 30
    assert resume_session(users, session.secret) == Actor("anna", "app")
    logout(users, session.secret)
    with pytest.raises(Forbidden, match=r"Your session ended \(signed out\)"):
        resume_session(users, session.secret)
    assert audit(users, "login")[0][:3] == ("anna", "app", "anna")
    assert '"client": "10.0.0.7"' in str(audit(users, "login")[0][3])
    assert audit(users, "logout")[0][:3] == ("anna", "app", "anna")
    with users.store.read() as tx:  # the session key is stored hashed
        assert tx.one("SELECT 1 FROM sessions WHERE session_hash = ?", [session.secret]) is None


@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("anna", "wrong password!", "wrong password"),
        ("nobody", PASSWORD, "unknown user"),
        ("'; DROP TABLE users; --", PASSWORD, "unknown user"),
    ],
)
def test_a_failed_sign_in_says_the_same_for_every_cause(
    users: Workspace, name: str, password: str, reason: str
) -> None:
    with pytest.raises(LoginRefused) as refused:
        login(users, name, password, client="c1")
    assert str(refused.value) == "Wrong user name or password."
    (row,) = audit(users, "login.failed")
    assert row[2] == name.lower() and f'"reason": "{reason}"' in str(row[3])


def test_a_disabled_account_cannot_sign_in(users: Workspace) -> None:
    set_active(users, Actor("root", "test"), "anna", False)
    with pytest.raises(LoginRefused, match="Wrong user name or password"):
        login(users, "anna", PASSWORD, client="c1")
    assert '"reason": "disabled"' in str(audit(users, "login.failed")[0][3])


def test_failures_lock_a_user_name_with_growing_backoff(users: Workspace) -> None:
    now = utcnow()
    for second in range(3):
        with pytest.raises(LoginRefused, match="Wrong user name"):
            login(users, "anna", "nope-nope-nope", client=f"c{second}", now=now, policy=POLICY)
    assert lockout(users, "anna", "other", now=now, policy=POLICY) == now + timedelta(seconds=30)
    with pytest.raises(LoginRefused, match="Too many failed sign-ins; try again in 30 seconds"):
        login(users, "anna", PASSWORD, client="c9", now=now, policy=POLICY)  # even the right one
    later = now + timedelta(seconds=31)
    with pytest.raises(LoginRefused, match="Wrong user name"):
        login(users, "anna", "still wrong!", client="c9", now=later, policy=POLICY)
    assert lockout(users, "anna", "c9", now=later, policy=POLICY) == later + timedelta(seconds=60)
    much_later = later + timedelta(seconds=61)
    assert login(users, "anna", PASSWORD, client="c9", now=much_later, policy=POLICY).user == "anna"
    assert lockout(users, "anna", "c9", now=much_later, policy=POLICY) is None  # success resets
    assert [r[3] for r in audit(users, "login.failed")].count(
        '{"client": "c9", "reason": "locked"}'
    ) == 1


def test_the_backoff_is_capped_and_old_failures_are_forgotten(users: Workspace) -> None:
    moment = utcnow()
    waits = []
    for _ in range(8):  # each failure right after the previous lockout ended
        with pytest.raises(LoginRefused, match="Wrong user name"):
            login(users, "anna", "nope-nope-nope", client="c", now=moment, policy=POLICY)
        until = lockout(users, "anna", "x", now=moment, policy=POLICY)
        waits.append(0 if until is None else round((until - moment).total_seconds()))
        moment = until + timedelta(seconds=1) if until else moment
    assert waits == [0, 0, 30, 60, 120, 240, 480, 900]  # doubling, capped at 15 minutes
    assert lockout(users, "anna", "x", now=moment + timedelta(minutes=61), policy=POLICY) is None


def test_failures_lock_a_client_across_user_names(users: Workspace) -> None:
    now = utcnow()
    for index in range(5):
        with pytest.raises(LoginRefused):
            login(
                users, f"guess{index}", "whatever-123", client="203.0.113.9", now=now, policy=POLICY
            )
    with pytest.raises(LoginRefused, match="Too many failed sign-ins"):
        login(users, "anna", PASSWORD, client="203.0.113.9", now=now, policy=POLICY)
    assert (
        login(users, "anna", PASSWORD, client="198.51.100.1", now=now, policy=POLICY).user == "anna"
    )


def test_sessions_expire_when_idle_and_after_a_while(users: Workspace) -> None:
    now = utcnow()
    idle = login(users, "anna", PASSWORD, client="c", now=now, policy=POLICY)
    assert resume_session(users, idle.secret, now=now + timedelta(minutes=29), policy=POLICY)
    assert resume_session(users, idle.secret, now=now + timedelta(minutes=58), policy=POLICY)
    with pytest.raises(Forbidden, match=r"Your session ended \(idle for more than 30 minutes\)"):
        resume_session(users, idle.secret, now=now + timedelta(minutes=89), policy=POLICY)
    busy = login(users, "anna", PASSWORD, client="c", now=now, policy=POLICY)
    for minutes in range(20, 12 * 60, 20):  # used every 20 minutes, all day
        resume_session(users, busy.secret, now=now + timedelta(minutes=minutes), policy=POLICY)
    with pytest.raises(Forbidden, match="signed in more than 12 hours ago"):
        resume_session(users, busy.secret, now=now + timedelta(hours=12, minutes=5), policy=POLICY)
    assert [r[3] for r in audit(users, "session.expired")] == [
        '{"reason": "idle for more than 30 minutes"}',
        '{"reason": "signed in more than 12 hours ago"}',
    ]
    with pytest.raises(Forbidden, match="You are not signed in"):
        resume_session(users, "made-up")


def test_disabling_a_user_ends_their_sessions(users: Workspace) -> None:
    session = login(users, "anna", PASSWORD, client="c")
    set_active(users, Actor("root", "test"), "anna", False)
    with pytest.raises(Forbidden, match=r"Your session ended \(disabled\)"):
        resume_session(users, session.secret)
