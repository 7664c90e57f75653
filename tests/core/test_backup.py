"""`loopline backup` / `restore`: a consistent copy of a workspace taken while another process
writes to it, verified, and put back; refusals write nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.api import Actor, Client, InvalidInput
from core.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ME = Actor("tester", "cli")

WRITER = """
import sys, time
from pathlib import Path
from core.api import Actor, Client
client = Client(sys.argv[1], Actor("writer", "cli"))
folder = Path(sys.argv[2]); base = (folder / "base.csv").read_text()
for i in range(10_000):
    path = folder / f"tickets-{i}.csv"
    path.write_text(base + f"W-{i},2026-03-02T10:00:00Z,mail,Invoice number {i} is wrong,1,1.0,false\\n")
    client.data.ingest("tickets", path)
    (folder / "done").write_text(str(i + 1))
    if (folder / "stop").exists():
        break
"""


def _workspace(root: Path) -> Client:
    client = Client(root, ME)
    client.init()
    client.projects.create(FIXTURES / "tickets.yaml")
    client.data.ingest("tickets", FIXTURES / "tickets.csv")
    return client


def _datasets(client: Client) -> int:
    return len(client.artifacts.list(project="tickets", kind="dataset"))


def test_a_backup_taken_while_another_process_writes_is_whole_and_verifies(
    tmp_path: Path,
) -> None:
    client = _workspace(tmp_path / "ws")
    work = tmp_path / "writer"
    work.mkdir()
    (work / "base.csv").write_text((FIXTURES / "tickets.csv").read_text())
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(client.location), str(work)], cwd=ROOT
    )
    try:
        _wait_for(lambda: int((work / "done").read_text() or 0) >= 2, writer)
        report = client.backup(tmp_path / "backup")
        written_before = int((work / "done").read_text())
        _wait_for(lambda: int((work / "done").read_text()) >= written_before + 2, writer)
    finally:
        (work / "stop").write_text("")
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert report.verified.ok, report.verified.problems
    copy = Client(report.backup.path, ME)
    in_copy, now = _datasets(copy), _datasets(client)
    assert 3 <= in_copy < now  # the copy is the store as of one moment, the writer went on
    assert copy.artifacts.verify().ok and client.artifacts.verify().ok
    manifest = json.loads((report.backup.path / "backup.json").read_text())
    assert manifest["objects"] == report.backup.objects >= in_copy
    assert not list(tmp_path.glob(".backup.partial-*"))


def test_restore_puts_the_backup_back_and_keeps_what_it_replaced(tmp_path: Path) -> None:
    client = _workspace(tmp_path / "ws")
    client.backup(tmp_path / "backup")
    changed = tmp_path / "more.csv"
    changed.write_text(
        (FIXTURES / "tickets.csv").read_text() + "T-9,2026-03-03T10:00:00Z,chat,Hi,1,2.0,true\n"
    )
    client.data.ingest("tickets", changed)
    assert _datasets(client) == 2

    with pytest.raises(InvalidInput, match="already holds a workspace"):
        client.restore(tmp_path / "backup")
    report = client.restore(tmp_path / "backup", replace=True)

    assert report.verified.ok
    assert _datasets(Client(tmp_path / "ws", ME)) == 1
    aside = report.restored.moved_aside
    assert aside is not None and _datasets(Client(aside, ME)) == 2


def test_refusals_name_the_problem_and_write_nothing(tmp_path: Path) -> None:
    client = _workspace(tmp_path / "ws")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("mine")
    with pytest.raises(InvalidInput, match="already exists"):
        client.backup(tmp_path / "taken")
    with pytest.raises(InvalidInput, match="inside the workspace"):
        client.backup(tmp_path / "ws" / "copy")
    assert (tmp_path / "taken" / "x").read_text() == "mine"
    assert not (tmp_path / "ws" / "copy").exists()
    with pytest.raises(InvalidInput, match="is not a Loopline backup"):
        Client(tmp_path / "other", ME).restore(tmp_path / "taken")
    assert not (tmp_path / "other").exists()


def test_a_backup_whose_database_changed_is_refused(tmp_path: Path) -> None:
    client = _workspace(tmp_path / "ws")
    report = client.backup(tmp_path / "backup")
    with (report.backup.path / "loopline.duckdb").open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"\xff\xfe")
    with pytest.raises(InvalidInput, match="changed since the backup was taken"):
        Client(tmp_path / "restored", ME).restore(report.backup.path)
    assert not (tmp_path / "restored").exists()


def test_backup_and_restore_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = _workspace(tmp_path / "ws").location
    assert main(["--workspace", str(ws), "backup", str(tmp_path / "b"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["verified"]["problems"] == [] and shown["backup"]["objects"] >= 1
    assert main(["--workspace", str(tmp_path / "new"), "restore", str(tmp_path / "b")]) == 0
    assert "verify: ok" in capsys.readouterr().out
    assert main(["--server", "http://127.0.0.1:9", "backup", str(tmp_path / "c")]) == 2
    assert "works only on the workspace's machine" in capsys.readouterr().err


def _wait_for(condition: object, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except (FileNotFoundError, ValueError):
            pass
        if process.poll() is not None:
            raise AssertionError(f"the writer stopped ({process.returncode})")
        time.sleep(0.05)
    raise AssertionError("timed out")
