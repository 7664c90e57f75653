"""The Home page's picture: each project as the loop DM → Mod → Dev → Ops and where it stands."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.accounts.access import visible_projects
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import count_by_kind, find_artifact
from core.builds.service import list_builds
from core.experiments.search import search_runs
from core.monitoring.alerts import list_alerts
from core.projects.service import Project, list_projects
from core.registry.service import find_alias
from core.requirements.rules import MIN_N
from core.requirements.status import status_summary
from core.stats import wilson_rate
from core.store import Workspace


@dataclass(frozen=True)
class Stage:
    key: str  # "dm", "mod", "dev", "ops"
    title: str
    state: str  # "done", "attention", "empty"
    headline: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectOverview:
    project: Project
    stages: tuple[Stage, ...]
    counts: dict[str, int]
    requirements: dict[str, int] = field(default_factory=dict)  # ML requirements per status
    open_alerts: int = 0


def _latest(ws: Workspace, kind: str, name: str) -> Artifact | None:
    return find_artifact(ws, f"{kind}:{name}")


def project_overview(ws: Workspace, project: Project) -> ProjectOverview:
    name = project.name
    counts = count_by_kind(ws, project=name)
    dataset = _latest(ws, "dataset", name)
    label_set = _latest(ws, "label_set", name)
    if dataset is None:
        dm = Stage("dm", "Data management", "empty", "no data yet", ("ingest a file to start",))
    else:
        rows = dataset.metadata.get("rows", "?")
        span = dataset.metadata.get("time_range") or {}
        details = [f"{rows:,} rows" if isinstance(rows, int) else f"{rows} rows"]
        if span:
            details.append(f"{str(span.get('from', ''))[:10]} → {str(span.get('to', ''))[:10]}")
        details.append(
            f"label set v{label_set.version}" if label_set else "no frozen label set yet"
        )
        dm = Stage(
            "dm",
            "Data management",
            "done" if label_set else "attention",
            f"dataset v{dataset.version}",
            tuple(details),
        )

    runs = search_runs(ws, name, limit=1, metrics_columns=False).total
    production = find_alias(ws, name)
    if production is None:
        mod = Stage(
            "mod",
            "ML modeling",
            "done" if runs else "empty",
            _count(runs, "run") if runs else "no runs yet",
            ("no model in production yet",) if runs else ("train once a label set is frozen",),
        )
    else:
        accuracy = production.metadata.get("metrics", {}).get("accuracy")
        details = [f"{_count(runs, 'run')}, {_count(counts.get('model', 0), 'registered version')}"]
        if accuracy is not None:
            details.append(f"production accuracy {accuracy:.3f}")
        mod = Stage(
            "mod", "ML modeling", "done", f"production v{production.version}", tuple(details)
        )
    builds = list_builds(ws, name)
    if builds:
        last = builds[0]
        failed = sum(b.status != "successful" for b in builds)
        dev = Stage(
            "dev",
            "Build & release",
            "done" if last.status == "successful" else "attention",
            f"build {last.label} {last.status}",
            (f"{_count(len(builds), 'build')}, {failed} not successful", last.reason[:80]),
        )
    else:
        dev = Stage(
            "dev",
            "Build & release",
            "empty",
            "no builds yet",
            ("`loopline build` runs the CI gate",),
        )
    ops, alerts = _operations(ws, name)

    health = status_summary(ws, name).get("ml", {})
    return ProjectOverview(project, (dm, mod, dev, ops), counts, health, alerts)


def _operations(ws: Workspace, name: str) -> tuple[Stage, int]:
    """Live traffic as monitoring recorded it (day windows), and the open alerts."""
    alerts = list_alerts(ws, name, status="open")
    with ws.store.read() as tx:
        row = tx.one(
            "SELECT count(DISTINCT window_start), max(window_start), "
            "sum(value) FILTER (WHERE metric = 'volume') FROM monitor_metrics "
            "WHERE project = ? AND grain = 'day' AND slice = ''",
            [name],
        )
        last = {
            str(metric): (float(value), None if n is None else int(n))
            for metric, value, n in tx.rows(
                "SELECT metric, value, n FROM monitor_metrics WHERE project = ? AND grain = 'day' "
                "AND slice = '' AND window_start = ? AND metric IN "
                "('volume', 'accuracy', 'estimated.accuracy', 'latency_p95_ms')",
                [name, row[1] if row else None],
            )
            if value is not None
        }
    windows, latest, volume = row if row else (0, None, None)
    if not windows:
        return (
            Stage(
                "ops",
                "Operations",
                "empty",
                "not serving yet",
                ("`loopline serve` starts the prediction service",),
            ),
            len(alerts),
        )
    details = [
        f"{_count(int(volume or 0), 'prediction')} over {_count(windows, 'day')}, "
        f"last {latest:%Y-%m-%d}"
    ]
    realized = _accuracy_text(last.get("accuracy"), "realized")
    estimated = _accuracy_text(last.get("estimated.accuracy"), "estimated")
    if realized and not realized.startswith("too few"):
        details.append(realized)
    elif estimated:
        details.append(estimated + (f"; {realized}" if realized else ""))
    elif realized:
        details.append(realized)
    headline = _count(len(alerts), "open alert") if alerts else "no open alerts"
    return Stage(
        "ops", "Operations", "attention" if alerts else "done", headline, tuple(details)
    ), len(alerts)


def _accuracy_text(figure: tuple[float, int | None] | None, kind: str) -> str:
    """``accuracy 0.912 (realized, n = 319, 95% CI 0.880–0.937)``, or ``too few labels (n = 2)
    for realized accuracy`` below a rate's minimum sample."""
    if figure is None:
        return ""
    value, n = figure
    if n is None:
        return f"accuracy {value:.3f} ({kind}, n unknown)"
    if n < MIN_N["proportion"]:
        what = "labels" if kind == "realized" else "predictions"
        return f"too few {what} (n = {n:,}) for {kind} accuracy"
    interval = wilson_rate(value, n)
    return f"accuracy {value:.3f} ({kind}, {interval.text()})"


def workspace_overview(ws: Workspace, actor: Actor | None = None) -> list[ProjectOverview]:
    """Every project the actor may see (all of them without accounts or an actor)."""
    with ws.store.read() as tx:  # one open of the file for the whole page
        projects = list_projects(ws)
        shown = set(visible_projects(tx, actor, [p.name for p in projects]))
        return [project_overview(ws, p) for p in projects if p.name in shown]


def _count(n: int, noun: str) -> str:
    """ "1 run", "3 runs" (never "run(s)")."""
    return f"1 {noun}" if n == 1 else f"{n:,} {noun}s"
