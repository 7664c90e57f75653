"""Importing ``core`` makes OpenMP threads sleep while they wait, unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SHOW = "import core, os; print(os.environ.get('OMP_WAIT_POLICY'))"


def policy(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_openmp_threads_wait_passively_by_default() -> None:
    assert policy() == "PASSIVE"


def test_a_policy_the_user_set_is_kept() -> None:
    assert policy(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
