"""Traceability page: a manager opens the matrix, filters to violated, drills to the evidence, and
saves an edit as a new version."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.actor import Actor
from core.builds.impact import impact
from core.builds.service import list_builds
from core.registry.service import find_alias
from core.requirements.derive import derivation_inputs, derive
from core.requirements.service import import_requirements, list_requirements
from core.requirements.status import recompute_statuses, status_summary
from core.requirements.versions import requirement_sets
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in
from tests.conftest import ROOT
from tests.core.test_requirements_support import add_window, after_monitoring

PAGE = "views/traceability.py"
DERIVE_KEYS = derivation_inputs("precision")


@pytest.fixture
def traced(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo with both sample sets imported and a month of monitoring in which production
    handles German replies worse than English ones."""
    ws = Workspace.open(demo_copy)
    for project in ("ooo-replies", "hw-triage"):  # the demo imports them too: then nothing changes
        import_requirements(
            ws, ROOT / "sample_data" / project / "requirements.yaml", Actor("maria", "app")
        )
    production = find_alias(ws, "ooo-replies")
    assert production is not None
    add_window(
        ws,
        {("accuracy", "language = en"): (0.93, 300), ("accuracy", "language = de"): (0.70, 150)},
        project="ooo-replies",
        model_version=production.version,
        end=after_monitoring(ws, "ooo-replies"),
        days=30,
    )
    recompute_statuses(ws, "ooo-replies", cause="monitoring window of the new market")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    return demo_copy


def table(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The first table on the page with this column (AppTest does not keep a dataframe's key)."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def open_tab(at: AppTest, name: str) -> AppTest:
    """Open one of the page's tabs (only the open tab's content runs, as in the browser)."""
    at.session_state["traceability.tab"] = name
    return at.run()


def open_page(user: str = "maria") -> AppTest:
    """The app as ``user`` (a manager), signed in through the real form, on this page."""
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), user)
    at.switch_page(PAGE).run()
    return at


def test_manager_filters_to_violated_and_drills_to_the_evidence(traced: Path) -> None:
    at = open_page()
    assert not at.exception
    at.selectbox(key="traceability.project").set_value("ooo-replies").run()
    metrics = {m.label: m.value for m in at.metric}
    counts = status_summary(Workspace.open(traced), "ooo-replies")
    assert metrics["🔴 violated"] == str(counts["system"]["violated"])
    assert counts["system"]["violated"] >= 2  # SYS-1 and SYS-3, through ML-3
    at.selectbox(key="traceability.status").set_value("violated").run()
    assert not at.exception
    matrix = table(at, "measured on")
    rows = [str(r).strip() for r in matrix["requirement"]]
    assert rows[0].startswith("SYS-1 · Sales sequences") and any("↳ ML-3" in r for r in rows)
    systems = matrix[~matrix["requirement"].str.contains("↳")]
    assert set(systems["status"]) == {"🔴 violated"}  # only violated system requirements are left
    ml3 = matrix[matrix["requirement"].str.contains("ML-3")].iloc[0]
    assert (
        ml3["status"] == "🔴 violated"
        and ml3["value vs threshold"] == "0.700 < 0.880 on language = de"
        and ml3["n and 95% interval"] == "n = 150, 95% CI 0.622–0.768"  # wholly below 0.880
    )
    open_tab(at, "Evidence").selectbox(key="traceability.requirement").set_value("ML-3").run()
    assert not at.exception
    assert at.error[0].value == (
        "ML-3 is 🔴 violated: 0.700 < 0.880 on language = de (n = 150, 95% CI 0.622–0.768)"
    )
    evidence = table(at, "artifact")
    assert "monitoring window" in list(evidence["evidence"])
    assert any(str(a).endswith("(realized)") for a in evidence["artifact"])
    links = table(at, "link")
    assert list(links["link"]) == ["derived from"] and links["requirement"][0].startswith("SYS-3")
    at.selectbox(key="traceability.requirement").set_value("SYS-1").run()
    assert at.error[0].value.startswith("SYS-1 is 🔴 violated via ML-3")
    history = table(open_tab(at, "History"), "cause")
    assert "monitoring window of the new market" in set(history["cause"])


