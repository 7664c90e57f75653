"""`loopline build` ends every build: killed, refused, or unable to write, with exit 2 = aborted.

A build that is killed or cannot write runs in a process of its own (the kill and the read-only
mount need one); the other commands run in this process (``here``: the same stdout, stderr and
exit code, without a new interpreter importing core and pandas for each)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.remote.conftest import run_cli_here

LOOPLINE = [sys.executable, "-m", "core.cli"]
LENIENT = "checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`loopline ARGS` as a process of its own (tests/cli/test_behave_cli.py uses it too)."""
    return subprocess.run(
        [*LOOPLINE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


def here(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`loopline ARGS` run in this process, with this environment and ``env``."""
    return run_cli_here(args, env={**os.environ, **env})


def build_rows(ws: Path, project: str) -> dict[int, str]:
    """`loopline builds PROJECT` as {build id: status}."""
    return rows_of(listed(ws, project))


def listed(ws: Path, project: str) -> str:
    """What `loopline builds PROJECT` prints."""
    listing = here("-w", str(ws), "builds", project)
    assert listing.returncode == 0, listing.stderr
    return listing.stdout


def rows_of(listing: str) -> dict[int, str]:
    """A `loopline builds` listing as {build id: status}."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^#(\d+)\s+(\w+)", listing, flags=re.MULTILINE)
    }


def test_a_killed_build_shows_as_aborted_to_the_next_command(
    demo_copy: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text(LENIENT)
    before = build_rows(demo_copy, "hw-triage")
    args = ["-w", str(demo_copy), "build", "hw-triage", "--gate", str(gate)]
    build = subprocess.Popen(
        [*LOOPLINE, *args, "--param", "n_estimators=60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert build.stderr is not None
    seen = []
    for line in build.stderr:  # the progress lines: the build row exists once training started
        seen.append(line)
        if "reading the label set" in line:
            break
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=30)
    assert build.returncode == -signal.SIGKILL, "".join(seen)
    listing = listed(demo_copy, "hw-triage")  # the next command
    after = rows_of(listing)
    (killed,) = set(after) - set(before)
    assert after[killed] == "aborted"
    assert "the build process ended without closing the build (killed?)" in listing
    assert "running" not in listing


def test_a_data_scientists_build_promote_is_refused_up_front(demo_copy: Path) -> None:
    before = build_rows(demo_copy, "hw-triage")
    done = here("-w", str(demo_copy), "build", "hw-triage", "--promote", LOOPLINE_USER="ds")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error: ds (data_scientist) may not promote or roll back models in hw-triage; "
        "a release_manager role is needed."
    )
    assert "Traceback" not in done.stderr and "build:" not in done.stderr  # no training
    assert build_rows(demo_copy, "hw-triage") == before


def test_a_build_identical_to_production_does_not_say_registered(demo_copy: Path) -> None:
    done = here("-w", str(demo_copy), "build", "hw-triage")  # the demo's inputs: same model
    assert done.returncode == 0, done.stderr
    assert "registered model" not in done.stdout
    assert "  the model is identical to production (hw-triage v" in done.stdout


def test_a_read_only_objects_folder_aborts_the_build_with_a_clear_message(
    demo_copy: Path, tmp_path: Path
) -> None:
    """objects/ mounted read-only (a private mount namespace: root's writes really fail)."""
    gate = tmp_path / "gate.yaml"
    gate.write_text(LENIENT)
    objects = shlex.quote(str(demo_copy / "objects"))
    command = " ".join(
        shlex.quote(a)
        for a in [*LOOPLINE, "-w", str(demo_copy), "build", "hw-triage", "--gate", str(gate)]
    )
    before = build_rows(demo_copy, "hw-triage")
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount --bind {objects} {objects} && mount -o remount,ro,bind {objects} && "
            f"exec {command} --param n_estimators=5",  # a small model: the write is what fails
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert re.fullmatch(
        r"Build #\d+ ABORTED: the workspace folder is not writable: "
        + re.escape(str(demo_copy / "objects"))
        + r"/[0-9a-f]{2}: Read-only file system",
        first,
    ), first
    assert f"hint: check that {demo_copy / 'objects'} is a folder this user may write to" in (
        done.stdout
    )
    after = build_rows(demo_copy, "hw-triage")
    (aborted,) = set(after) - set(before)
    assert after[aborted] == "aborted"
