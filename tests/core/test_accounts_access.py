"""Access control: every role × permission and role × action (allowed and refused), the
messages, per-project limits, the open workspace, CLI identity and task assignments."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.accounts.access import allowed, authorize, check_action
from core.accounts.assignments import assign
from core.accounts.audit import record
from core.accounts.roles import ACTIONS, ADMIN, PERMISSIONS, ROLES, SYSTEM_ROLE, roles_with
from core.accounts.tokens import create_token
from core.accounts.users import create_user, grant
from core.actor import Actor, in_session
from core.errors import Forbidden
from core.store import Workspace
from tests.conftest import ROOT

ROOT_ADMIN = Actor("root", "test")


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One user per role (named after it, for every project), and two projects."""
    from core.projects.service import create_project
    from tests.conftest import FIXTURES

    ws = Workspace.init(tmp_path_factory.mktemp("staff") / "ws")
    create_project(ws, FIXTURES / "tickets.yaml", Actor("setup", "test"))
    create_user(ws, Actor("setup", "test"), "root", roles=[ADMIN])
    for role in ROLES:
        create_user(ws, ROOT_ADMIN, role.replace("_", "-"), roles=[role])
    create_user(ws, ROOT_ADMIN, "limited", roles=["data_scientist"], project="tickets")
    return ws


def user_of(role: str) -> Actor:
    return Actor(role.replace("_", "-"), "test")


