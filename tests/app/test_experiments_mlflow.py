"""Experiments page: runs imported from MLflow (written by MLflow itself, see
tests/core/test_mlflow_import.py) are listed with their params and metrics, and comparing them
draws their metric history step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.api import Actor, Client
from tests.app.conftest import MAIN, sign_in
from tests.core.test_mlflow_import import PROJECT_YAML, mlflow_store, uri

__all__ = ["mlflow_store"]  # the session's fixture: MLflow writes the store once per run


def test_imported_runs_show_with_their_history(
    mlflow_store: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = mlflow_store
    client = Client(tmp_path / "ws", Actor("tester", "test"))
    client.init()
    (tmp_path / "triage.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    client.projects.create(tmp_path / "triage.yaml")
    done = client.data.import_mlflow(uri(folder), "triage", "triage")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(tmp_path / "ws"))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=60), "tester")
    at.switch_page("views/experiments.py").run()
    assert not at.exception
    runs = at.dataframe[0].value
    assert sorted(runs["name"]) == ["broken", "logreg-1", "logreg-2", "xgb"]
    assert set(runs["status"]) == {"finished", "failed"}
    assert "params.C" in runs.columns
    # each registered version (as the API lists it) finds the run it came from on the page
    versions = {
        a.metadata["mlflow"]["key"]: client.runs.get(a.metadata["run_id"]).name
        for a in client.artifacts.list(kind="model", project="triage")
    }
    assert versions["triage-xgb/1"] == "xgb" and versions["triage-sklearn/1"] == "logreg-1"
    assert len(versions) == 3
    for key, run_name in versions.items():
        at.text_input(key="experiments.filter").input(
            f"tags.mlflow.registered_models = '{key}'"
        ).run()
        assert not at.exception and at.dataframe[0].value["name"].tolist() == [run_name]
    at.text_input(key="experiments.filter").input("").run()
    logreg = sorted(done.run_ids[r] for r in done.run_ids)[:2]
    at.multiselect(key="experiments.compare.triage").set_value(logreg).run()
    assert not at.exception
    history = next(c for c in at.get("plotly_chart") if c.proto.id and "history" in c.proto.id)
    assert "loss" in history.proto.spec
