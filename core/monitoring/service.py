"""`loopline monitor`: compute the log's windows, record their figures, raise alerts.

One call scans the log once per figure family (in its own in-memory DuckDB), then writes every
figure of the windows it computed to ``monitor_metrics`` and evaluates the alert rules, all in
one transaction of the store. Windows are recomputed when new predictions or feedback touched
them (or, with ``last``, the latest N windows), so running it from cron is cheap.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.accounts.audit import record
from core.actor import SYSTEM, Actor
from core.artifacts.models import Artifact
from core.artifacts.service import find_artifact
from core.errors import InvalidInput, NotFound
from core.monitoring import figures as fig
from core.monitoring.alerts import (
    AlertRule,
    RuleOutcome,
    default_rules,
    evaluate_rules,
    list_alerts,
)
from core.monitoring.drift import drift_summary, window_drift
from core.monitoring.log import LogReader, check_grain
from core.monitoring.models import FeatureDrift, MonitorReport, Reference, Window
from core.monitoring.reference import ensure_reference
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.store import Tx, Workspace, utcnow

Progress = Callable[[str, float], None]
LATE_MARGIN = timedelta(minutes=5)  # a segment is finished within seconds of its records


def bucket_sql(grain: str) -> str:
    return f"time_bucket(INTERVAL '{check_grain(grain)}', ts)"  # from a closed set: safe


def window_end(start: datetime, grain: str) -> datetime:
    return (
        start
        + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[grain]
    )


def resolve_model(ws: Workspace, logged: str) -> Artifact | None:
    """The model artifact behind a logged ``model_id`` (an artifact id, or a reference)."""
    try:
        found = find_artifact(ws, logged)
    except InvalidInput:
        return None
    return found if found is not None and found.kind == "model" else None


def _choose_windows(
    ws: Workspace, reader: LogReader, project: str, grain: str, last: int | None
) -> list[datetime]:
    bucket = bucket_sql(grain)
    if last is not None:
        if last < 1:
            raise InvalidInput(f"--last takes a positive number of windows, got {last}.")
        rows = reader.rows(
            f"SELECT DISTINCT {bucket} AS w FROM predictions WHERE ts IS NOT NULL ORDER BY w DESC LIMIT ?",
            [last],
        )
        return sorted(r[0] for r in rows)
    with ws.store.read() as tx:
        since = tx.scalar(
            "SELECT max(computed_at) FROM monitor_metrics WHERE project = ? AND grain = ?",
            [project, grain],
        )
    if since is None or not reader.has("received_at"):
        rows = reader.rows(f"SELECT DISTINCT {bucket} FROM predictions WHERE ts IS NOT NULL")
        return sorted(r[0] for r in rows)
    after = since - LATE_MARGIN
    rows = reader.rows(
        f"SELECT DISTINCT {bucket} FROM predictions WHERE ts IS NOT NULL AND received_at > ? "
        f"UNION SELECT DISTINCT {bucket} FROM predictions WHERE ts IS NOT NULL AND request_id IN "
        "(SELECT request_id FROM feedback WHERE received_at > ?)",
        [after, after],
    )
    return sorted({r[0] for r in rows} | _windows_of_late_segments(reader, bucket, after))


def _windows_of_late_segments(reader: LogReader, bucket: str, after: datetime) -> set[datetime]:
    """Windows of segments that reached the workspace after ``after`` whatever their records'
    times say: a serving host that could not reach the server ships its spool when it is back,
    and those predictions count in windows computed before they arrived."""
    cutoff = after.replace(tzinfo=UTC).timestamp()
    late = [f for f in reader.prediction_files if os.path.getmtime(f) > cutoff]
    late_feedback = [f for f in reader.feedback_files if os.path.getmtime(f) > cutoff]
    found: set[datetime] = set()
    if late:
        found |= {
            r[0]
            for r in reader.rows(
                f"SELECT DISTINCT {bucket} FROM read_parquet(?, union_by_name = true) "
                "WHERE ts IS NOT NULL",
                [late],
            )
        }
    if late_feedback:
        found |= {
            r[0]
            for r in reader.rows(
                f"SELECT DISTINCT {bucket} FROM predictions "
                "WHERE ts IS NOT NULL AND request_id IN "
                "(SELECT request_id FROM read_parquet(?, union_by_name = true))",
                [late_feedback],
            )
        }
    return found


def compute_windows(
    ws: Workspace,
    project: str,
    *,
    grain: str = "day",
    last: int | None = None,
    rules: Sequence[AlertRule] | None = None,
    extra_rules: Sequence[AlertRule] = (),
    actor: Actor = SYSTEM,
    progress: Progress | None = None,
) -> MonitorReport:
    """Compute, record and check the windows that changed (or the latest ``last``)."""
    report = progress or (lambda stage, fraction: None)
    spec = get_project(ws, project).spec
    check_grain(grain)
    notes: list[str] = []
    with LogReader(ws.root, project) as reader:
        if reader.empty:
            notes.append(
                f"No predictions logged for {project} yet (looked in logs/{project}/predictions)."
            )
            return _unchanged(ws, project, grain, notes)
        report("choosing windows", 0.02)
        windows = _choose_windows(ws, reader, project, grain, last)
        if not windows:
            notes.append("No new predictions or feedback since the last run.")
            return _unchanged(ws, project, grain, notes)
        served = _served(reader, grain, windows)
        models = {key: resolve_model(ws, key) for key in sorted(set().union(*served.values()))}
        references = _references(ws, models, actor, notes, report)
        dominant = {w: c.most_common(1)[0][0] for w, c in served.items()}
        figures = _figures(reader, spec, references, report)
        drift = _drift(reader, bucket_sql(grain), dominant, references, report)
        _drift_figures(drift, figures)
    report("recording", 0.9)
    chosen_rules = list(rules if rules is not None else default_rules(spec)) + list(extra_rules)
    served_by = {window: models.get(key) for window, key in dominant.items()}
    result_windows = tuple(
        _window(project, grain, window, served_by.get(window), figures) for window in windows
    )
    with ws.store.transaction() as tx:
        _upsert(tx, project, grain, result_windows, figures)
        outcome = evaluate_rules(
            ws, tx, spec, result_windows, chosen_rules, references, drift, dominant, actor
        )
        _audit(tx, actor, project, grain, result_windows, outcome)
    report("done", 1.0)
    return MonitorReport(
        project,
        grain,
        result_windows,
        {w.isoformat(): tuple(r) for w, r in drift.items()},
        tuple(outcome.opened),
        tuple(open_alerts(ws, project)),
        tuple(notes),
    )


def _unchanged(ws: Workspace, project: str, grain: str, notes: list[str]) -> MonitorReport:
    """The report of a run that computed no window (nothing logged, or nothing new)."""
    return MonitorReport(project, grain, (), {}, (), tuple(open_alerts(ws, project)), tuple(notes))


def _served(reader: LogReader, grain: str, windows: list[datetime]) -> dict[datetime, Counter[str]]:
    """Scope the reader to the chosen windows (the ``chosen`` view) and count, per window, the
    predictions each logged model served."""
    bucket = bucket_sql(grain)
    reader.con.execute(
        "CREATE OR REPLACE TEMP TABLE chosen_windows AS SELECT unnest(?::TIMESTAMP[]) AS w",
        [windows],
    )
    reader.con.execute(
        f"CREATE OR REPLACE TEMP VIEW chosen AS SELECT {bucket} AS w, * FROM predictions "
        f"WHERE {bucket} IN (SELECT w FROM chosen_windows)"
    )
    served: dict[datetime, Counter[str]] = defaultdict(Counter)
    for window, model, count in reader.rows(
        "SELECT w, CAST(model_id AS VARCHAR), count(*) FROM chosen GROUP BY ALL"
    ):
        served[window][str(model)] += int(count)
    return served


def _references(
    ws: Workspace,
    models: dict[str, Artifact | None],
    actor: Actor,
    notes: list[str],
    report: Progress,
) -> dict[str, Reference | None]:
    """Each logged model's reference (its training data's profile), computed once per model."""
    references: dict[str, Reference | None] = {}
    for index, (key, model) in enumerate(sorted(models.items())):
        report(f"reference of model {key}", 0.05 + 0.25 * index / max(1, len(models)))
        references[key] = _reference(ws, model, actor, notes) if model else None
        if model is None:
            notes.append(f"Logged model {key!r} is not a registered model of this workspace.")
    return references


def _figures(
    reader: LogReader,
    spec: ProjectSpec,
    references: dict[str, Reference | None],
    report: Progress,
) -> fig.Figures:
    """Operations, slice volumes, realized and estimated performance of the chosen windows."""
    figures: fig.Figures = defaultdict(dict)
    classes = list(spec.labels.classes)
    report("volume, latency, class mix", 0.35)
    slices = fig.slice_sql(spec, reader)
    fig.operations(reader, classes, figures)
    fig.slice_volumes(reader, slices, figures)
    report("realized and estimated performance", 0.45)
    fig.realized(reader, classes, slices, figures)
    fig.estimated(reader, spec, references, slices, figures)
    return figures


def _drift(
    reader: LogReader,
    bucket: str,
    dominant: dict[datetime, str],
    references: dict[str, Reference | None],
    report: Progress,
) -> dict[datetime, list[FeatureDrift]]:
    """Every window's drift against the training data of the model that served most of it."""
    drift: dict[datetime, list[FeatureDrift]] = {}
    groups: dict[str, list[datetime]] = defaultdict(list)
    for window, key in dominant.items():
        groups[key].append(window)
    for index, (key, group) in enumerate(sorted(groups.items())):
        reference = references.get(key)
        report(f"drift against model {key}'s training data", 0.55 + 0.3 * index / len(groups))
        if reference is not None:
            drift.update(window_drift(reader, bucket, sorted(group), reference))
    return drift


