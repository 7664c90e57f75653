"""Signing in to the app: the first admin, the login form, pages per role, sign-out, expiry,
and the audit log page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts.access import authorize
from core.accounts.users import create_user
from core.actor import Actor, in_session
from core.errors import Forbidden
from core.experiments.search import search_runs
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in
from tests.conftest import FIXTURES

PASSWORD = "correct horse battery"


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(ws.root))
    return ws


@pytest.fixture
def team(fresh: Workspace) -> Workspace:
    from core.projects.service import create_project

    create_project(fresh, FIXTURES / "tickets.yaml", Actor("setup", "test"))
    create_user(fresh, Actor("setup", "test"), "root", roles=["admin"], password=PASSWORD)
    boss = Actor("root", "test")
    create_user(fresh, boss, "anna", roles=["annotator"], password=PASSWORD)
    create_user(fresh, boss, "maria", roles=["manager"], password=PASSWORD)
    return fresh


def pages(at: AppTest) -> list[str]:
    """The page files the navigation offers (AppTest refuses to switch to any other)."""
    registered = at._registered_pages.values()  # AppTest's record of st.navigation's pages
    return sorted(str(p["script_path"]).split("/app/")[-1] for p in registered)


def audit(ws: Workspace, action: str) -> list[tuple[object, ...]]:
    with ws.store.read() as tx:
        return tx.rows(
            "SELECT actor, via, target, details FROM audit_log WHERE action = ? ORDER BY audit_id",
            [action],
        )


def test_an_open_workspace_offers_the_first_admin_account(fresh: Workspace) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception and "views/audit.py" in pages(at)  # everything is open
    at.text_input(key="login.first_name").input("boss")
    at.text_input(key="login.first_password").input(PASSWORD)
    at.text_input(key="login.first_again").input(PASSWORD)
    at.button(key="login.first_submit").click().run()
    assert not at.exception and not at.error
    assert at.session_state["login.name"] == "boss"
    assert any("Signed in as **boss** (admin)" in c.value for c in at.sidebar.caption)
    assert [r[2] for r in audit(fresh, "users.add")] == ["boss"]
    assert [r[0] for r in audit(fresh, "login")] == ["boss"]


def test_the_login_form_refuses_a_wrong_password(team: Workspace) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert [t.value for t in at.title] == ["🔁 Loopline"]
    at.text_input(key="login.user").input("anna")
    at.text_input(key="login.password").input("not the password")
    at.button(key="login.submit").click().run()
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert "login.name" not in at.session_state
    assert '"reason": "wrong password"' in str(audit(team, "login.failed")[0][3])


def test_an_annotator_sees_home_and_labeling_only(team: Workspace) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "anna", PASSWORD)
    assert pages(at) == ["views/home.py", "views/labeling.py"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/experiments.py")
    with in_session(Actor("anna", "app")), pytest.raises(Forbidden) as refused:
        search_runs(team, "tickets")  # what the experiments page would call: core refuses
    assert str(refused.value) == (
        "anna (annotator) may not see runs, builds and models in tickets; a data_scientist or "
        "release_manager or manager role is needed."
    )
    with pytest.raises(Forbidden):
        authorize(team, Actor("anna", "app"), "experiments.read", "tickets")


def test_a_manager_reads_the_audit_log(team: Workspace) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    assert "views/audit.py" in pages(at) and "views/labeling.py" not in pages(at)
    at.switch_page("views/audit.py").run()
    assert not at.exception and [t.value for t in at.title] == ["🧾 Audit log"]
    table = at.dataframe[0].value
    assert {"users.add", "login"} <= set(table["action"])
    at.selectbox(key="audit.action").set_value("users.").run()
    assert set(at.dataframe[0].value["action"]) == {"users.add"}
    at.text_input(key="audit.text").input("'; DROP TABLE audit_log; --").run()
    assert not at.exception and at.info[0].value == "No entries match these filters."
    assert audit(team, "users.add")  # still there


def test_signing_out_ends_the_session(team: Workspace) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    at.button(key="login.sign_out").click().run()
    assert not at.exception and "login.user" in {w.key for w in at.text_input}
    assert at.info[0].value == "You signed out."
    assert [r[0] for r in audit(team, "logout")] == ["maria"]


def test_an_expired_session_asks_to_sign_in_again(team: Workspace) -> None:
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "maria", PASSWORD)
    with team.store.transaction() as tx:  # as if the tab had been idle for an hour
        tx.execute("UPDATE sessions SET last_seen_at = last_seen_at - INTERVAL 1 HOUR")
    at.run()
    assert "login.user" in {w.key for w in at.text_input}
    assert at.info[0].value == "Your session ended (idle for more than 30 minutes)."


def test_disabling_a_user_signs_them_out(team: Workspace) -> None:
    from core.accounts.users import set_active

    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "anna", PASSWORD)
    set_active(team, Actor("root", "test"), "anna", False)
    at.run()
    assert at.info[0].value == "Your session ended (disabled)."


def test_on_the_demo_an_annotator_sees_only_labeling(app: AppTest, demo_workspace: Path) -> None:
    at = sign_in(app, "alice")  # the demo's password
    assert pages(at) == ["views/home.py", "views/labeling.py"]
    assert not at.exception and at.title[0].value == "🔁 Loopline"  # Home, a summary for all
    at.switch_page("views/labeling.py").run()
    assert not at.exception and "alice" in [t.value for t in at.text]
    with in_session(Actor("alice", "app")), pytest.raises(Forbidden, match="alice .annotator."):
        search_runs(Workspace.open(demo_workspace), "ooo-replies")


def test_on_the_demo_the_lead_sees_the_work_pages(app: AppTest) -> None:
    at = sign_in(app, "lead")
    assert "views/experiments.py" in pages(at) and "views/audit.py" not in pages(at)
    at.switch_page("views/experiments.py").run()
    assert not at.exception


def test_with_an_identity_provider_the_app_offers_its_sign_in(team: Workspace) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "loopline",
        "client_secret": "secret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert [b.key for b in at.button] == ["login.oidc"]  # st.login instead of the password form
    assert "login.user" not in {w.key for w in at.text_input}


def test_a_link_to_a_page_opens_it_after_signing_in(team: Workspace) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("views/audit.py").run()  # e.g. a bookmark: the login form comes first
    assert "login.user" in {w.key for w in at.text_input}
    at.text_input(key="login.user").input("maria")
    at.text_input(key="login.password").input(PASSWORD)
    at.button(key="login.submit").click().run()
    assert not at.exception and [t.value for t in at.title] == ["🧾 Audit log"]
