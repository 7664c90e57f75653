"""Automation commands: `loopline scheduler`, `loopline schedules`, `loopline bisect` and
`loopline webhooks add|list|remove|test|log` (docs/automation.md)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

from core.cli.common import Adder, client, print_table


def add_commands(add: Adder) -> None:
    p = add(
        "scheduler",
        cmd_scheduler,
        "Run scheduled and triggered builds (the project file's `retraining` section) and "
        "deliver webhooks, until stopped (Ctrl-C or SIGTERM).",
    )
    p.add_argument(
        "--poll", type=float, default=30.0, metavar="S", help="seconds between passes (%(default)s)"
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument(
        "--retry-base",
        type=float,
        default=30.0,
        metavar="S",
        help="a failed webhook delivery is retried after S, 2S, 4S, … seconds (%(default)s)",
    )
    p = add(
        "schedules", cmd_schedules, "A project's schedules and triggers, and their last builds."
    )
    p.add_argument("project")
    p = add(
        "bisect",
        cmd_bisect,
        "Find the promoted model version that first broke a check, with the evidence per version "
        "(exit 1 when the newest version fails the check).",
    )
    p.add_argument("project")
    p.add_argument(
        "--check",
        required=True,
        help="a requirement id (ML-3), an expectation ('accuracy >= 0.9', "
        "'recall @ language = de >= 0.8') or a behavioural test of the project's suite "
        "('behave:German out-of-office with a return date')",
    )
    p.add_argument("--every", action="store_true", help="evaluate every version, not log2(n)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _webhook_commands(add)


def _webhook_commands(add: Adder) -> None:
    hooks = add("webhooks", cmd_webhooks_list, "Webhooks: a project's events posted to a URL.")
    group = hooks.add_subparsers(dest="webhooks_command", metavar="COMMAND", required=True)
    p = _command(group, "add", cmd_webhooks_add, "Add a webhook to a project (admins only).")
    p.add_argument("project")
    p.add_argument("url")
    p.add_argument("--format", default="json", choices=("json", "slack"), help="payload format")
    p.add_argument(
        "--event",
        action="append",
        metavar="EVENT",
        help="an event to send (repeat; default: all): alert.opened, alert.resolved, "
        "build.failed, model.promoted, model.rolled_back, requirement.status_changed",
    )
    p.add_argument("--secret", help="the HMAC secret (default: one is made and shown once)")
    p = _command(group, "list", cmd_webhooks_list, "List a project's webhooks.")
    p.add_argument("project")
    p = _command(group, "remove", cmd_webhooks_remove, "Stop a webhook (its log stays).")
    p.add_argument("webhook_id", type=int)
    p = _command(group, "test", cmd_webhooks_test, "Post a test event to a webhook now.")
    p.add_argument("webhook_id", type=int)
    p = _command(group, "log", cmd_webhooks_log, "A project's webhook deliveries, newest first.")
    p.add_argument("project")
    p.add_argument("--webhook", type=int, metavar="ID", help="only this webhook's")
    p.add_argument("--limit", type=int, default=50)


def _command(group: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=text, description=text)
    parser.set_defaults(handler=handler)
    return parser


# -- the scheduler ------------------------------------------------------------------------------


def cmd_scheduler(args: argparse.Namespace) -> int:
    from core.api.automation import run_scheduler

    api = client(args)
    if args.once:
        done = api.automation.scheduler_pass(retry_base_s=args.retry_base)
        for fired in done.fired:
            print(f"{fired.project}: build #{fired.number} {fired.status} ({fired.trigger})")
        print(f"webhooks: {done.pumped.delivered} delivered, {done.pumped.retried} to retry")
        return 0
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        """Stop now: a build under way ends aborted (its row says so) and its lease is let go;
        a second signal during that clean-up is ignored."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"Loopline scheduler on {api.location} as {api.actor.name}", flush=True)
    try:
        run_scheduler(
            api,
            stop,
            poll_s=args.poll,
            retry_base_s=args.retry_base,
            log=lambda line: print(line, flush=True),
        )
    except Exception:
        # a stop that lands inside a query surfaces as DuckDB's "Query interrupted": still a stop
        if not stop.is_set():
            raise
    finally:
        print("Loopline scheduler stopped.", flush=True)
    return 0


