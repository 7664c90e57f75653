"""`loopline requirements …`, `trace`, `model-card`, `verify-system`, `impact` and `derive`."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli import main
from core.store import Workspace
from tests.core.test_requirements_support import TICKETS_YAML, logged_model

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws


def run(ws: Workspace, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-w", str(ws.root), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_list_show_edit_history_export(
    evidence_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = evidence_ws
    source = tmp_path / "tickets.yaml"
    source.write_text(TICKETS_YAML)
    code, out, _ = run(ws, capsys, "requirements", "import", str(source))
    assert (
        code == 0
        and out.strip() == "tickets: requirement set v1: 6 new, 0 changed, 0 removed, 0 unchanged"
    )
    code, out, _ = run(ws, capsys, "requirements", "list", "tickets")
    assert code == 0 and out.splitlines()[0].split() == [
        "id",
        "level",
        "title",
        "check",
        "evidence",
        "status",
        "value",
        "sample",
    ]
    line = next(row for row in out.splitlines() if row.startswith("ML-2 "))
    assert line.split()[1] == "ml" and "accuracy on channel = mail ≥ 0.5" in line
    code, out, _ = run(ws, capsys, "requirements", "list", "tickets", "--status", "violated")
    assert code == 0 and out.startswith("No requirements match")
    code, out, _ = run(ws, capsys, "requirements", "show", "tickets", "ML-2")
    assert "check: accuracy on channel = mail ≥ 0.5; evidence: production" in out
    assert "    channel = mail: " in out and "model: #" in out
    code, out, _ = run(
        ws,
        capsys,
        "requirements",
        "edit",
        "tickets",
        "ML-2",
        "--set",
        "threshold=0.1",
        "--set",
        "min_n=5",  # the mail slice is small: judged from 5 items
        "--note",
        "looser",
    )
    assert code == 0 and "1 changed" in out
    code, out, _ = run(ws, capsys, "requirements", "history", "tickets", "ML-2", "--versions")
    assert "threshold" in out and "min_n" in out and "looser" in out
    code, out, _ = run(ws, capsys, "requirements", "history", "tickets", "ML-2")
    assert (
        "suspect" in out and "requirement set v2 (edit)" in out
    )  # passes, but measured before the edit
    for fmt in ("yaml", "csv", "reqif"):
        target = tmp_path / f"out.{fmt}"
        code, out, _ = run(
            ws, capsys, "requirements", "export", "--format", fmt, "--out", str(target)
        )
        assert code == 0 and out.strip() == f"Wrote {target}"
        code, out, _ = run(ws, capsys, "requirements", "import", str(target))
        assert code == 0 and "nothing changed (6 requirement(s) as they were)" in out
    code, out, _ = run(ws, capsys, "requirements", "delete", "tickets", "ML-3", "--note", "gone")
    assert code == 0 and "1 removed" in out
    code, out, _ = run(ws, capsys, "requirements", "recompute", "tickets")
    assert code == 0 and out.strip().endswith("0 changed")


def test_trace_card_impact_verify_derive(
    evidence_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = evidence_ws
    source = tmp_path / "tickets.yaml"
    source.write_text(TICKETS_YAML)
    run(ws, capsys, "requirements", "import", str(source))
    code, out, _ = run(ws, capsys, "trace", "tickets", "--format", "csv")
    assert code == 0 and out.startswith("system_id,system_title,system_parent,system_status,ml_id")
    report = tmp_path / "trace.html"
    code, out, _ = run(ws, capsys, "trace", "tickets", "--format", "html", "--out", str(report))
    html = report.read_text()
    assert code == 0 and "<h2>Matrix</h2>" in html and "ML-2 Mail accuracy" in html
    code, out, _ = run(ws, capsys, "trace", "tickets", "--format", "reqif")
    assert "Loopline.Status" in out and "<REQ-IF" in out
    code, out, _ = run(ws, capsys, "model-card", "tickets")
    assert out.startswith("# Model card: model:tickets@1") and "| ML-1 | Accuracy |" in out
    worse = logged_model(ws, {"accuracy": 0.1})
    code, out, _ = run(ws, capsys, "impact", "tickets", "--model", worse.ref)
    assert code == 1 and f"v{worse.version} would violate ML-1: 0.100 < 0.500 (now met)" in out
    code, out, _ = run(ws, capsys, "model-card", "tickets", "--version", str(worse.version))
    assert "Not in production" in out and "| ML-1 | Accuracy | accuracy ≥ 0.5 | violated |" in out
    code, out, _ = run(ws, capsys, "impact", "tickets", "--model", "model:tickets@1")
    assert (
        code == 0 and out.strip() == "With v1 in production, no requirement's status would change."
    )
    code, out, _ = run(ws, capsys, "verify-system", "tickets")
    assert code == 0 and out.startswith("Verification #1 of model:tickets@1 on ")
    code, out, _ = run(
        ws,
        capsys,
        "derive",
        "recall",
        "--volume",
        "1200",
        "--base-rate",
        "0.39",
        "--tolerated",
        "40",
        "--failure-share",
        "0.5",
        "--period",
        "month",
        "--metric",
        "recall.bug",
        "--create",
        "--project",
        "tickets",
        "--id",
        "ML-9",
        "--derived-from",
        "SYS-1",
    )
    assert code == 0 and "Recall = 1 − misses ÷ positives ≥ 1 − 80 ÷ 468 = 0.82906" in out
    assert out.strip().endswith("1 new, 0 changed, 0 removed, 0 unchanged")
    code, out, _ = run(ws, capsys, "requirements", "show", "tickets", "ML-9")
    assert "check: recall.bug ≥ 0.83" in out and "Rounded up to 3 decimals" in out


def test_errors_are_one_line_with_a_hint(
    evidence_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: tickets\nsystem:\n  - {id: SYS-1}\n")
    code, _, err = run(evidence_ws, capsys, "requirements", "import", str(bad))
    assert code == 2 and err.splitlines() == [
        "error: bad.yaml: system[0] (SYS-1).title: missing.",
        "hint: give every requirement a title",
    ]
    code, _, err = run(evidence_ws, capsys, "requirements", "show", "tickets", "ML-1")
    assert code == 2 and err.startswith("error: No requirement 'ML-1' in 'tickets'.")
    code, _, err = run(
        evidence_ws, capsys, "derive", "latency", "--budget-ms", "100", "--other-ms", "200"
    )
    assert code == 2 and "nothing is left for the model" in err


def test_import_a_requirements_tool_export_with_a_mapping(
    evidence_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DOORS-shaped export the `reqif` library writes (tests/tools), read through a mapping:
    the ML requirement has no Loopline check yet and says so; its typed attributes show."""
    from tests.core.test_reqif_tools import run_tool

    module = tmp_path / "module.reqif"
    run_tool("doors", str(module))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "project: tickets\nobject_types:\n  ML Requirement: ml\nrelations:\n  see also: ignore\n",
        encoding="utf-8",
    )
    code, out, _ = run(
        evidence_ws, capsys, "requirements", "import", str(module), "--mapping", str(mapping)
    )
    assert code == 0 and out.strip() == (
        "tickets: requirement set v1: 3 new, 0 changed, 0 removed, 0 unchanged"
    )
    code, out, _ = run(evidence_ws, capsys, "requirements", "show", "tickets", "MLR-201")
    assert code == 0
    assert "  check: no check yet; evidence: —" in out
    assert "  derived from: STK-101, STK-102" in out
    assert "  Error Budget (REAL): 0.25" in out and "  Due Date (DATE): 2026-05-01T00:00:00Z" in out
    assert "  Status (ENUMERATION): Approved" in out and "  Safety Relevant (BOOLEAN): true" in out
    code, out, _ = run(evidence_ws, capsys, "requirements", "list", "tickets", "--level", "ml")
    line = next(row for row in out.splitlines() if row.startswith("MLR-201 "))
    assert "no check yet" in line and "no evidence" in line
    code, out, _ = run(evidence_ws, capsys, "verify-system", "tickets")
    assert code == 0 and out.splitlines()[-1] == "no check yet (nothing to verify): MLR-201"
    mapping.write_text("object_types:\n  ML Requirement: model\n", encoding="utf-8")
    code, _, err = run(
        evidence_ws, capsys, "requirements", "import", str(module), "--mapping", str(mapping)
    )
    assert code == 2 and err.splitlines()[0] == (
        "error: map.yaml: object_types.ML Requirement: Unknown value 'model'. Expected one of: "
        "ml, section, system, text."
    )
