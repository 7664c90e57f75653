"""Artifacts: filter the registry, open a dataset, see its content and lineage."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import sign_in


def test_filter_and_open_a_dataset(app: AppTest) -> None:
    sign_in(app, "maria")
    app.switch_page("views/artifacts.py").run()
    assert not app.exception
    assert app.title[0].value == "🗂️ Artifacts"
    app.selectbox(key="artifacts.kind").set_value("dataset").run()
    app.selectbox(key="artifacts.project").set_value("hw-triage").run()
    options = app.selectbox(key="artifacts.open").options
    assert options == ["#4 dataset:hw-triage@1"] or all("dataset:hw-triage" in o for o in options)
    app.selectbox(key="artifacts.open").set_value(options[0]).run()
    assert not app.exception
    assert app.subheader[0].value.startswith("dataset:hw-triage@")
    assert "immutable" in " ".join(c.value for c in app.caption)
    assert not app.get("plotly_chart")  # only the open tab (Metadata) is drawn
    app.session_state["artifacts.tab"] = "Content"
    app.run()
    captions = " ".join(c.value for c in app.caption)
    rows = {"dataset:hw-triage@1": "37,067", "dataset:hw-triage@2": "50,000"}
    shown = app.subheader[0].value.split(" ")[0]
    assert f"of {rows[shown]} rows" in captions  # the content preview of the dataset's Parquet file
    app.session_state["artifacts.tab"] = "Lineage"
    app.run()
    assert not app.exception
    assert "upstream" in " ".join(c.value for c in app.caption)
    assert len(app.get("plotly_chart")) == 1  # the lineage graph


def test_name_filter_with_no_match(app: AppTest) -> None:
    sign_in(app, "maria")
    app.switch_page("views/artifacts.py").run()
    app.text_input(key="artifacts.search").input("'; DROP TABLE artifacts; --").run()
    assert not app.exception
    assert app.info[0].value == "No artifacts match these filters."