def test_manager_saves_an_edit_as_a_new_version(traced: Path) -> None:
    at = open_page()
    at.selectbox(key="traceability.project").set_value("ooo-replies").run()
    rows = table(at, "measured on")
    assert len(rows) > 5
    open_tab(at, "Edit")
    ids = [r.requirement_id for r in list_requirements(Workspace.open(traced), "ooo-replies")]
    index = ids.index("ML-3")
    at.session_state["traceability.editor"] = {
        "edited_rows": {index: {"tolerance": 0.3}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.text_input(key="traceability.note").input("the German market is young").run()
    at.button(key="traceability.save").click().run()
    assert not at.exception
    made = len(requirement_sets(Workspace.open(traced), "ooo-replies"))  # v2 on a current demo
    assert at.success[-1].value == (
        f"ooo-replies: requirement set v{made}: 0 new, 1 changed, 0 removed, 0 unchanged"
    )
    ws = Workspace.open(traced)
    assert requirement_sets(ws, "ooo-replies")[0].created_by == "maria"
    changed = {r.requirement_id: r for r in list_requirements(ws, "ooo-replies")}["ML-3"]
    assert changed.tolerance == 0.3 and changed.version == 2  # ML-3's second version


def test_impact_derive_and_downloads(app: AppTest, demo_workspace: Path) -> None:
    """The read-only tabs on the demo: a build as a candidate (named with the model it
    registered), a threshold derived from operational terms, and the downloads."""
    at = sign_in(app, "maria")
    at.switch_page(PAGE).run()
    at.selectbox(key="traceability.project").set_value("ooo-replies").run()
    assert not at.exception
    assert not at.get("download_button") and not at.get("plotly_chart")[1:]  # one tab runs
    ws = Workspace.open(demo_workspace)
    open_tab(at, "Evidence")  # a lineage graph is drawn when its expander is opened
    for rid in [r.requirement_id for r in list_requirements(ws, "ooo-replies")]:
        at.selectbox(key="traceability.requirement").set_value(rid).run()
        if "Lineage of the evidence" in [e.label for e in at.expander]:
            break
    charts = len(at.get("plotly_chart"))
    at.session_state["traceability.lineage_open"] = True
    assert len(at.run().get("plotly_chart")) == charts + 1 and not at.exception
    open_tab(at, "Impact of a candidate")
    build = next(b for b in list_builds(ws, "ooo-replies") if b.model_text)
    named = f"build #{build.number} (successful, {build.model_text})"  # its number, not its id
    options = at.selectbox(key="traceability.candidate").options
    assert named in options
    builds = [o for o in options if o.startswith("build #")]
    numbers = sorted(b.number for b in list_builds(ws, "ooo-replies") if b.run_id)
    assert sorted(int(o.split("#")[1].split()[0]) for o in builds) == numbers
    at.selectbox(key="traceability.candidate").set_value(named).run()
    assert not at.exception
    expected = impact(ws, "ooo-replies", build=build.build_id).summary
    assert expected in [m.value for m in (*at.success, *at.error)]
    open_tab(at, "Derive a threshold").selectbox(key="traceability.derive.kind").set_value(
        "precision"
    ).run()
    at.text_input(key="traceability.derive.metric").input("precision.out_of_office").run()
    assert not at.exception
    inputs = {k: at.number_input(key=f"traceability.derive.{k}").value for k in DERIVE_KEYS}
    steps = derive("precision", {**inputs, "period": "week"}, "precision.out_of_office").steps
    assert "\n".join(f"1. {step}" for step in steps) in [m.value for m in at.markdown]
    downloads = {d.proto.label for d in open_tab(at, "Downloads").get("download_button")}
    assert {"Matrix (CSV)", "Report (HTML)", "Requirements (ReqIF)"} <= downloads, downloads


def test_manager_creates_a_derived_ml_requirement(traced: Path) -> None:
    at = open_page()
    at.selectbox(key="traceability.project").set_value("ooo-replies").run()
    open_tab(at, "Derive a threshold")
    at.selectbox(key="traceability.derive.kind").set_value("precision").run()
    at.text_input(key="traceability.derive.metric").input("precision.out_of_office").run()
    at.text_input(key="traceability.derive.id").input("ML-20").run()
    at.multiselect(key="traceability.derive.from").set_value(["SYS-1"]).run()
    at.button(key="traceability.derive.create").click().run()
    assert not at.exception  # (errors on the page are the evidence tab's violated statuses)
    version = len(requirement_sets(Workspace.open(traced), "ooo-replies"))
    assert at.success[-1].value.startswith(f"ooo-replies: requirement set v{version}: 1 new")
    made = {r.requirement_id: r for r in list_requirements(Workspace.open(traced), "ooo-replies")}
    new = made["ML-20"]  # the sample set has ML-1 … ML-9
    assert (new.level, new.metric, new.derived_from) == (
        "ml",
        "precision.out_of_office",
        ("SYS-1",),
    )
    assert new.derivation is not None and new.derivation["kind"] == "precision"


def test_an_open_alert_keeps_a_requirement_from_being_met_and_is_linked(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hw-triage's ML-8 has an open alert on its rule in the demo: the Evidence tab says it is
    not met, with its n and interval, and links the alert."""
    ws = Workspace.open(demo_copy)
    recompute_statuses(ws, "hw-triage", cause="issue 15: verdicts with confidence")
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = open_page()
    at.selectbox(key="traceability.project").set_value("hw-triage").run()
    open_tab(at, "Evidence").selectbox(key="traceability.requirement").set_value("ML-8").run()
    assert not at.exception
    box = at.info[0].value
    assert box.startswith("ML-8 is 🟣 inconclusive: ") and "(n = " in box, box
    links = [p.proto.label for p in at.get("page_link")]
    assert any(
        label.startswith("Alert #") and label.endswith("it is not met while the alert is open")
        for label in links
    ), links
    matrix = table(open_tab(at, "Matrix"), "measured on")
    ml8 = matrix[matrix["requirement"].str.contains("ML-8")].iloc[0]
    assert ml8["status"] == "🟣 inconclusive" and "alert #" in ml8["n and 95% interval"]


def test_a_change_made_outside_the_app_shows_at_the_next_rerun(traced: Path) -> None:
    """The matrix is kept between reruns (cached), keyed on the workspace's stamp: statuses
    recomputed by the CLI or CI show at the next click, not an hour later."""
    at = open_page()
    at.selectbox(key="traceability.project").set_value("ooo-replies").run()
    before = {m.label: m.value for m in at.metric}["🔴 violated"]
    ws = Workspace.open(traced)
    production = find_alias(ws, "ooo-replies")
    assert production is not None and int(before) >= 2
    add_window(  # German replies recovered: ML-3 no longer violated
        ws,
        {("accuracy", "language = en"): (0.97, 400), ("accuracy", "language = de"): (0.97, 400)},
        project="ooo-replies",
        model_version=production.version,
        end=after_monitoring(ws, "ooo-replies", days=90),
        days=30,
    )
    recompute_statuses(ws, "ooo-replies", cause="the German market recovered")
    after = status_summary(ws, "ooo-replies")["system"].get("violated", 0)
    assert after < int(before)
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["🔴 violated"] == str(after)