def _drift_figures(drift: dict[datetime, list[FeatureDrift]], figures: fig.Figures) -> None:
    """Each drift statistic as a figure (``drift.<statistic>.<feature>``), and the summary."""
    for window, results in drift.items():
        for result in results:
            for statistic, value in result.statistics.items():
                if statistic in ("ks_error", "novelty_reference"):
                    continue
                name = f"drift.{statistic}.{result.feature}"
                fig._put(figures, window, name, "", value, result.n, "drift")
        volume = figures[window].get(("volume", ""), (None, None, ""))[1]
        for metric, value in drift_summary(results).items():
            fig._put(figures, window, metric, "", value, volume, "drift")


def _window(
    project: str, grain: str, start: datetime, model: Artifact | None, figures: fig.Figures
) -> Window:
    return Window(
        project,
        grain,
        start,
        window_end(start, grain),
        model.artifact_id if model else None,
        model.version if model else None,
        {key: (value, n) for key, (value, n, _) in figures[start].items()},
    )


def _audit(
    tx: Tx,
    actor: Actor,
    project: str,
    grain: str,
    windows: Sequence[Window],
    outcome: RuleOutcome,
) -> None:
    record(
        tx,
        actor,
        "monitor.record",
        project=project,
        target=f"{grain} windows",
        details={
            "windows": len(windows),
            "from": windows[0].start,
            "to": windows[-1].start,
            "alerts_opened": [a.alert_id for a in outcome.opened],
            "alerts_resolved": outcome.resolved,
        },
    )


