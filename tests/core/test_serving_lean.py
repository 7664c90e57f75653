"""The lean prediction path (Model.row_predictor) gives the probabilities of the DataFrame path,
for every built-in trainer: the demo's production models and small models trained here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.service import latest_dataset, load_rows
from core.experiments.search import search_runs
from core.experiments.service import get_run
from core.ml.model import Model, train_model
from core.ml.row import FOREST_ROWS
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.store import Workspace
from tests.conftest import ROOT

ROWS = 300


def run_model(ws: Workspace, project: str) -> Model:
    """The model of the project's first finished run (the demo's build 1), from its files."""
    frame = search_runs(ws, project, "", ["run_id"], limit=10).frame
    run = get_run(ws, int(frame[frame["status"] == "finished"]["run_id"].min()))
    return Model.from_files({role: ws.blobs.read_bytes(d) for role, d in run.files.items()})


def sample(ws: Workspace, project: str) -> tuple[ProjectSpec, pd.DataFrame]:
    spec = get_project(ws, project).spec
    rows = load_rows(ws, latest_dataset(ws, project))  # type: ignore[arg-type]
    return spec, rows.sample(ROWS, random_state=3).reset_index(drop=True)


def awkward(rows: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """Rows with zeros, missing values and category values the model never saw."""
    out = rows.head(40).copy()
    for index, name in enumerate(spec.inputs):
        column = spec.column(name)
        if column.type in ("integer", "number"):
            out.loc[index % 40, name] = 0
            if not column.required:
                out.loc[(index + 7) % 40, name] = None
        elif column.type in ("category", "string"):
            out.loc[(index + 3) % 40, name] = "never-seen"
        else:
            out.loc[(index + 5) % 40, name] = ""
    return out


def check(model: Model, spec: ProjectSpec, rows: pd.DataFrame) -> None:
    predictor = model.row_predictor(spec)
    assert predictor.lean, "the lean path fell back to the DataFrame path"
    expected = model.predict_proba(rows, spec)
    records = rows.to_dict("records")
    together = predictor.predict_proba(records)
    one_by_one = np.vstack([predictor.predict_proba([r]) for r in records[:50]])
    assert together.shape == expected.shape
    np.testing.assert_allclose(together, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one_by_one, expected[:50], rtol=0, atol=1e-6)


def test_production_text_model(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "ooo-replies")
    model = run_model(ws, "ooo-replies")
    assert model.manifest["trainer"] == "tfidf_lr"
    check(model, spec, pd.concat([rows, awkward(rows, spec)], ignore_index=True))
    predictor = model.row_predictor(spec)
    records = rows.head(30).to_dict("records")
    assert predictor.extract(records) == model.extract(rows.head(30), spec)


def test_production_tabular_model(demo_workspace: Path) -> None:
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "hw-triage")
    model = run_model(ws, "hw-triage")
    assert model.manifest["trainer"] == "xgb"
    check(model, spec, pd.concat([rows, awkward(rows, spec)], ignore_index=True))


def test_small_batches_of_the_served_booster_are_bit_identical(demo_workspace: Path) -> None:
    """The service predicts up to FOREST_ROWS rows with the trees as NumPy arrays (XGBoost's
    inplace_predict costs milliseconds of set-up per call): the same probabilities, bit for bit,
    as XGBoost's, on either side of the switch and one by one."""
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, "hw-triage")
    model = run_model(ws, "hw-triage")
    plain = model.row_predictor(spec)
    served = model.row_predictor(spec).for_serving()
    assert served._forest is not None and plain._forest is None
    records = pd.concat([rows, awkward(rows, spec)], ignore_index=True).to_dict("records")
    for size in (1, 2, FOREST_ROWS - 1, FOREST_ROWS, FOREST_ROWS + 1):
        for start in range(0, len(records) - size, 37):
            chunk = records[start : start + size]
            assert np.array_equal(served.predict_proba(chunk), plain.predict_proba(chunk))
    assert np.array_equal(served.predict_proba(records), plain.predict_proba(records))


@pytest.mark.parametrize(
    ("project", "trainer", "params"),
    [
        ("hw-triage", "lr", {}),
        ("ooo-replies", "tfidf_xgb", {"n_estimators": 15, "max_depth": 3}),
    ],
)
def test_the_other_trainers(
    demo_workspace: Path, project: str, trainer: str, params: dict[str, object]
) -> None:
    ws = Workspace.open(demo_workspace)
    spec, rows = sample(ws, project)
    truth = pd.read_csv(ROOT / "sample_data" / project / "data" / "truth.csv", dtype=str)
    labeled = load_rows(ws, latest_dataset(ws, project)).merge(  # type: ignore[arg-type]
        truth[[spec.id_column, "label"]], on=spec.id_column
    )
    labeled = labeled.sample(800, random_state=1).reset_index(drop=True)
    model = train_model(
        spec,
        labeled,
        labeled["label"],
        [[] for _ in range(len(labeled))],
        trainer=trainer,
        params=params,
    )
    check(model, spec, pd.concat([rows, awkward(rows, spec)], ignore_index=True))
