"""Test-only tools (Label Studio's converter, MLflow, StrictDoc and the reqif library) in venvs of
their own, built on first use: their pins conflict with ours, and CI starts from a clean checkout."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path


def tool_python(venv: Path, requirements: Path, timeout: float = 1200) -> Path:
    """The Python of ``venv``, built once from ``requirements`` and rebuilt when they change (a
    stamp holds their SHA-256), under a lock: parallel test workers build it once. A venv that
    cannot be built fails the test with pip's last lines (a tool test never skips silently)."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements.sha256"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        base = getattr(sys, "_base_executable", sys.executable)
        for command in (
            [base, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        ):
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            assert done.returncode == 0, f"{venv.name} could not be built ({command[2]}): {tail}"
        stamp.write_text(wanted)
    return python
