"""Experiments: compare runs per slice (the failed build's slice marked by the requirement it
misses), runs with their builds, the production run starred, a malformed filter explained in place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import MAIN, sign_in


@pytest.fixture
def app_on(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    return sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")


def test_compare_two_runs(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    runs = at.multiselect(key="experiments.compare.ooo-replies").options
    assert len(runs) >= 3  # the demo's three builds
    assert all(re.fullmatch(r"#\d+ \S.*", r) for r in runs), runs  # each run by number and name
    ids = [int(r.split()[0].lstrip("#")) for r in runs]
    at.multiselect(key="experiments.compare.ooo-replies").set_value([ids[-1], ids[-2]]).run()
    assert not at.exception
    tables = [t.value for t in at.dataframe]
    slices = next(t for t in tables if "language = en" in t.index)
    assert "production" in slices.columns and len(slices.columns) == 4
    assert slices.columns[0] == "n" and slices["n"].min() >= 1  # items per slice, common set
    metrics = next(t for t in tables if "f1_macro" in t.index)
    assert any(str(c).startswith("Δ") for c in metrics.columns)
    # one common test set, named; each difference with its interval and verdict
    measured = [c.value for c in at.caption if c.value.startswith("Measured on ")]
    assert len(measured) == 1 and re.fullmatch(
        r"Measured on the project's current test set \([\d,]+ items\), re-scored with each "
        r"model\.",
        measured[0],
    ), measured
    assert (
        metrics.loc["n", [c for c in metrics.columns if not str(c).startswith("Δ")]].nunique() == 1
    )
    differences = next(t for t in tables if "verdict" in t.columns)
    assert set(differences["verdict"]) <= {"better", "worse", "no clear difference"}


def test_the_items_the_runs_disagree_on_show_their_text_and_each_run_s_prediction(
    app_on: AppTest,
) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    runs = at.multiselect(key="experiments.compare.ooo-replies").options
    ids = [int(r.split()[0].lstrip("#")) for r in runs]
    at.multiselect(key="experiments.compare.ooo-replies").set_value([ids[-1], ids[-2]]).run()
    assert not at.exception
    expander = next(e for e in at.expander if "on which the runs disagree" in e.label)
    total = int(re.match(r"([\d,]+) test items? on which", expander.label)[1].replace(",", ""))
    table = next(t.value for t in at.dataframe if "true label" in t.value.columns)
    labels = dict(zip(ids, runs, strict=True))
    predictions = [c for c in table.columns if c in runs or c == "production"]
    assert predictions == [labels[ids[-1]], labels[ids[-2]], "production"]  # build-3 is not picked
    assert list(table.columns[:5]) == ["item", "text", "language", "sender_domain", "month"]
    assert 0 < len(table) <= min(total, 200)
    assert table["text"].str.len().max() <= 120 and table["text"].str.len().min() > 0
    assert set(table["language"]) <= {"en", "de", "fr"}
    wrong = table[predictions].ne(table["true label"], axis=0)
    assert (wrong.any(axis=1) & ~wrong.all(axis=1)).all()  # one right, another wrong
    assert all(f"{c} score" in table.columns for c in predictions)
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    # only where the first run is wrong
    at.selectbox(key="experiments.disagreements.wrong").set_value(predictions[0]).run()
    assert not at.exception
    only = next(t.value for t in at.dataframe if "true label" in t.value.columns)
    assert len(only) == int(wrong[predictions[0]].sum())
    assert (only[predictions[0]] != only["true label"]).all()


def test_filter_runs(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    at.text_input(key="experiments.filter").input("metrics.f1_macro > 2").run()
    assert not at.exception and at.info[0].value == "No run matches the filter."
    at.text_input(key="experiments.filter").input("metrics.f1_marco > 0.5").run()
    assert at.warning[0].value.startswith(
        "No run in ooo-replies has metrics.f1_marco, in the filter."
    )
    assert "Did you mean metrics.f1_macro?" in at.warning[0].value
    at.text_input(key="experiments.filter").input("metrics.f1 >> 2").run()
    assert at.error[0].value.startswith(
        "Expected a value (a number or a quoted text) at position 12"
    )


def test_a_malformed_filter_is_explained_and_the_page_stays(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    at.text_input(key="experiments.filter").input("metrics.f1_macro > 'abc'").run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "metrics.f1_macro is a number; 'abc' at position 19 is a text."
    ]
    captions = [c.value for c in at.caption]
    assert "How to fix it: compare it with a number, e.g. metrics.f1_macro > 0.8" in captions
    assert "Showing every run until the filter is fixed." in captions
    runs = at.dataframe[0].value
    assert (
        len(runs) == 3 and len(at.multiselect(key="experiments.compare.ooo-replies").options) == 3
    )


def test_runs_show_their_build_and_the_production_star(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    runs = at.dataframe[0].value.set_index("name")
    assert runs.loc["build-2", "build"] == "❌ #2 failed"  # the story's build 2: its gate failed
    assert runs.loc["build-3", "build"] == "✅ #3 successful"
    assert list(runs["★"]) == ["★", "", ""]  # build-3 trained the production model
    caption = next(c.value for c in at.caption if "★ production is" in c.value)
    assert f"run #{runs.loc['build-3', 'run_id']} build-3" in caption  # run ids come in blocks
    effects = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert effects["layout"]["title"]["text"] == "f1_macro by parameter · each point a run"
    panels = [a["text"] for a in effects["layout"]["annotations"]]
    assert panels == ["test_items", "train_items"]  # each parameter named over its own axis
    named = {name for trace in effects["data"] for name in trace["hovertext"]}
    assert named == {f"#{r} {n}" for n, r in runs["run_id"].items()}  # each point names its run


def test_the_failed_build_s_slice_is_marked_by_the_requirement_it_misses(app_on: AppTest) -> None:
    at = app_on
    at.switch_page("views/experiments.py").run()
    at.selectbox(key="experiments.project").set_value("ooo-replies").run()
    runs = at.multiselect(key="experiments.compare.ooo-replies").options
    run_of = {r.split()[1]: int(r.split()[0].lstrip("#")) for r in runs}  # "#16 build-2"
    chosen = [run_of["build-2"], run_of["build-3"]]
    at.multiselect(key="experiments.compare.ooo-replies").set_value(chosen).run()
    assert not at.exception
    legend = [m.value for m in at.markdown if m.value.startswith("- ✖")]
    # the requirement it misses (its gate failed on it too), then the gate's drop on that slice
    assert legend == [
        f"- ✖ **#{chosen[0]} build-2** · language = en: ML-2: accuracy on language = en = 0.864 "
        "< 0.910; build #2 (failed) failed its gate on it\n"
        f"- ✖ **#{chosen[0]} build-2** · language = en: build #2 (failed): accuracy on "
        "language = en: 0.864 vs production 0.933 (−0.069; allowed drop 0.02)"
    ]
    assert any(
        "✖ solid red: fails a requirement or a gate threshold" in m.value for m in at.markdown
    )
