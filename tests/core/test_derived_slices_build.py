"""Slices by quarter and numeric bins reach a build's per-slice metrics and monitoring's SQL
(needs core/ml/labeled.py and core/monitoring/figures.py to use core.projects.slicing)."""

from __future__ import annotations

from pathlib import Path

import yaml

from core.actor import Actor
from core.api import Client
from tests.core.test_project_draft import cases_csv


def test_a_build_reports_quarter_and_bin_slices(tmp_path: Path) -> None:
    data, labels = cases_csv(tmp_path)
    client = Client(tmp_path / "ws", Actor("admin", "test"))
    client.init()
    draft = yaml.safe_load(
        client.data.draft(data, labels_path=labels, label_column="diagnosis").text
    )
    draft["slices"] += [
        {"name": "quarter", "column": "admitted_at", "derive": "quarter"},
        {"name": "age band", "column": "age", "bins": [40, 60]},
    ]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(draft), encoding="utf-8")
    client.projects.create(tmp_path / "p.yaml")
    client.data.ingest("admissions", data)
    table = client.data.map_label_columns(labels, item_col="case_id", label_col="diagnosis")
    imported = client.labeling.import_labels("admissions", table, "labels.csv")
    client.labeling.freeze("admissions", [imported.task_id])
    build = client.builds.run("admissions")
    assert build.status == "successful"
    slices = set(client.runs.get(build.run_id).slice_metrics)  # type: ignore[arg-type]
    assert {"quarter = 2026-Q1", "age band = < 40", "age band = 40–60"} <= slices
