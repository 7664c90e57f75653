"""Monitoring page on the demo's own live traffic (the real service answered the firmware rollout
and the new market, monitoring recorded the windows): pick a feature and see its drift; alerts
read as incidents (open ones first, resolved ones behind a toggle); acknowledge an incident with
one note; request retraining from its lead alert; the model version filters the alerts too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.components.words import plural
from core.monitoring.alerts import get_alert, list_alerts
from core.monitoring.incidents import Incident, group_alerts
from core.monitoring.loop import tasks_of
from core.monitoring.retrain import list_retrain_requests
from core.serving.log import quarantine_folder, write_quarantine
from core.store import Workspace
from tests.app.conftest import MAIN, sign_in

PAGE = "views/monitoring.py"


@pytest.fixture
def at(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    app = sign_in(AppTest.from_file(MAIN, default_timeout=120), "lead")
    app.switch_page(PAGE).run()
    app.selectbox(key="monitoring.project").set_value("hw-triage").run()
    assert not app.exception, app.exception
    return app


def test_pick_a_feature_and_see_its_drift(at: AppTest) -> None:
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Predictions"] not in ("0", "") and "Open alerts" in tiles
    assert len(at.get("plotly_chart")) == 1  # latency, class mix, accuracy, heatmap: one chart
    at.toggle(key="monitoring.drilldown").set_value(True).run()  # the drill-down, on demand
    features = at.selectbox(key="monitoring.feature").options
    assert "firmware_version" in features and "reboot_count" in features
    at.selectbox(key="monitoring.feature").set_value("firmware_version").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Window "))
    assert "PSI " in caption and "χ² p" in caption and " values)" in caption  # its n
    assert len(at.get("plotly_chart")) == 3  # and the distribution, the feature's drift
    at.selectbox(key="monitoring.feature").set_value("reboot_count").run()
    caption = next(c.value for c in at.caption if c.value.startswith("Window "))
    assert not at.exception and "KS p" in caption


def _open_incident(ws: Workspace, project: str) -> Incident:
    return next(i for i in group_alerts(list_alerts(ws, project)) if i.status == "open")


def test_alerts_read_as_incidents(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    alerts = list_alerts(ws, "hw-triage")
    incidents = group_alerts(alerts)
    standing = sorted(
        (i for i in incidents if i.status != "resolved"), key=lambda i: i.status != "open"
    )
    resolved = [i for i in incidents if i.status == "resolved"]
    assert standing and resolved  # the demo has both
    headers = [e.label for e in at.expander]  # resolved incidents stay folded away
    assert [h.split(" ", 1)[1] for h in headers] == [
        f"{i.label} · {i.status} · {'firing' if i.firing else 'not firing'}" for i in standing
    ]
    table = at.expander[0].dataframe[0].value
    assert list(table["alert"].str.split("#").str[1].astype(int)) == [
        a.alert_id for a in standing[0].alerts
    ]
    assert not table.isna().any().any() and "None" not in table.to_string()
    lead = standing[0].lead  # its evidence as a sentence with the page's dates and its n
    sentence = lead.sentence()  # core's, as the CLI and the webhooks say it
    said = f"{sentence[:1].upper()}{sentence[1:]} (n = {lead.n:,} in its latest window)."
    assert said in [m.value for m in at.expander[0].markdown], said
    # alerts named for people (core's names), in the metric's unit, never the stored key
    assert list(table["metric"]) == [a.name for a in standing[0].alerts]
    assert list(table["value"]) == [a.value_text for a in standing[0].alerts]
    keys = ("drift.score", "error_rate", "latency_p95_ms", "estimated.")
    assert not any(k in h for k in keys for h in headers), headers
    open_alerts = [a for a in alerts if a.status == "open"]
    tile = next(m for m in at.metric if m.label == "Open alerts")
    assert tile.value == str(len(open_alerts))
    assert tile.delta.startswith(f"in {len([i for i in incidents if i.status == 'open'])} incident")
    at.toggle(key="monitoring.resolved").set_value(True).run()
    assert not at.exception
    shown = [e.label for e in at.expander]
    assert len(shown) == len(standing) + len(resolved)
    done = at.expander[len(standing)].dataframe[0].value
    assert all(r.startswith(("Cleared:", "Superseded:")) for r in done["resolution"]), done
    assert f"monitoring.ack.{resolved[0].incident_id}" not in {b.key for b in at.button}


def test_acknowledge_an_incident_with_one_note(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    incident = _open_incident(ws, "hw-triage")
    waiting = [a.alert_id for a in incident.alerts if a.status == "open"]
    key = incident.incident_id
    at.button(key=f"monitoring.ack.{key}").click().run()  # without a note: refused, and said so
    assert not at.exception
    assert at.error[0].value.startswith(
        f"Acknowledged 0 of {plural(len(waiting), 'open alert')}; refused"
    )
    assert "Say what you will do about the alert" in at.error[0].value
    assert all(get_alert(ws, a).status == "open" for a in waiting)
    note = "firmware R24.1 rollout; its units go to labeling"
    at.text_input(key=f"monitoring.note.{key}").input(note).run()
    at.button(key=f"monitoring.ack.{key}").click().run()
    assert not at.exception and not at.error
    for alert_id in waiting:
        done = get_alert(ws, alert_id)
        assert done.status == "acknowledged" and done.acks[-1][:2] == ("lead", note)
    assert (
        at.success[0].value == f"Acknowledged {plural(len(waiting), 'alert')} of incident #{key}."
    )
    tile = next(m for m in at.metric if m.label == "Open alerts")
    assert tile.value == str(len([a for a in list_alerts(ws, "hw-triage") if a.status == "open"]))


def test_request_retraining_names_the_lead_alert(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    incident = _open_incident(ws, "hw-triage")
    alert = incident.lead
    about = alert.name  # "realized accuracy [firmware_version = R24.1]", as the table names it
    at.button(key=f"monitoring.retrain.{incident.incident_id}").click().run()
    assert not at.exception and not at.error
    request = next(r for r in list_retrain_requests(ws, "hw-triage") if r.status == "pending")
    assert request.alert_id == alert.alert_id
    named = f"Retraining request #{request.request_id} from alert #{alert.alert_id} ({about})"
    assert at.success[-1].value == f"{named} is pending for the next build."
    at.run()
    assert any(i.value.startswith(f"{named} waits for the next") for i in at.info)


def test_the_model_version_filters_the_alerts(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    at.selectbox(key="monitoring.project").set_value("ooo-replies").run()
    at.radio(key="monitoring.model").set_value("v1").run()
    at.toggle(key="monitoring.resolved").set_value(True).run()
    assert not at.exception
    v1 = {a.model_id for a in list_alerts(ws, "ooo-replies") if a.model_id is not None}
    shown = [int(e.label.split("#")[1].split()[0]) for e in at.expander]
    incidents = {i.incident_id: i for i in group_alerts(list_alerts(ws, "ooo-replies"))}
    models = {incidents[i].model_id for i in shown}
    assert len(models) == 1 and len(v1) > 1  # v1's incidents only, though v2 has alerts too
    tile = next(m for m in at.metric if m.label == "Realized accuracy")
    assert tile.value != "—"  # the chart's realized points show in the tile
    assert tile.delta.startswith("n = ")  # its sample
    windows = next(c.value for c in at.caption if c.value.startswith("Latest day window"))
    assert "realized accuracy: 2026-" in windows  # the window it comes from


def test_the_headline_names_its_window_n_and_interval(at: AppTest, demo_copy: Path) -> None:
    from core.monitoring.dashboard import dashboard

    view = dashboard(Workspace.open(demo_copy), "hw-triage", "day")
    when, value = view.latest("accuracy")
    labels = view.count_at("accuracy", when)
    assert when is not None and value is not None and labels is not None
    tiles = {m.label: m for m in at.metric}
    realized = tiles["Realized accuracy"]
    if labels < 30:  # the last day's feedback is thin: said so, never a bare 1.000
        assert realized.value == "too few"
        assert realized.delta == f"n = {labels} · under 30 labels"
    else:
        figure = view.figure("accuracy")
        assert realized.value == f"{value:.3f}"
        assert realized.delta == f"n = {labels:,} · {figure.range_text().split(' CI ')[1]}"
    windows = next(c.value for c in at.caption if c.value.startswith("Latest day window"))
    assert f"{when:%Y-%m-%d}" in windows and "95% interval" in windows  # named once, below
    latency = tiles["Latency p95"]
    assert latency.delta is not None and re.fullmatch(r"n = [\d,]+ · [\d.]+–[\d.]+", latency.delta)
    estimated = tiles["Estimated accuracy"]
    assert estimated.delta is not None and re.fullmatch(
        r"n = [\d,]+ · 0\.\d{3}–[01]\.\d{3}", estimated.delta
    )
    # one date format on the page: every chart's x axis is written as the tiles are
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        if "xaxis" in layout and layout["xaxis"].get("type") != "category":
            assert layout["xaxis"].get("tickformat") == "%Y-%m-%d", layout["xaxis"]


def test_an_alerts_drift_table_ranks_by_its_rule_and_explains_its_columns(at: AppTest) -> None:
    table = at.expander[0].dataframe[1]  # the lead alert's evidence, below its alerts table
    rows = table.value
    assert list(rows.columns)[:4] == ["feature", "score", "drifted", "n"]
    ticks = list(rows["drifted"])
    assert ticks == sorted(ticks, reverse=True)  # no unticked feature above a ticked one
    assert list(rows["score"]) == sorted(rows["score"], reverse=True)
    # statistics stay numbers (a column sorts as numbers): NaN where one does not apply to an
    # input's kind, and the table writes those cells "—" (and p below 0.001 "< 0.001")
    numeric = ["score", "n", "psi", "p", "js", "ks", "novelty"]
    assert all(pd.api.types.is_numeric_dtype(rows[c]) for c in numeric), rows.dtypes
    assert rows["ks"].isna().any() and not rows["feature"].isna().any()  # a category has no KS
    shown = _display_values(table)
    assert shown["ks"][rows["ks"].isna()].eq("—").all()
    tiny = rows["p"] < 0.001
    assert shown["p"][tiny].eq("< 0.001").all() and "None" not in shown.to_string()
    assert table.proto.placeholder == "—"
    assert any(c.value.startswith("Inputs ranked by drift score; drifted when") for c in at.caption)
    helps = _column_help()
    assert set(helps) == set(rows.columns) and all(helps.values())
    assert helps["ks"].endswith("Computed for numbers only; — elsewhere")  # core's help


def _display_values(table: Any) -> pd.DataFrame:
    """What the table writes in each cell (the Styler's text), by column."""
    import pyarrow as pa

    styler = table.proto.arrow_data.styler
    return pa.ipc.open_stream(styler.display_values).read_all().to_pandas()


def _draw_drift_table(rows: list[dict[str, object]]) -> None:
    from app.components.monitoring import drift_table

    drift_table(rows)


def _column_help() -> dict[str, str]:
    """Each column's help text as the page sends it (st.column_config)."""
    rows = [{"feature": "x", "n": 40, "psi": 0.3, "ks_p": 0.01}]
    shown = AppTest.from_function(_draw_drift_table, args=(rows,), default_timeout=60).run()
    assert not shown.exception
    config = json.loads(shown.dataframe[0].proto.columns)
    return {n: str(c.get("help", "")) for n, c in config.items() if not n.startswith("_")}


def test_a_manager_may_acknowledge_but_not_act(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_WORKSPACE", str(demo_copy))
    at = sign_in(AppTest.from_file(MAIN, default_timeout=120), "maria")
    at.switch_page(PAGE).run()
    at.selectbox(key="monitoring.project").set_value("hw-triage").run()
    incident = _open_incident(Workspace.open(demo_copy), "hw-triage")
    key = incident.incident_id
    assert not at.button(key=f"monitoring.ack.{key}").disabled
    assert at.button(key=f"monitoring.label.{key}").disabled
    assert at.button(key=f"monitoring.retrain.{key}").disabled
    assert at.button(key="monitoring.compute").disabled
    assert any(
        c.value.startswith(
            "🔒 maria (manager) may not turn alerts into labeling tasks or retraining requests "
            "in hw-triage; a data_scientist role is needed."
        )
        for c in at.caption
    )


def test_a_task_sent_from_an_alert_is_shown_by_its_name(at: AppTest, demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    task = next(t for a in list_alerts(ws, "ooo-replies") for t in tasks_of(ws, a))
    # the demo sent the new market's drifted replies to labeling from an alert
    at.selectbox(key="monitoring.project").set_value("ooo-replies").run()
    at.toggle(key="monitoring.resolved").set_value(True).run()  # the new market's incident
    assert not at.exception
    shown = [c.value for c in at.caption if c.value.startswith("🏷️ Sent to")]
    named = f"🏷️ Sent to labeling task “{task.name}” (#{task.task_id}, {task.items:,} items"
    assert any(c.startswith(named) for c in shown), shown


def _quarantine_note(root: str) -> None:
    from app.components.monitoring_panels import quarantine_note
    from core.api import SYSTEM, Client

    quarantine_note(Client(root, SYSTEM), "hw-triage")


def test_the_quarantine_line_reads_through_the_client(tmp_path: Path) -> None:
    """The quarantine is read from its folder, without opening a workspace (none is here)."""
    empty = AppTest.from_function(_quarantine_note, args=(str(tmp_path),), default_timeout=60)
    assert not empty.run().warning
    folder = quarantine_folder(tmp_path, "hw-triage")
    write_quarantine(folder, "predictions", [({"request_id": "r-1"}, "OverflowError: too big")])
    shown = AppTest.from_function(_quarantine_note, args=(str(tmp_path),), default_timeout=60).run()
    assert not shown.exception
    (warning,) = shown.warning
    assert warning.value == (
        "1 log record could not be written to the prediction log and was quarantined: the "
        "figures here do not include it. Each is kept with its reason in "
        "`logs/hw-triage/quarantine/`."
    )
