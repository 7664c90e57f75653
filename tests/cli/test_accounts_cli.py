"""`loopline users`, `loopline tokens`, `loopline audit`: bootstrap, identity, refusals, exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from core.cli import main

PASSWORD = "correct horse battery"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace; the OS login is 'ops' and no identity variables are set."""
    monkeypatch.setattr("core.actor.os_login", lambda: "ops")
    monkeypatch.delenv("LOOPLINE_TOKEN", raising=False)
    monkeypatch.delenv("LOOPLINE_USER", raising=False)
    path = tmp_path / "ws"
    assert main(["-w", str(path), "init"]) == 0
    return path


def run(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-w", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def with_password(monkeypatch: pytest.MonkeyPatch, password: str = PASSWORD) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))


def test_the_first_admin_maps_the_os_login(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(cli, capsys, "users", "list")
    assert code == 0 and out.startswith("notice: this workspace has no accounts yet")
    code, _, err = run(cli, capsys, "users", "add", "bob", "--role", "annotator")
    assert code == 2 and "The first user of a workspace must be an admin" in err
    with_password(monkeypatch)
    code, out, _ = run(cli, capsys, "users", "add", "olga", "--role", "admin", "--password-stdin")
    assert code == 0
    assert (
        "Access control is on: every change is now checked. The OS user 'ops' acts as olga" in out
    )
    code, out, _ = run(cli, capsys, "users", "add", "bob", "--role", "annotator", "--project", "x")
    assert code == 2  # no project x
    code, out, _ = run(cli, capsys, "users", "add", "bob", "--role", "annotator")
    assert code == 0 and "Temporary password for bob (shown once): " in out
    code, out, _ = run(cli, capsys, "users", "whoami")
    assert out.strip() == "olga (admin) via OS user ops"
    code, out, _ = run(cli, capsys, "users", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["user", "bob", "olga"]


def test_refusals_name_the_role_and_the_fix(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, capsys, "users", "add", "olga", "--role", "admin", "--no-password")
    run(cli, capsys, "users", "add", "bob", "--role", "annotator", "--os-user", "bob")
    monkeypatch.setattr("core.actor.os_login", lambda: "bob")
    code, _, err = run(cli, capsys, "users", "grant", "bob", "admin")
    assert code == 2
    assert err.splitlines() == [
        "error: bob (annotator) may not manage users, roles and tokens; an admin role is needed.",
        "hint: ask an admin: `loopline users grant bob admin`",
    ]
    monkeypatch.setattr("core.actor.os_login", lambda: "stranger")
    code, _, err = run(cli, capsys, "users", "whoami")
    assert code == 2 and "The OS user 'stranger' is not mapped" in err


def test_tokens_for_ci(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, capsys, "users", "add", "olga", "--role", "admin", "--no-password")
    run(cli, capsys, "users", "add", "ci", "--role", "data_scientist", "--no-password")
    code, out, err = run(cli, capsys, "tokens", "create", "ci", "--label", "GitHub Actions")
    token = out.strip()
    assert code == 0 and token.startswith("llt.ci.") and "shown once" in err
    monkeypatch.setenv("LOOPLINE_TOKEN", token)
    monkeypatch.setattr("core.actor.os_login", lambda: "runner")  # CI's login maps to nobody
    code, out, _ = run(cli, capsys, "users", "whoami")
    assert out.strip() == "ci (data_scientist) via API token"
    code, _, err = run(cli, capsys, "users", "add", "eve", "--role", "admin", "--no-password")
    assert code == 2 and "ci (data_scientist) may not manage users" in err
    monkeypatch.delenv("LOOPLINE_TOKEN")
    monkeypatch.setattr("core.actor.os_login", lambda: "ops")
    code, out, _ = run(cli, capsys, "tokens", "list")
    assert "GitHub Actions" in out and token not in out
    assert run(cli, capsys, "tokens", "revoke", "1")[0] == 0
    monkeypatch.setenv("LOOPLINE_TOKEN", token)
    code, _, err = run(cli, capsys, "users", "whoami")
    assert code == 2 and "was revoked on" in err


def test_an_admin_acts_as_someone_else(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, capsys, "users", "add", "olga", "--role", "admin", "--no-password")
    run(cli, capsys, "users", "add", "dan", "--role", "data_scientist", "--no-password")
    monkeypatch.setenv("LOOPLINE_USER", "dan")
    _, out, _ = run(cli, capsys, "users", "whoami")
    assert out.strip() == "dan (data_scientist) via OS user ops acting through LOOPLINE_USER"


def test_disable_reset_assign_and_roles(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, capsys, "users", "add", "olga", "--role", "admin", "--no-password")
    run(cli, capsys, "users", "add", "bob", "--role", "annotator", "--no-password")
    assert "disabled" in run(cli, capsys, "users", "disable", "bob")[1]
    assert "enabled" in run(cli, capsys, "users", "enable", "bob")[1]
    code, out, _ = run(cli, capsys, "users", "reset-password", "bob")
    assert code == 0 and out.startswith("Temporary password for bob (shown once): ")
    with_password(monkeypatch, "short")
    code, _, err = run(cli, capsys, "users", "reset-password", "bob", "--password-stdin")
    assert code == 2 and "at least 10 characters" in err
    assert "reviewer" in run(cli, capsys, "users", "grant", "bob", "reviewer")[1]
    code, _, err = run(cli, capsys, "users", "assign", "bob", "--task", "7")
    assert code == 2 and "No task #7" in err
    code, out, _ = run(cli, capsys, "users", "roles", "--actions")
    assert "| `label` | label items |" in out and "| `annotate` | `label` |" in out


def test_audit_lists_and_exports_safely(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run(cli, capsys, "users", "add", "olga", "--role", "admin", "--no-password")
    run(cli, capsys, "users", "add", "=cmd", "--role", "admin", "--no-password")  # refused name
    run(
        cli,
        capsys,
        "users",
        "add",
        "bob",
        "--role",
        "annotator",
        "--display-name",
        "=HYPERLINK(1)",
        "--no-password",
    )
    code, out, _ = run(cli, capsys, "audit", "--action", "users.")
    assert code == 0 and out.splitlines()[0].split() == [
        "id",
        "at",
        "(UTC)",
        "actor",
        "via",
        "action",
        "project",
        "target",
    ]
    assert len(out.splitlines()) == 3
    target = tmp_path / "audit.csv"
    code, out, _ = run(cli, capsys, "audit", "--csv", str(target))
    assert code == 0 and out.strip() == f"Wrote {target} (2 entries)."
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"), newline="")))
    bob = next(r for r in rows if r["target"] == "bob")
    assert bob["actor"] == "olga" and bob["via"] == "cli"
    code, _, err = run(cli, capsys, "audit", "--since", "yesterday")
    assert code == 2 and "'yesterday' is not a date or time" in err
    monkeypatch.setattr("core.actor.os_login", lambda: "nobody")
    code, _, err = run(cli, capsys, "audit")
    assert code == 2 and "The OS user 'nobody' is not mapped" in err
