"""A tabular model's serving form (serving.json): a fresh serving host predicts with it using
NumPy alone, and its probabilities are the row predictor's bit for bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from core.actor import Actor
from core.api.serialise import serialise
from core.ml.form import ROLE, FormPredictor, serving_form
from core.ml.model import Model, train_model
from core.projects.spec import ProjectSpec
from core.serving.host import needed, served_from
from core.serving.hosts import production_model
from core.serving.service import ALIAS, WorkspaceSource
from core.store import Workspace, utcnow
from tests.conftest import ROOT
from tests.core.test_serving_lean import awkward, run_model, sample


def same(model: Model, spec: ProjectSpec, rows: pd.DataFrame) -> None:
    """The form's probabilities equal the row predictor's exactly, together and one by one."""
    form = FormPredictor(json.loads(model.files()[ROLE]))
    lean = model.row_predictor(spec)
    records = rows.to_dict("records")
    assert np.array_equal(form.predict_proba(records), lean.predict_proba(records))
    for record in records[:60]:
        assert np.array_equal(form.predict_proba([record]), lean.predict_proba([record]))


def test_production_xgboost_model_is_bit_identical(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "hw-triage")
    model = run_model(ws, "hw-triage")
    assert model.manifest["trainer"] == "xgb"
    same(model, spec, pd.concat([rows, awkward(rows, spec)], ignore_index=True))


def test_logistic_regression_is_bit_identical(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "hw-triage")
    truth = pd.read_csv(ROOT / "sample_data" / "hw-triage" / "data" / "truth.csv", dtype=str)
    labeled = rows.merge(truth[[spec.id_column, "label"]], on=spec.id_column)
    model = train_model(
        spec, labeled, labeled["label"], [[] for _ in range(len(labeled))], trainer="lr"
    )
    same(model, spec, pd.concat([rows, awkward(rows, spec)], ignore_index=True))


def test_text_models_have_no_form(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    model = run_model(ws, "ooo-replies")
    assert serving_form(model) is None
    assert ROLE not in model.files()


def test_a_host_fetches_the_form_and_the_manifest_only() -> None:
    roles = ["booster.ubj", "evaluation.json", "model.json", "preprocess.skops", ROLE]
    assert [f["role"] for f in needed([{"role": r} for r in roles])] == ["model.json", ROLE]
    older = ["booster.ubj", "evaluation.json", "model.json", "preprocess.skops"]
    assert [f["role"] for f in needed([{"role": r} for r in older])] == [
        "booster.ubj",
        "model.json",
        "preprocess.skops",
    ]


def test_predicting_from_the_form_needs_no_ml_library(tmp_path: Path) -> None:
    """In a fresh process: the form module loads no scikit-learn, skops, XGBoost or SciPy."""
    import subprocess

    code = (
        "import sys; import core.ml.form; "
        "print([m for m in ('sklearn', 'skops', 'xgboost', 'scipy') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_an_unknown_format_is_refused() -> None:
    try:
        FormPredictor({"format": "other/9"})
    except ValueError as error:
        assert str(error) == "not a serving form of format loopline-serving/1"
    else:
        raise AssertionError("an unknown form was accepted")


def test_a_host_serves_the_form_as_the_workspace_serves_the_model(demo_workspace: Path) -> None:
    """``served_from`` (what a serving host loads from the server's answer and the files it
    pulled) with the serving form predicts what the workspace's own service predicts."""
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "hw-triage")
    source = WorkspaceSource(ws)
    found = source.find("hw-triage", ALIAS)
    assert found is not None
    local = source.load("hw-triage", found)
    answer = production_model(ws, "hw-triage", Actor("admin", "cli"))
    info = json.loads(json.dumps(serialise(answer)))  # as it crosses the wire
    assert isinstance(local.model, Model)
    files = local.model.files()
    host = served_from(info, {r: files[r] for r in ("model.json", ROLE)}, utcnow())
    assert isinstance(host.predictor, FormPredictor)
    assert host.describe()["trainer"] == "xgb"
    records = pd.concat([rows, awkward(rows, spec)], ignore_index=True).to_dict("records")
    assert host.predictor.classes == local.predictor.classes
    assert np.array_equal(
        host.predictor.predict_proba(records), local.predictor.predict_proba(records)
    )
    assert host.predictor.extract(records[:3]) == [[], [], []]


def test_a_two_class_booster_has_no_form() -> None:
    """binary:logistic keeps its base score as a probability: such a model loads the usual way."""
    import xgboost as xgb

    from core.ml.form import _trees

    rng = np.random.default_rng(5)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1, random_state=0)
    assert _trees(model.fit(features, labels).get_booster()) is None
