"""`loopline project draft`, `loopline export` and `loopline import mlflow` on the command line:
a CSV and a separate labels file to a project without writing YAML, the dataset back out, and the
one-line refusals (the MLflow import itself is tested against MLflow in
tests/core/test_mlflow_import.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from core.cli import main
from tests.core.test_project_draft import cases_csv


def loopline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_draft_create_ingest_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = str(tmp_path / "ws")
    data, labels = cases_csv(tmp_path, count=30)
    draft = tmp_path / "admissions.yaml"
    assert loopline(capsys, "-w", ws, "init")[0] == 0
    code, out, err = loopline(
        capsys, "-w", ws, "project", "draft", str(data), "--labels", str(labels), "--label",
        "diagnosis", "--out", str(draft),
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        f"Wrote {draft}",
        f"Review it, then: loopline project create {draft}",
    ]
    assert yaml.safe_load(draft.read_text())["labels"] == {
        "classes": ["cardiac", "other", "respiratory"]
    }
    printed = loopline(capsys, "-w", ws, "project", "draft", str(data), "--classes", "a,b")
    assert printed[0] == 0 and printed[1].startswith("# Drafted by `loopline project draft`")
    assert loopline(capsys, "-w", ws, "project", "create", str(draft))[0] == 0
    assert loopline(capsys, "-w", ws, "ingest", "admissions", str(data))[0] == 0
    out_csv = tmp_path / "out" / "admissions.csv"
    code, out, err = loopline(
        capsys, "-w", ws, "export", "dataset:admissions", "--out", str(out_csv)
    )
    assert code == 0, err
    assert out.startswith(f"Wrote {out_csv} (")
    back = pd.read_csv(out_csv, encoding="utf-8-sig", dtype=str)
    assert back["case_id"].tolist() == [f"C-{1000 + i}" for i in range(30)]
    assert back.columns.tolist() == [
        "case_id", "admitted_at", "ward", "age", "temperature", "smoker", "note"
    ]  # fmt: skip
    parquet = tmp_path / "v1.parquet"
    code, _, err = loopline(
        capsys, "-w", ws, "export", "dataset:admissions@1", "--format", "parquet", "--out",
        str(parquet),
    )  # fmt: skip
    assert code == 0, err
    assert len(pd.read_parquet(io.BytesIO(parquet.read_bytes()))) == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["project", "draft", "{tmp}/missing.csv", "--classes", "a,b"],
            "error: No file at {tmp}/missing.csv.\n"
            "hint: pass the path of a CSV, Parquet or JSONL file\n",
        ),
        (
            ["project", "draft", "{tmp}/admissions.csv", "--id", "ward"],
            "error: admissions.csv: column 'ward' cannot be the id: its values repeat or are "
            "empty.\nhint: name a column with one distinct value per row\n",
        ),
        (
            ["export", "dataset:nothing"],
            "error: No artifact 'dataset:nothing' in this workspace.\n",
        ),
        (
            ["import", "mlflow", "--tracking-uri", "http://mlflow:5000", "--experiment", "e",
             "--project", "nope"],
            "error: No project 'nope' in this workspace.",
        ),
    ],
)  # fmt: skip
def test_refusals_are_one_line_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    ws = str(tmp_path / "ws")
    cases_csv(tmp_path, count=10)
    assert loopline(capsys, "-w", ws, "init")[0] == 0
    code, out, err = loopline(capsys, "-w", ws, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert code == 2 and out == ""
    assert err.startswith(message.replace("{tmp}", str(tmp_path)))


def test_import_mlflow_refuses_a_server_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    assert loopline(capsys, "-w", ws, "init")[0] == 0
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: triage\nkind: tabular_classification\ndata:\n  id: id\n  columns:\n"
        "    - {name: id, type: string}\n    - {name: a, type: number}\n  features: [a]\n"
        "labels: {classes: [x, y]}\n"
    )
    assert loopline(capsys, "-w", ws, "project", "create", str(spec))[0] == 0
    code, _, err = loopline(
        capsys, "-w", ws, "import", "mlflow", "--tracking-uri", "http://mlflow:5000",
        "--experiment", "e", "--project", "triage",
    )  # fmt: skip
    assert code == 2
    assert err == (
        "error: Tracking URI 'http://mlflow:5000': only MLflow's SQLite store (sqlite:///PATH) "
        "can be imported.\nhint: point --tracking-uri at the mlflow.db that `mlflow server "
        "--backend-store-uri sqlite:///…` writes (a copy of it is fine)\n"
    )


def test_labels_import_takes_the_files_own_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`labels import --item-col/--label-col/--annotator` (a labels file shaped case_id,diagnosis)."""
    ws = str(tmp_path / "ws")
    data, labels = cases_csv(tmp_path, count=12)
    spec = tmp_path / "p.yaml"
    assert loopline(capsys, "-w", ws, "init")[0] == 0
    draft = ["project", "draft", str(data), "--labels", str(labels), "--label", "diagnosis"]
    assert loopline(capsys, "-w", ws, *draft, "--out", str(spec))[0] == 0
    assert loopline(capsys, "-w", ws, "project", "create", str(spec))[0] == 0
    assert loopline(capsys, "-w", ws, "ingest", "admissions", str(data))[0] == 0
    mapped = ["--item-col", "case_id", "--label-col", "diagnosis", "--annotator", "records"]
    code, out, err = loopline(
        capsys, "-w", ws, "labels", "import", "admissions", str(labels), *mapped
    )
    assert code == 0, err
    assert out.strip() == "Imported 12 annotations on 12 items by 1 annotator(s) into task #1"
    half = ["--item-col", "case_id"]
    code, out, err = loopline(
        capsys, "-w", ws, "labels", "import", "admissions", str(labels), *half
    )
    assert code == 2 and err == (
        "error: --item-col and --label-col go together.\n"
        "hint: name both, e.g. --item-col case_id --label-col diagnosis\n"
    )