def cmd_schedules(args: argparse.Namespace) -> int:
    states = client(args).automation.schedules(args.project)
    if not states:
        print(f"{args.project} has no schedules or triggers (the project file's `retraining`).")
        return 0
    print_table(
        [
            {
                "name": s.name,
                "kind": s.kind,
                "when": s.text,
                "last": f"{s.last_due_at:%Y-%m-%d %H:%M:%S}" if s.last_due_at else "-",
                "build": f"#{s.last_build_number}" if s.last_build_number else "-",
                "next": f"{s.next_due_at:%Y-%m-%d %H:%M:%S}" if s.next_due_at else "-",
            }
            for s in states
        ]
    )
    return 0


# -- bisect -------------------------------------------------------------------------------------


def cmd_bisect(args: argparse.Namespace) -> int:
    from core.api import serialise

    report = client(args).automation.bisect(args.project, args.check, every=args.every)
    if args.json:
        print(json.dumps(serialise(report), indent=2))
        return 1 if report.first_bad is not None else 0
    print(f"{report.project}: {report.check.expectation} over {len(report.versions)} versions")
    behave = bool(report.check.test)
    print_table(
        [
            {
                "version": p.model,
                "promoted": f"{p.promoted_at:%Y-%m-%d}",
                ("pass rate" if behave else "value"): "-" if p.value is None else f"{p.value:.4f}",
                "n": p.n,
                **({"95% CI": _interval(p.lower, p.upper)} if behave else {}),
                "verdict": "pass" if p.passed else "FAIL",
            }
            for p in report.probes
        ]
    )
    for p in report.probes:
        if p.example and not p.passed:
            print(f"{p.model}, e.g. {' '.join(p.example.split())}")  # on one line
    print(report.verdict)
    return 1 if report.first_bad is not None else 0


def _interval(lower: float | None, upper: float | None) -> str:
    return "-" if lower is None or upper is None else f"{lower:.3f}–{upper:.3f}"


# -- webhooks -----------------------------------------------------------------------------------


def cmd_webhooks_add(args: argparse.Namespace) -> int:
    hook = client(args).automation.add_webhook(
        args.project, args.url, format=args.format, events=args.event, secret=args.secret
    )
    print(f"Webhook #{hook.webhook_id} of {hook.project}: {hook.url} ({hook.format})")
    print(f"events: {', '.join(hook.events)}")
    if not args.secret:
        print(
            f"secret (shown once; the receiver checks X-Loopline-Signature with it): {hook.secret}"
        )
    return 0


def cmd_webhooks_list(args: argparse.Namespace) -> int:
    if getattr(args, "project", None) is None:
        print("usage: loopline webhooks {add,list,remove,test,log} …", file=sys.stderr)
        return 2
    hooks = client(args).automation.webhooks(args.project)
    if not hooks:
        print(f"{args.project} has no webhooks.")
    print_table(
        [
            {
                "id": h.webhook_id,
                "url": h.url,
                "format": h.format,
                "events": ", ".join(h.events),
                "state": "active" if h.active else "removed",
                "added": f"{h.created_at:%Y-%m-%d} by {h.created_by}",
            }
            for h in hooks
        ]
    )
    return 0


def cmd_webhooks_remove(args: argparse.Namespace) -> int:
    hook = client(args).automation.remove_webhook(args.webhook_id)
    print(f"Webhook #{hook.webhook_id} ({hook.url}) removed; its delivery log stays.")
    return 0


def cmd_webhooks_test(args: argparse.Namespace) -> int:
    delivery = client(args).automation.test_webhook(args.webhook_id)
    if delivery.status == "delivered":
        print(f"Delivered (HTTP {delivery.last_code}) as delivery #{delivery.delivery_id}.")
        return 0
    print(f"Not delivered: {delivery.last_error}", file=sys.stderr)
    return 1


def cmd_webhooks_log(args: argparse.Namespace) -> int:
    deliveries = client(args).automation.deliveries(
        args.project, webhook_id=args.webhook, limit=args.limit
    )
    if not deliveries:
        print(f"No webhook deliveries for {args.project}.")
    print_table([delivery_row(d) for d in deliveries])
    return 0


def delivery_row(d: Any) -> dict[str, Any]:
    return {
        "id": d.delivery_id,
        "webhook": d.webhook_id,
        "event": d.event,
        "status": d.status,
        "tries": d.attempts,
        "answer": d.last_code if d.last_code is not None else (d.last_error or "-"),
        "queued": f"{d.created_at:%Y-%m-%d %H:%M:%S}",
        "next try": f"{d.next_attempt_at:%H:%M:%S}" if d.status == "pending" else "-",
    }
