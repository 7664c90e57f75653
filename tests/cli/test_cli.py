"""The `loopline` command: help everywhere, exit codes, one-line errors, verify after tampering."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import build_parser, main
from tests.conftest import FIXTURES, ROOT

LOOPLINE = [sys.executable, "-m", "core.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOOPLINE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def commands() -> list[list[str]]:
    parser = build_parser()
    found: list[list[str]] = []

    def walk(p: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(parser, [])
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: loopline") and len(out.splitlines()) > 2


def test_help_starts_fast() -> None:
    started = time.monotonic()
    done = run("--help")
    assert done.returncode == 0 and "demo" in done.stdout
    modules = subprocess.run(
        [sys.executable, "-c", "import sys, core.cli; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not {"pandas", "duckdb", "sklearn", "xgboost", "streamlit"} & set(modules)
    assert time.monotonic() - started < 10  # generous: the import check above is the real guard


def test_workflow_and_exit_codes(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert run("-w", ws, "init").returncode == 0
    assert run("-w", ws, "project", "create", str(FIXTURES / "tickets.yaml")).returncode == 0
    done = run("-w", ws, "ingest", "tickets", str(FIXTURES / "tickets.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#4 dataset:tickets@1: 4 new rows, 4 in all")
    assert "ingest: 100% done" in done.stderr  # progress on stderr
    listing = run("-w", ws, "artifacts", "--kind", "dataset")
    assert listing.returncode == 0 and "dataset:tickets@1" in listing.stdout
    tree = run("-w", ws, "lineage", "dataset:tickets@1")
    assert tree.stdout.splitlines()[1:] == [
        "#4 dataset:tickets@1",
        "    defined_by → #1 project:tickets@1",
        "    extracted_by → #2 code:core.data.extract.extract_table@1",
        "    derived_from → #3 data_source:tickets.source@1",
    ]
    assert "#4 dataset:tickets@1" in run("-w", ws, "lineage", "--down", "3").stdout
    assert run("-w", ws, "reproduce", "4").stdout.startswith("dataset:tickets@1: identical")
    assert run("-w", ws, "verify").returncode == 0


def test_errors_are_one_clear_line_with_exit_2(tmp_path: Path) -> None:
    missing = run("-w", str(tmp_path / "none"), "artifacts")
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0] == f"error: No workspace at {tmp_path / 'none'}."
    assert "Traceback" not in missing.stderr
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    bad_kind = run("-w", ws, "artifacts", "--kind", "modle")
    assert bad_kind.returncode == 2 and bad_kind.stderr.startswith(
        "error: Unknown artifact kind 'modle'."
    )
    assert run("-w", ws, "lineage", "77").stderr.startswith(
        "error: No artifact '77' in this workspace."
    )
    usage = run("-w", ws, "ingest")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_refused_ingest_lists_problems(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(FIXTURES / "tickets.yaml"))
    bad = tmp_path / "bad.csv"
    bad.write_text("ticket_id,opened_at,channel,text\nT-1,2026-01-01,fax,hi\n")
    done = run("-w", ws, "ingest", "tickets", str(bad))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-2:] == [
        "error: bad.csv: refused, 1 problem; nothing was written.",
        "  row 2, channel: value 'fax' is not an allowed category (expected one of: mail, chat, phone)",
    ]


def test_demo_then_verify_detects_a_blob_changed_by_hand(demo_copy: Path) -> None:
    ws = demo_copy  # built by `loopline demo` (see tests/conftest.py)
    assert run("-w", str(ws), "demo").returncode == 2  # refuses to overwrite
    assert run("-w", str(ws), "demo", "--if-missing").returncode == 0
    assert run("-w", str(ws), "verify").returncode == 0
    blob = next(p for p in (ws / "objects").rglob("*") if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"\n")
    checked = run("-w", str(ws), "verify")
    assert checked.returncode == 1
    assert "content changed" in checked.stdout and checked.stdout.splitlines()[-1].startswith(
        "FAILED"
    )


@pytest.mark.parametrize("command", ["runs", "builds", "models", "tasks"])
def test_unknown_project_is_an_error_everywhere(tmp_path: Path, command: str) -> None:
    ws = str(tmp_path / "ws")
    run("-w", ws, "init")
    done = run("-w", ws, command, "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("error: No project 'nope' in this workspace.")


class _ClosedPipe:
    """stdout after the reader went away (`loopline artifacts | head -1`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd


def test_a_reader_that_stops_early_gets_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--workspace", str(tmp_path / "ws"), "init"]) == 0
    fd = os.open(tmp_path / "stdout", os.O_WRONLY | os.O_CREAT)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe(fd))
    assert main(["--workspace", str(tmp_path / "ws"), "projects"]) == 0


def test_verify_closes_a_build_whose_process_died(tmp_path: Path) -> None:
    """A build row left `running` by a killed process: verify names it by its number in its
    project (#1 of tickets, whose id is 2) and closes it as aborted."""
    from core.store import Workspace, utcnow

    ws = Workspace.init(tmp_path / "ws")
    with ws.store.transaction() as tx:
        for project, status in (("emails", "successful"), ("tickets", "running")):
            tx.execute(
                "INSERT INTO builds (build_id, number, project, status, reason, log, started_at, "
                "created_by) VALUES (nextval('build_ids'), 1, ?, ?, '', '', ?, 'ci')",
                [project, status, utcnow()],
            )
    done = run("-w", str(ws.root), "verify")
    assert done.returncode == 0, done.stderr
    assert (
        "warning: build #1 of tickets: was running with no live process: the build process "
        "ended without closing the build (killed?); closed as aborted" in done.stdout
    )
    with ws.store.read() as tx:
        assert tx.one("SELECT status, reason FROM builds WHERE build_id = 2") == (
            "aborted",
            "the build process ended without closing the build (killed?)",
        )
    again = run("-w", str(ws.root), "verify")
    assert "build #1" not in again.stdout
