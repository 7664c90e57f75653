"""Monitoring commands: monitor (figures, drift, alerts; exit 1 while an alert is open), alerts,
and alert ack / label / retrain (the loop back from an alert)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from core.cli.common import Adder, client, print_table

SHOWN = {
    "volume": "volume",
    "error_rate": "errors",
    "latency_p95_ms": "p95 ms",
    "labeled": "labeled",
    "accuracy": "accuracy",
    "estimated.accuracy": "est. acc.",
    "drift.score": "drift",
}


def _number(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if metric in ("volume", "labeled"):
        return f"{value:,.0f}"
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric.endswith("_ms"):
        return f"{value:.1f}"
    if metric == "p":
        return f"{value:.3g}"
    return f"{value:.3f}"


def _alert_json(alert: Any) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "severity": alert.severity,
        "status": alert.status,
        "active": alert.active,
        "rule": alert.rule,
        "metric": alert.metric,
        "name": alert.name,
        "slice": alert.slice,
        "value": alert.value,
        "threshold": alert.threshold,
        "reference": alert.reference,
        "grain": alert.grain,
        "first_window": alert.first_window.isoformat(),
        "last_window": alert.last_window.isoformat(),
        "windows": alert.windows,
        "artifact_id": alert.artifact_id,
        "resolution": alert.resolution,
        "model_id": alert.model_id,
        "acks": [{"actor": a, "note": n, "at": t.isoformat()} for a, n, t in alert.acks],
    }


def cmd_monitor(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    report = api.monitoring.compute_windows(
        args.project,
        grain=args.window,
        last=args.last,
        progress=None if args.json else Bar("monitor"),
    )
    windows = api.monitoring.latest_windows(args.project, args.window, args.last or 14)
    drifted = next((w for w in reversed(windows) if api.monitoring.drift_table(w)), None)
    table = api.monitoring.drift_table(drifted) if drifted else {}
    for result in report.drift.get(drifted.start.isoformat(), ()) if drifted else ():
        if "ks_error" in result.statistics and result.feature in table:
            table[result.feature]["ks_error_bound"] = result.statistics["ks_error"]
    if args.json:
        print(
            json.dumps(
                {
                    "project": args.project,
                    "grain": args.window,
                    "computed": len(report.windows),
                    "windows": [
                        {
                            "start": w.start.isoformat(),
                            "end": w.end.isoformat(),
                            "model_id": w.model_id,
                            "model_version": w.model_version,
                            "metrics": {
                                m: v for (m, s), (v, _) in sorted(w.metrics.items()) if not s
                            },
                        }
                        for w in windows
                    ],
                    "drift": table,
                    "new_alerts": [a.alert_id for a in report.new_alerts],
                    "open_alerts": [_alert_json(a) for a in report.open_alerts],
                    "notes": list(report.notes),
                },
                indent=1,
                default=str,
            )
        )
        return 1 if report.open_alerts else 0
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if windows:
        print(
            f"{args.project} · {args.window} windows · computed {len(report.windows):,} now · "
            f"showing the latest {len(windows)}"
        )
        print_table(
            [
                {
                    "window": f"{w.start:%Y-%m-%d %H:%M}"
                    if args.window == "hour"
                    else f"{w.start:%Y-%m-%d}",
                    "model": f"v{w.model_version}" if w.model_version else "?",
                    **{label: _number(metric, w.value(metric)) for metric, label in SHOWN.items()},
                }
                for w in windows
            ]
        )
    if drifted is not None:
        print(
            f"\nDrift per feature in {drifted.when} (vs the training data "
            f"of model v{drifted.model_version}), ranked by drift score; "
            f"{api.monitoring.DRIFT_RULE}:"
        )
        ranked = api.monitoring.drift_rows([{"feature": f, **v} for f, v in table.items()])
        print_table(
            [
                {
                    "feature": row["feature"],
                    "score": _number("score", row["score"]),
                    "drifted": "yes" if row["drifted"] else "no",
                    **{s: _number(s, row.get(s)) for s in ("psi", "p")},
                    "test": row["test"] or "—",
                    **{s: _number(s, row.get(s)) for s in ("js", "ks", "novelty")},
                }
                for row in ranked
            ]
        )
    if report.new_alerts:
        print(f"\nNew alerts: {', '.join(f'#{a.alert_id}' for a in report.new_alerts)}")
    if report.open_alerts:
        print(f"\nOpen alerts ({len(report.open_alerts)}):")
        for alert in report.open_alerts:
            print(f"  #{alert.alert_id} {alert.severity}: {alert.describe()}")
        print("Acknowledge with `loopline alert ack ID --note TEXT`.")
        return 1
    print("\nNo open alerts.")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    api = client(args)
    api.projects.get(args.project)
    alerts = api.monitoring.alerts(args.project, status=None if args.all else "open")
    incidents = api.monitoring.group_alerts(alerts)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "incident": i.incident_id,
                        "status": i.status,
                        "severity": i.severity,
                        "firing": i.firing,
                        "alerts": [_alert_json(a) for a in i.alerts],
                    }
                    for i in incidents
                ],
                indent=1,
            )
        )
        return 0
    if not alerts:
        print("No open alerts." if not args.all else "No alerts.")
        return 0
    for incident in incidents:
        print(f"\n{incident.label} · {incident.status}{' · firing' if incident.firing else ''}")
        print_table(
            [
                {
                    "id": a.alert_id,
                    "severity": a.severity,
                    "status": a.status + (" (firing)" if a.active else ""),
                    "metric": a.name,
                    "value": a.value_text,
                    "grain": a.grain,
                    "windows": f"{a.first_window:%Y-%m-%d} … {a.last_window:%Y-%m-%d} ({a.windows})",
                    "resolution": a.resolution or "",
                }
                for a in incident.alerts
            ]
        )
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    monitoring = client(args).monitoring
    if args.action == "ack":
        alert = monitoring.acknowledge(args.alert, args.note or "")
        print(f"Acknowledged {alert.label}.")
    elif args.action == "label":
        task = monitoring.send_to_labeling(args.alert, limit=args.limit)
        print(
            f"Created labeling task #{task.task_id} “{task.name}” with "
            f"{task.items:,} item{'' if task.items == 1 else 's'} from alert #{args.alert}."
        )
    else:
        request = monitoring.request_retraining(args.alert, args.note or "")
        print(
            f"Retraining request #{request.request_id} is pending; the next `loopline build "
            f"{request.project}` picks it up."
        )
    return 0


def add_commands(add: Adder) -> None:
    monitor = add(
        "monitor",
        cmd_monitor,
        "Compute and record the latest monitoring windows from the prediction log: volume, "
        "latency, accuracy (realized and estimated), drift per feature, alerts; exit 1 while an "
        "alert is open.",
    )
    monitor.add_argument("project")
    monitor.add_argument(
        "--window", choices=("hour", "day", "week"), default="day", help="window size (default day)"
    )
    monitor.add_argument(
        "--last",
        type=int,
        metavar="N",
        help="recompute the latest N windows (default: every window new predictions or feedback touched)",
    )
    monitor.add_argument("--json", action="store_true", help="print JSON instead of tables")
    alerts = add(
        "alerts",
        cmd_alerts,
        "List a project's open alerts, grouped into incidents (--all: acknowledged and resolved "
        "ones too, with why each ended).",
    )
    alerts.add_argument("project")
    alerts.add_argument(
        "--all", action="store_true", help="include acknowledged and resolved alerts"
    )
    alerts.add_argument("--json", action="store_true", help="print JSON")
    alert = add(
        "alert",
        cmd_alert,
        "Act on an alert: ack (with --note), label (send its drifted, uncertain live items to a "
        "labeling task) or retrain (open a retraining request the next build picks up).",
    )
    alert.add_argument("action", choices=("ack", "label", "retrain"))
    alert.add_argument("alert", type=int, metavar="ALERT_ID")
    alert.add_argument("--note", help="ack: what is being done about it; retrain: why")
    alert.add_argument("--limit", type=int, default=200, help="label: how many items (default 200)")
