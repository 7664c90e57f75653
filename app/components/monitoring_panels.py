"""The monitoring page's panels: computing windows now, the overview charts and one feature's
drill-down (the alerts are in monitoring_incidents.py)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from app.components.monitoring import date_format, distribution_chart, history_chart, tiles
from app.components.monitoring_overview import overview_figure
from app.components.words import plural
from app.deps import attempt, cached, forget
from core.api import Client
from core.api.types import Dashboard


def compute_now(api: Client, project: str, grain: str) -> None:
    """Read new log segments and record their windows, with a progress bar."""
    with st.status("Computing windows from the prediction log…", expanded=False) as status:
        bar = st.progress(0.0)
        done = attempt(
            api.monitoring.compute_windows,
            project,
            grain=grain,
            progress=lambda stage, fraction: bar.progress(min(1.0, fraction), text=stage),
        )
        if done is not None:
            forget()  # new windows and alerts: the kept figures are stale
            status.update(
                label=f"Computed {plural(len(done.windows), 'window')}; "
                f"{plural(len(done.new_alerts), 'new alert')}.",
                state="complete",
            )
            for note in done.notes:
                st.caption(note)


def overview(view: Dashboard, api: Client | None = None) -> None:
    """The tiles (and, given the client, a line on quarantined log records), then latency and
    accuracy beside the class mix and the drift heatmap, as four panels of one chart."""
    tiles(view)
    if api is not None:
        quarantine_note(api, view.project)
    st.plotly_chart(overview_figure(view, date_format(view.grain)), key="monitoring.overview")


def quarantine_note(api: Client, project: str) -> None:
    """A warning line when the service set aside log records it could not write (nothing else)."""
    quarantine = api.monitoring.quarantined(project)  # a folder read: not under the stamp
    count, folder = quarantine.count, quarantine.folder
    if count:
        st.warning(
            f"{plural(count, 'log record')} could not be written to the prediction log and "
            f"{'was' if count == 1 else 'were'} quarantined: the figures here do not include "
            f"{'it' if count == 1 else 'them'}. Each is kept with its reason in `{folder}/`.",
            icon="🧯",
        )


def feature_drilldown(project: str, grain: str, view: Dashboard) -> None:
    """One feature in one window against the training data, and its drift over the range: drawn
    when opened (the heatmap above has every feature's drift already)."""
    st.subheader("Feature drill-down")
    if not view.features:
        st.info("No drift figures in the range.")
        return
    if st.toggle(
        f"Show one of {plural(len(view.features), 'input')} against the training data, and its "
        "drift over the range",
        key="monitoring.drilldown",
    ):
        _drilldown(project, grain, view)


def _drilldown(project: str, grain: str, view: Dashboard) -> None:
    pick, when = st.columns([2, 1])
    feature = pick.selectbox(
        "Feature",
        view.features,
        key="monitoring.feature",
        help="sorted by the largest drift in the range",
    )
    windows = list(view.drift.columns)
    chosen = when.selectbox(
        "Window",
        windows,
        index=len(windows) - 1,
        key="monitoring.window",
        format_func=lambda w: f"{w:{date_format(grain)}}",
    )
    found = attempt(
        cached,
        "monitoring",
        "feature_distribution",
        project,
        feature,
        grain,
        chosen.to_pydatetime(),
    )
    if found is None:
        return
    distribution_chart(found, grain, drift_n(view, feature, found.window))
    history = view.drift.loc[feature].dropna()
    vocabulary = found.kind == "vocabulary"
    st.caption(
        f"{feature}: "
        + (
            "share of unseen tokens per window"
            if vocabulary
            else "PSI per window (0 where its test is not significant)"
        )
    )
    history_chart(history, "unseen tokens" if vocabulary else "PSI", grain)


def drift_n(view: Dashboard, feature: str, window: datetime) -> int | None:
    """How many values of ``feature`` its drift in ``window`` rests on (tokens for text)."""
    for statistic in ("psi", "novelty"):
        n = view.count_at(f"drift.{statistic}.{feature}", window)
        if n is not None:
            return n
    return None


def time_labels(starts: list[datetime], grain: str) -> list[str]:
    """Window starts as the range slider shows them."""
    return [f"{s:{date_format(grain)}}" for s in starts]
