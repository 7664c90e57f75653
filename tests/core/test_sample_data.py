"""The committed sample data is exactly what the seeded generators make."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from core.demo import demo_plans
from core.projects.service import load_spec_file
from tests.conftest import ROOT


def test_generators_reproduce_the_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for case in ("ooo-replies", "hw-triage"):
        for name in ("history.csv", "later.csv", "truth.csv"):
            committed = ROOT / "sample_data" / case / "data" / name
            assert filecmp.cmp(tmp_path / case / "data" / name, committed, shallow=False), committed


def test_both_sample_projects_are_plain_project_files() -> None:
    plans = demo_plans()
    assert sorted(p.folder.name for p in plans) == ["hw-triage", "ooo-replies"]
    kinds = {load_spec_file(p.project_file)[0].kind for p in plans}
    assert kinds == {"text_classification", "tabular_classification"}
    assert (
        sum(f.stat().st_size for f in (ROOT / "sample_data").rglob("*") if f.is_file()) < 20 << 20
    )
