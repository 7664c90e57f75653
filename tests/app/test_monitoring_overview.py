"""The Monitoring page's drawing helpers on small real inputs: the overview's date axes span the
windows shown (half a window of pad), a model change's label stays inside its panel, and the
drift table writes "—" where a statistic does not apply, saying in each column's help where it is
computed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.components.monitoring import p_text, statistics_text, window_text
from app.components.monitoring_overview import overview_figure
from core.monitoring.dashboard import Dashboard, ModelChange

DAY = timedelta(days=1)


def _view(days: int, change_on: int | None, grain: str = "day") -> Dashboard:
    step = {"day": DAY, "week": 7 * DAY}[grain]
    starts = pd.DatetimeIndex([datetime(2026, 8, 3) + i * step for i in range(days)])
    overall = pd.DataFrame(
        {
            "volume": [100.0] * days,
            "latency_p95_ms": [11.0] * days,
            "accuracy": [0.9] * days,
            "class_share.a": [0.4] * days,
            "class_share.b": [0.6] * days,
        },
        index=starts,
    )
    drift = pd.DataFrame([[0.0] * days, [0.3] * days], index=["x", "y"], columns=starts)
    changes = (
        ()
        if change_on is None
        else (
            ModelChange(
                starts[change_on].to_pydatetime(),
                2,
                "v2: promoted after build 3 passed its gate and the policy",
            ),
        )
    )
    return Dashboard("p", grain, (grain,), (1, 2), overall, drift, pd.DataFrame(), changes, ())


def test_every_date_axis_spans_the_windows_shown_with_half_a_window_of_pad() -> None:
    for grain, step in (("day", DAY), ("week", 7 * DAY)):
        view = _view(10, None, grain)
        layout = overview_figure(view, "%Y-%m-%d")["layout"]
        first, last = view.overall.index[0], view.overall.index[-1]
        expected = [(first - step / 2).isoformat(), (last + step / 2).isoformat()]
        for axis in ("xaxis", "xaxis2", "xaxis3", "xaxis4"):
            assert layout[axis]["range"] == expected, (grain, axis, layout[axis])
            assert layout[axis]["autorange"] is False


@pytest.mark.parametrize(("change_on", "anchor"), [(2, "left"), (8, "right"), (9, "right")])
def test_a_model_change_label_runs_into_the_panel(change_on: int, anchor: str) -> None:
    layout = overview_figure(_view(10, change_on), "%Y-%m-%d")["layout"]
    labels = [a for a in layout["annotations"] if a.get("hovertext")]
    assert len(labels) == 4 and len(layout["shapes"]) == 4  # one per panel
    for label in labels:
        assert label["xanchor"] == anchor  # near the right edge the text runs leftwards
        assert label["yanchor"] == "top" and label["y"] <= 1  # inside the panel, not above it
        assert label["text"].startswith("v2: promoted") and len(label["text"]) <= 32
        assert label["hovertext"].endswith("and the policy")  # the whole reason on hover


def test_a_change_outside_the_windows_shown_draws_nothing() -> None:
    view = _view(5, 3)
    later = ModelChange(datetime(2026, 9, 30), 3, "v3 serves")
    shown = replace(view, changes=(later,))
    layout = overview_figure(shown, "%Y-%m-%d")["layout"]
    assert not layout["shapes"] and not [a for a in layout["annotations"] if a.get("hovertext")]


def _drift_table(rows: list[dict[str, object]]) -> None:
    from app.components.monitoring import drift_table

    drift_table(rows)


def test_the_drift_table_writes_a_dash_where_a_statistic_does_not_apply() -> None:
    rows = [
        {"feature": "temp", "n": 1200, "psi": 0.4, "js": 0.2, "ks": 0.31, "ks_p": 1e-9},
        {"feature": "firmware", "n": 1200, "psi": 1.7, "js": 0.6, "chi2_p": 0.2},
        {"feature": "body", "n": 52000, "novelty": 0.3, "novelty_reference": 0.05},
    ]
    shown = AppTest.from_function(_drift_table, args=(rows,), default_timeout=60).run()
    assert not shown.exception
    table = shown.dataframe[0].value
    assert list(table.columns) == [
        "feature",
        "score",
        "drifted",
        "n",
        "psi",
        "p",
        "test",
        "js",
        "ks",
        "novelty",
    ]
    # numbers underneath, so a column sorts as numbers: NaN where a statistic does not apply
    numbers = table.set_index("feature")
    assert all(pd.api.types.is_float_dtype(numbers[c]) for c in ("psi", "p", "js", "ks", "novelty"))
    assert numbers.loc["temp", "p"] == 1e-9 and pd.isna(numbers.loc["firmware", "ks"])
    assert numbers.loc["body", "novelty"] == 0.3 and pd.isna(numbers.loc["body", "psi"])
    # … and the table writes them as a reader takes them in
    by = _display_values(shown.dataframe[0]).set_index("feature")
    assert "None" not in by.to_string() and shown.dataframe[0].proto.placeholder == "—"
    assert by.loc["firmware", "ks"] == "—" and by.loc["firmware", "test"] == "χ²"  # a category
    assert by.loc["temp", "p"] == "< 0.001" and by.loc["temp", "test"] == "KS"  # a number
    assert by.loc["firmware", "p"] == "0.200"
    assert by.loc["temp", "novelty"] == "—"  # text only
    assert (by.loc["body", ["psi", "p", "test", "js", "ks"]] == "—").all()
    config = json.loads(shown.dataframe[0].proto.columns)
    helps = {n: str(c.get("help", "")) for n, c in config.items() if not n.startswith("_")}
    assert set(helps) == set(table.columns) and all(helps.values())
    assert "Computed for numbers only; — elsewhere" in helps["ks"]
    assert "Computed for text fields only" in helps["novelty"]


def _display_values(table: Any) -> pd.DataFrame:
    """What the table writes in each cell (the Styler's text; number formats are the column's)."""
    import pyarrow as pa

    styler = table.proto.arrow_data.styler
    return pa.ipc.open_stream(styler.display_values).read_all().to_pandas()


def test_statistics_and_windows_read_as_the_table_writes_them() -> None:
    assert p_text(1e-30) == "< 0.001" and p_text(0.31) == "0.310"
    assert (
        statistics_text({"psi": 1.7021, "js": 0.634, "chi2_p": 1e-30})
        == "PSI 1.702 · JS 0.634 · χ² p < 0.001"
    )
    assert (
        statistics_text({"psi": 2.9, "ks": 0.2, "ks_p": 0.31})
        == "PSI 2.900 · KS 0.200 · KS p = 0.310"
    )
    assert window_text(datetime(2026, 9, 21), "week") == "week of 2026-09-21"
    assert window_text(datetime(2026, 9, 21, 13), "hour") == "2026-09-21 13:00"
    assert window_text(datetime(2026, 9, 21), "day") == "2026-09-21"


def test_realized_accuracy_is_a_line_only_where_a_window_has_enough_labels() -> None:
    view = _view(10, None)
    counts = pd.DataFrame({"accuracy": [40] * 5 + [5] * 5}, index=view.overall.index)
    traces = overview_figure(replace(view, counts=counts), "%Y-%m-%d")["data"]
    line, dots = (t for t in traces if t.get("name", "").startswith("realized"))
    assert line["name"] == "realized (feedback), ≥ 30 labels" and "lines" in line["mode"]
    assert line["y"] == [0.9] * 5 + [None] * 5 and dots["y"] == [None] * 5 + [0.9] * 5
    assert line["customdata"][0] == "n = 40" and dots["customdata"][-1] == "n = 5"  # on hover
    alone = overview_figure(replace(view, counts=counts.clip(upper=5)), "%Y-%m-%d")["data"]
    assert [t["name"] for t in alone if t.get("name", "").startswith("realized")] == [
        "realized (feedback), fewer labels"  # no empty line in the legend
    ]