def _reference(ws: Workspace, model: Artifact, actor: Actor, notes: list[str]) -> Reference | None:
    try:
        return ensure_reference(ws, model, actor)
    except NotFound as error:
        notes.append(error.message)
        return None


def _upsert(
    tx: Tx, project: str, grain: str, windows: Sequence[Window], figures: fig.Figures
) -> None:
    starts = [w.start for w in windows]
    tx.execute(
        "DELETE FROM monitor_metrics WHERE project = ? AND grain = ? "
        "AND window_start IN (SELECT unnest(?::TIMESTAMP[]))",
        [project, grain, starts],
    )
    columns: dict[str, list[Any]] = defaultdict(list)
    for window in windows:
        for (metric, slice_name), (value, n, kind) in sorted(figures[window.start].items()):
            for key, item in (
                ("model_id", None if window.model_id is None else str(window.model_id)),
                ("model_version", window.model_version),
                ("start", window.start),
                ("end", window.end),
                ("metric", metric),
                ("slice", slice_name),
                ("value", value),
                ("n", n),
                ("kind", kind),
            ):
                columns[key].append(item)
    if not columns:
        return
    tx.execute(
        """
        INSERT INTO monitor_metrics (project, model_id, model_version, grain, window_start,
            window_end, metric, slice, value, n, kind, computed_at)
        SELECT ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[]), ?, unnest(?::TIMESTAMP[]),
               unnest(?::TIMESTAMP[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
               unnest(?::DOUBLE[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), ?
        """,
        [
            project,
            columns["model_id"],
            columns["model_version"],
            grain,
            columns["start"],
            columns["end"],
            columns["metric"],
            columns["slice"],
            columns["value"],
            columns["n"],
            columns["kind"],
            utcnow(),
        ],
    )


def open_alerts(ws: Workspace, project: str) -> list[Any]:
    return list_alerts(ws, project, status="open")