@pytest.mark.parametrize("permission", list(PERMISSIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_and_permission(staff: Workspace, role: str, permission: str) -> None:
    expected = role in roles_with(permission)
    assert allowed(staff, user_of(role), permission, "tickets") is expected
    if not expected:
        with pytest.raises(Forbidden, match=rf"^{user_of(role).name} \({role}\) may not "):
            authorize(staff, user_of(role), permission, "tickets")


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_every_action_for_every_role(staff: Workspace, role: str, action: str) -> None:
    permission = ACTIONS[action]
    expected = permission is None or role in roles_with(permission)
    with staff.store.read() as tx:
        if expected:
            check_action(tx, user_of(role), action, project="tickets", target=None)
        else:
            with pytest.raises(Forbidden, match="may not"):
                check_action(tx, user_of(role), action, project="tickets", target=None)


def test_the_refusal_says_who_what_where_and_how_to_get_access(staff: Workspace) -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(staff, Actor("annotator", "cli"), "build", "tickets")
    assert str(refused.value) == (
        "annotator (annotator) may not build models in tickets; a data_scientist role is needed."
    )
    assert refused.value.hint == (
        "ask an admin: `loopline users grant annotator data_scientist --project tickets`"
    )
    with pytest.raises(Forbidden) as refused:
        authorize(staff, Actor("manager", "cli"), "freeze", "tickets")
    assert "a reviewer or data_scientist role is needed" in str(refused.value)


def test_an_unknown_action_is_refused_for_everyone_but_admins(staff: Workspace) -> None:
    with staff.store.read() as tx:
        with pytest.raises(Forbidden) as refused:
            check_action(tx, user_of("manager"), "frobnicate", project=None, target=None)
        check_action(tx, ROOT_ADMIN, "frobnicate", project=None, target=None)
    assert str(refused.value) == (
        "The action 'frobnicate' is not in Loopline's permission matrix, so only admins may "
        "perform it (manager is not an admin)."
    )
    assert refused.value.hint == "developers: add the action to ACTIONS in core/accounts/roles.py"


def test_a_refused_change_is_rolled_back_whole(staff: Workspace) -> None:
    before = count(staff, "audit_log")
    with pytest.raises(Forbidden), staff.store.transaction() as tx:
        tx.execute(
            "INSERT INTO users VALUES ('ghost', 'g', NULL, NULL, NULL, true, now(), 'x', NULL)"
        )
        record(tx, user_of("annotator"), "users.add", target="ghost")
    assert count(staff, "audit_log") == before
    with staff.store.read() as tx:
        assert tx.one("SELECT 1 FROM users WHERE user_name = 'ghost'") is None


def count(ws: Workspace, table: str) -> int:
    with ws.store.read() as tx:
        return int(tx.scalar(f"SELECT count(*) FROM {table}"))


def test_roles_can_be_limited_to_a_project(staff: Workspace) -> None:
    limited = Actor("limited", "test")
    assert allowed(staff, limited, "build", "tickets")
    assert not allowed(staff, limited, "build", "hw-triage")
    with pytest.raises(
        Forbidden, match=r"^limited \(no role here\) may not build models in hw-triage"
    ):
        authorize(staff, limited, "build", "hw-triage")
    assert allowed(staff, limited, "experiments.read")  # a listing: what is visible is filtered
    assert not allowed(staff, limited, "audit.read")  # workspace permissions need every project


def test_workspace_permissions_need_a_grant_for_every_project(
    ws: Workspace, tickets: object
) -> None:
    create_user(ws, Actor("me", "test"), "root", roles=[ADMIN])
    create_user(ws, ROOT_ADMIN, "maria", roles=["manager"], project="tickets")
    assert not allowed(ws, Actor("maria", "test"), "audit.read")
    grant(ws, ROOT_ADMIN, "maria", "manager")
    assert allowed(ws, Actor("maria", "test"), "audit.read")


def test_an_open_workspace_checks_nothing(ws: Workspace) -> None:
    authorize(ws, Actor("anyone", "test"), "users.manage")
    with ws.store.transaction() as tx:
        record(tx, Actor("anyone", "test"), "frobnicate")


def test_a_library_caller_without_actor_is_not_checked(staff: Workspace) -> None:
    assert authorize(staff, None, "audit.read").user is None
    with in_session(user_of("annotator")), pytest.raises(Forbidden):
        authorize(staff, None, "audit.read")  # a page: the signed-in user


def test_the_app_cannot_act_in_another_users_name(staff: Workspace) -> None:
    with in_session(Actor("annotator", "app")):
        with pytest.raises(
            Forbidden, match="The app is signed in as annotator; a change in the name of root"
        ):
            authorize(staff, Actor("root", "app"), "label", "tickets")
        assert Actor.from_env("app") == Actor("annotator", "app")


# -- CLI identity -----------------------------------------------------------------------------


@pytest.fixture
def mapped(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The OS login 'ops1' is the admin 'olga'; 'ops2' is the annotator 'otto'."""
    monkeypatch.delenv("LOOPLINE_TOKEN", raising=False)
    monkeypatch.delenv("LOOPLINE_USER", raising=False)
    create_user(ws, Actor("me", "test"), "olga", roles=[ADMIN], os_user="ops1")
    create_user(ws, Actor("olga", "test"), "otto", roles=["annotator"], os_user="ops2")
    create_user(ws, Actor("olga", "test"), "dana", roles=["data_scientist"])
    return ws


def cli_actor(monkeypatch: pytest.MonkeyPatch, login: str, **env: str) -> Actor:
    monkeypatch.setattr("core.actor.os_login", lambda: login)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Actor.from_env()


def last_audit(ws: Workspace) -> tuple[object, ...]:
    with ws.store.read() as tx:
        row = tx.one("SELECT actor, via, details FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert row is not None
    return row


def test_the_os_login_maps_to_its_user(mapped: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    actor = cli_actor(monkeypatch, "ops1")
    assert actor.os_user == "ops1"
    grant(mapped, actor, "dana", "reviewer")
    assert last_audit(mapped)[0] == "olga"  # the user, not the login
    assert '"by_os_user": "ops1"' in str(last_audit(mapped)[2])


def test_an_unmapped_login_is_refused(mapped: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Forbidden) as refused:
        grant(mapped, cli_actor(monkeypatch, "intruder"), "dana", "reviewer")
    assert str(refused.value) == (
        "The OS user 'intruder' is not mapped to a Loopline user of this workspace."
    )
    assert "loopline users add NAME --os-user intruder" in str(refused.value.hint)


def test_only_an_admin_acts_as_another_user(
    mapped: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_dana = cli_actor(monkeypatch, "ops1", LOOPLINE_USER="dana")
    assert as_dana.name == "dana" and as_dana.chosen
    authorize(mapped, as_dana, "build", "tickets")
    with pytest.raises(Forbidden, match="dana .data_scientist. may not manage users"):
        grant(mapped, as_dana, "otto", "reviewer")  # dana's roles count, not olga's
    with mapped.store.transaction() as tx:
        record(tx, as_dana, "ingest", project="tickets")
    assert last_audit(mapped)[0] == "dana"
    assert '"act_as_by": "olga"' in str(last_audit(mapped)[2])
    with pytest.raises(Forbidden) as refused:
        authorize(mapped, cli_actor(monkeypatch, "ops2", LOOPLINE_USER="dana"), "build", "tickets")
    assert str(refused.value) == (
        "LOOPLINE_USER=dana is refused: the OS user 'ops2' is otto, who is not an admin. Acting "
        "as another user needs that user's API token (LOOPLINE_TOKEN) or an admin's OS login."
    )


def test_a_token_in_the_environment_names_its_user(
    mapped: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_token(mapped, Actor("olga", "test"), "dana", "CI")
    actor = cli_actor(monkeypatch, "nobody", LOOPLINE_TOKEN=token)
    assert (actor.name, actor.via) == ("dana", "cli")
    with mapped.store.transaction() as tx:
        record(tx, actor, "ingest", project="tickets")
    assert last_audit(mapped)[:2] == ("dana", "cli")
    forged = cli_actor(
        monkeypatch, "nobody", LOOPLINE_TOKEN=token.replace("llt.dana.", "llt.olga.")
    )
    with pytest.raises(Forbidden, match="The API token is not valid"):
        authorize(mapped, forged, "users.manage")


def test_the_cli_names_the_mapped_user_when_it_knows_the_workspace(
    mapped: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.actor import cli_workspace

    monkeypatch.setattr("core.actor.os_login", lambda: "ops2")
    with cli_workspace(mapped.root):
        assert Actor.from_env().name == "otto"
    assert Actor.from_env().name == "ops2"


# -- task assignments -------------------------------------------------------------------------


def test_annotators_label_only_in_tasks_assigned_to_them(
    ws: Workspace, tickets: object, actor: Actor, tmp_path: Path
) -> None:
    from core.data.service import ingest
    from core.labeling.queue import next_item, save_annotation
    from core.labeling.tasks import create_task
    from tests.conftest import FIXTURES

    ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    task = create_task(ws, "tickets", actor, name="all", overlap=2)
    create_user(ws, actor, "root", roles=[ADMIN])
    create_user(ws, ROOT_ADMIN, "ann", roles=["annotator"])
    create_user(ws, ROOT_ADMIN, "ben", roles=["annotator"])
    create_user(ws, ROOT_ADMIN, "rev", roles=["reviewer"])
    ann, ben = Actor("ann", "test"), Actor("ben", "test")
    item = next_item(ws, task.task_id, ben)  # no assignees yet: open to every annotator
    assert item is not None
    save_annotation(ws, task.task_id, item.item_id, ben, "billing")
    assert assign(ws, Actor("rev", "test"), task.task_id, ["ann"]) == ["ann"]
    item = next_item(ws, task.task_id, ann)
    assert item is not None
    save_annotation(ws, task.task_id, item.item_id, ann, "bug")
    with pytest.raises(Forbidden, match=r"ben is not assigned to task #1 \(assigned: ann\)"):
        save_annotation(ws, task.task_id, item.item_id, ben, "bug")
    with pytest.raises(Forbidden, match="ben is not assigned to task #1"):
        next_item(ws, task.task_id, ben)
    with pytest.raises(Forbidden, match=r"rev \(reviewer\) may not label items in tickets"):
        save_annotation(ws, task.task_id, item.item_id, Actor("rev", "test"), "bug")


# -- the matrix covers every action in the code -----------------------------------------------

EXPANSIONS = {  # f-string actions and the values they take
    "task.{status}": ("open", "closed"),
    "build.{status}": ("running", "successful", "failed", "aborted"),
}


def actions_in_core() -> dict[str, list[str]]:
    """Every action string passed to record(...) in core/, with where it is used: literals,
    conditional expressions, f-strings (expanded) and local variables assigned those."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.Module)]:
            assigned: dict[str, list[ast.expr]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, []).append(node.value)
            for node in ast.walk(function):
                if not (
                    isinstance(node, ast.Call) and _name(node.func) in ("record", "record_event")
                ):
                    continue
                if len(node.args) < 3:
                    continue
                argument = node.args[2]
                values = (
                    assigned.get(argument.id, []) if isinstance(argument, ast.Name) else [argument]
                )
                for value in values:
                    for action in _strings(value):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        if where not in found.setdefault(action, []):
                            found[action].append(where)
    return found


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
            for v in node.values
        )
        if pattern not in EXPANSIONS:
            return [pattern]  # unknown: fails below with its location
        head, _, tail = pattern.partition("{")
        rest = tail.partition("}")[2]
        return [f"{head}{value}{rest}" for value in EXPANSIONS[pattern]]
    return []  # a variable passed through (record_event's own call)


def test_every_action_used_in_core_is_in_the_matrix() -> None:
    found = actions_in_core()
    assert {"ingest", "annotate", "freeze", "users.add"} <= set(found)
    missing = {action: where for action, where in found.items() if action not in ACTIONS}
    assert not missing, (
        f"actions recorded in core but missing from ACTIONS in core/accounts/roles.py: {missing}"
    )


def test_the_matrix_names_only_known_roles_and_permissions() -> None:
    for permission in PERMISSIONS.values():
        assert set(permission.roles) <= {*ROLES, SYSTEM_ROLE}
    for permission_name in ACTIONS.values():
        assert permission_name is None or permission_name in PERMISSIONS


def test_loopline_itself_stores_derived_data_only(staff: Workspace) -> None:
    from core.actor import SYSTEM

    with staff.store.read() as tx:
        check_action(tx, SYSTEM, "monitor.reference", project="tickets", target=None)
        with pytest.raises(Forbidden, match="loopline .no role here. may not promote"):
            check_action(tx, SYSTEM, "promote", project="tickets", target=None)
    posing = Actor("loopline", "cli", os_user="someone", chosen=True)  # LOOPLINE_USER=loopline
    with pytest.raises(Forbidden):
        authorize(staff, posing, "monitor.record", "tickets")


def test_the_docs_show_the_matrix_of_the_code() -> None:
    from core.accounts.roles import actions_markdown, matrix_markdown

    text = (ROOT / "docs" / "accounts.md").read_text(encoding="utf-8")
    assert f"<!-- matrix:start -->\n{matrix_markdown()}\n<!-- matrix:end -->" in text
    assert f"<!-- actions:start -->\n{actions_markdown()}\n<!-- actions:end -->" in text


def test_registering_an_artifact_is_checked_for_each_project(staff: Workspace) -> None:
    from core.artifacts.models import NewArtifact
    from core.artifacts.service import register_many

    before = count(staff, "artifacts"), count(staff, "audit_log")
    batch = [
        NewArtifact("report", "r1", project="tickets", files={"a": b"1"}),
        NewArtifact("report", "r2", project="elsewhere", files={"a": b"2"}),
    ]
    with pytest.raises(Forbidden, match=r"^annotator \(annotator\) may not register artifacts"):
        register_many(staff, batch, user_of("annotator"))
    with pytest.raises(
        Forbidden, match=r"^limited \(no role here\) may not register artifacts in elsewhere"
    ):
        register_many(staff, batch, Actor("limited", "cli"))  # allowed in tickets only
    assert (count(staff, "artifacts"), count(staff, "audit_log")) == before
    register_many(staff, batch, Actor("reviewer", "cli"))
    with staff.store.read() as tx:
        rows = tx.rows(
            "SELECT actor, via, project, target FROM audit_log WHERE action = 'register' "
            "ORDER BY audit_id DESC LIMIT 2"
        )
    assert sorted(rows) == [
        ("reviewer", "cli", "elsewhere", "report:r2@1"),
        ("reviewer", "cli", "tickets", "report:r1@1"),
    ]
