"""The demo happens on its story's calendar (May–September 2026, sample_data/*/demo.yaml), not
in the minutes it took to build: what it wrote carries the story's dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from core.builds.service import list_builds
from core.monitoring.alerts import list_alerts
from core.requirements.status import status_history
from core.store import Workspace, utcnow

FIRST = datetime(2026, 5, 4, 8, 0)  # the demo's accounts, an hour before ooo-replies starts
END = datetime(2026, 10, 1)  # the last served window ends here
WALL_CLOCK = {("schema_migrations", "applied_at")}  # when this workspace file was made
WRITTEN_AT = [  # columns holding when something happened (not when data was observed)
    ("audit_log", "at"),
    ("artifacts", "created_at"),
    ("requirement_status_history", "at"),
    ("builds", "started_at"),
    ("alerts", "created_at"),
    ("projects", "created_at"),
    ("tasks", "created_at"),
    ("annotations", "created_at"),
    ("runs", "started_at"),
    ("users", "created_at"),
]


def _timestamp_columns(ws: Workspace) -> list[tuple[str, str]]:
    with ws.store.read() as tx:
        rows = tx.rows(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type LIKE 'TIMESTAMP%' ORDER BY 1, 2"
        )
    return [(str(t), str(c)) for t, c in rows if (t, c) not in WALL_CLOCK]


def _span(ws: Workspace, table: str, column: str) -> tuple[datetime | None, datetime | None]:
    with ws.store.read() as tx:
        row = tx.one(
            f'SELECT min("{column}"), max("{column}") FROM "{table}"'
        )  # names from the schema
    assert row is not None
    return row[0], row[1]


def test_nothing_the_demo_wrote_carries_the_time_it_was_built(demo_pristine: Path) -> None:
    ws = Workspace.open(demo_pristine)
    assert utcnow() > END  # else this test could not tell the story's dates from the build's
    late = {}
    for table, column in _timestamp_columns(ws):
        if column == "expires_at":  # a lifetime ahead of when it was made, by design
            continue
        _, newest = _span(ws, table, column)
        bound = END + timedelta(days=7) if "window" in column else END  # a week from September
        if newest is not None and newest > bound:
            late[f"{table}.{column}"] = newest
    assert late == {}
    for table, column in WRITTEN_AT:
        oldest, newest = _span(ws, table, column)
        assert oldest is not None and newest is not None, f"{table} is empty"
        assert oldest >= FIRST and newest <= END, (table, column, oldest, newest)


def test_the_audit_log_has_entries_in_every_month_of_the_story(demo_pristine: Path) -> None:
    ws = Workspace.open(demo_pristine)
    with ws.store.read() as tx:
        months = [
            int(r[0]) for r in tx.rows('SELECT DISTINCT month("at") FROM audit_log ORDER BY 1')
        ]
    assert months == [5, 6, 7, 8, 9]


def test_story_a_breaks_in_august_and_is_fixed_in_september(demo_pristine: Path) -> None:
    ws = Workspace.open(demo_pristine)
    history = status_history(ws, "ooo-replies", "ML-3")[::-1]  # oldest first
    assert history[0].at.date() == date(2026, 5, 6)  # the requirements were agreed in May
    broke = [h.at for h in history if h.previous_status == "met" and h.source == "monitoring"]
    assert broke and date(2026, 8, 31) <= broke[0].date() <= date(2026, 9, 1)
    latest = history[-1]  # judged on the new model from the day it is promoted
    assert latest.at.date() >= date(2026, 9, 4) and latest.model_version == 2
    builds = sorted(list_builds(ws, "ooo-replies"), key=lambda b: b.build_id)
    assert [b.started_at.date() for b in builds] == [
        date(2026, 7, 27),
        date(2026, 9, 3),
        date(2026, 9, 4),
    ]
    opened = {a.created_at.date() for a in list_alerts(ws, "ooo-replies")}
    # by August's monitoring, the shadow days' (production v1 still answers) and September's
    assert opened == {date(2026, 8, 31), date(2026, 9, 4), date(2026, 9, 30)}


def test_story_b_is_retrained_after_the_summer_rollout(demo_pristine: Path) -> None:
    ws = Workspace.open(demo_pristine)
    builds = sorted(list_builds(ws, "hw-triage"), key=lambda b: b.build_id)
    assert [b.started_at.date() for b in builds] == [date(2026, 6, 30), date(2026, 9, 2)]
    history = [h.at for h in status_history(ws, "hw-triage", "SYS-1")]
    assert min(history).date() == date(2026, 5, 20) and max(history).month == 9
