"""Operations commands: serve (the prediction service) and simulate (replay later data through it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client


def cmd_serve(args: argparse.Namespace) -> int:
    url = getattr(args, "server", None) or os.environ.get("LOOPLINE_URL", "").strip()
    if url:
        return _serve_host(args, url)
    client(args).serving.serve(
        args.project,
        host=args.host,
        port=args.port,  # a port in use is said before the model loads
        max_body_bytes=args.max_body_bytes,
        log_level=args.log_level,
        access_log=args.access_log,
        ready=_say_serving,
        shadow=args.shadow,
        canary=args.canary,
        workers=args.workers,
    )
    return 0


def _serve_host(args: argparse.Namespace, url: str) -> int:
    """A serving host of the server at ``url``: the model pulled from it, the log shipped."""
    from core.remote.serving import serve

    serve(
        url,
        os.environ.get("LOOPLINE_TOKEN", "").strip() or None,
        args.project,
        host_id=args.host_id,
        cache=args.cache,
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
        log_level=args.log_level,
        access_log=args.access_log,
        poll_seconds=args.poll_seconds,
        ready=_say_serving,
        shadow=args.shadow,
        canary=args.canary,
    )
    return 0


def _say_serving(service: Any) -> None:
    url = service.url
    print(
        f"Serving {service.model} (production of {service.project}) at {url}\n"
        f"  POST {url}/predict  POST {url}/feedback  GET {url}/health  GET {url}/model  "
        f"docs: {url}/docs\n"
        f"  log: {service.log_folder}\n"
        + (f"  candidate: {service.candidate}\n" if getattr(service, "candidate", None) else "")
        + "  Ctrl-C stops it (the log is flushed first).",
        flush=True,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    truth = args.truth or api.serving.sample_truth(args.project)
    token = args.token or os.environ.get("LOOPLINE_TOKEN") or None
    result = api.serving.simulate(
        args.project,
        days=args.days,
        url=args.url,
        start=args.start,
        feedback_rate=args.feedback_rate,
        feedback_delay_days=args.feedback_delay_days,
        truth=truth,
        rate_per_hour=args.rate_per_hour,
        seed=args.seed,
        source=args.file,
        token=token,
        progress=Bar("simulate"),
        truth_columns=_truth_columns(args),
    )
    print(
        f"Replayed {result.items} item(s) of {result.project} from {result.start:%Y-%m-%d %H:%M} "
        f"to {result.end:%Y-%m-%d %H:%M} through {result.url} in {result.seconds:.1f} s "
        f"({result.requests} requests): {result.predicted} predicted, {result.errors} refused."
    )
    print(
        f"Feedback: {result.feedback_sent} label(s) sent, {result.feedback_pending} not yet due. "
        f"Model version(s): {', '.join(map(str, result.model_versions)) or '-'}."
    )
    for name, counts in result.mix.items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if result.first_error:
        print(f"First refusal: {result.first_error}", file=sys.stderr)
    if result.logged is not None:
        print(f"Log: {result.log_folder} ({result.logged} record(s))")
    return 1 if result.errors else 0


def _truth_columns(args: argparse.Namespace) -> dict[str, str] | None:
    given = {"id": args.truth_id_col, "label": args.truth_label_col}
    return {k: v for k, v in given.items() if v} or None


def cmd_candidate(args: argparse.Namespace) -> int:
    api = client(args)
    mode = "shadow" if args.shadow else "canary" if args.canary is not None else args.off
    if mode:
        placed = api.serving.place_candidate(args.project, mode, args.canary)
        print(
            f"{args.project}: the acceptance model runs {placed.text()}"
            if placed
            else f"{args.project}: no candidate runs beside production"
        )
        print(
            "  on every service that follows the project (its serving hosts, and `loopline "
            "serve` without --shadow/--canary), from their next poll"
        )
        return 0
    if args.check_canary:
        checked = api.models.check_canary(args.project)
        print(checked.text())
    comparison = api.models.compare_candidate(args.project)
    if comparison is None:
        print(f"No candidate beside production in {args.project} (nothing in acceptance).")
        return 0
    if args.json:
        from core.api import serialise

        print(json.dumps(serialise(comparison), indent=2))
        return 0
    _print_comparison(comparison)
    return 0


def _print_comparison(c: Any) -> None:
    print(
        f"Candidate #{c.candidate_id} against production #{c.production_id} in {c.project} "
        f"({c.mode}): {c.pairs:,} request(s) scored by both, {c.canary_answers:,} answered "
        "by the candidate"
    )
    print(f"  agreement            {c.agreement.text()}")
    for name, side in (("production", c.production), ("candidate", c.candidate)):
        estimated = "-" if side.estimated_accuracy is None else f"{side.estimated_accuracy:.3f}"
        p95 = "-" if side.latency_p95_ms is None else f"{side.latency_p95_ms:.2f} ms"
        print(
            f"  {name:<11} estimated accuracy {estimated}, realized "
            f"{side.realized_accuracy.text()}, p95 latency {p95}"
        )
    for s in c.slices:
        mark = "" if s.judged else " (too few to judge)"
        print(
            f"  {s.slice}: n {s.n}, agreement {s.agreement.text()}; realized "
            f"production {s.production_accuracy.text()}, candidate "
            f"{s.candidate_accuracy.text()}{mark}"
        )


def add_commands(add: Adder) -> None:
    serve = add(
        "serve",
        cmd_serve,
        "Serve the project's production model over HTTP (POST /predict, POST /feedback, "
        "GET /health, GET /model); every prediction is logged; a newly promoted model is "
        "picked up without a restart.",
    )
    serve.add_argument("project", metavar="PROJECT")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        metavar="N",
        help="larger request bodies are refused with 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server messages (default: %(default)s)",
    )
    serve.add_argument("--access-log", action="store_true", help="print a line per request")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes answering on the port, sharing the loaded model, each logging its own "
        "segments (default: $LOOPLINE_SERVE_WORKERS, else 1)",
    )
    beside = serve.add_mutually_exclusive_group()
    beside.add_argument(
        "--shadow",
        action="store_true",
        help="score every request with the acceptance model too, logged, never answered",
    )
    beside.add_argument(
        "--canary",
        type=float,
        metavar="PERCENT",
        help="the acceptance model answers PERCENT of the keys (sticky per X-Canary-Key "
        "header, else item id); production is scored beside it",
    )
    host = serve.add_argument_group(
        "serving host (with LOOPLINE_URL or --server: the model comes from the server, the log "
        "goes back to it)"
    )
    host.add_argument(
        "--host-id",
        metavar="ID",
        help="this host's name on the server: each host of a project needs its own "
        "(default: $LOOPLINE_HOST_ID, else the machine's name)",
    )
    host.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="where the model and the unshipped log are kept "
        "(default: $LOOPLINE_CACHE, else ~/.cache/loopline)",
    )
    host.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="how often the server is asked for the production model (default: %(default)s)",
    )
    candidate = add(
        "candidate",
        cmd_candidate,
        "Compare the acceptance model with production on the live requests both scored (shadow "
        "or canary): agreement, estimated and realized accuracy with intervals, latency, slices.",
    )
    candidate.add_argument("project", metavar="PROJECT")
    candidate.add_argument(
        "--check-canary",
        action="store_true",
        help="first roll a canary back (acceptance to production's model, audited) if the "
        "project's alert rules fire on it",
    )
    candidate.add_argument("--json", action="store_true", help="print the comparison as JSON")
    runs = candidate.add_mutually_exclusive_group()
    runs.add_argument(
        "--shadow",
        action="store_true",
        help="instead: run the acceptance model in the shadow on every service that follows "
        "the project (serving hosts, `loopline serve` without --shadow/--canary)",
    )
    runs.add_argument(
        "--canary",
        type=float,
        metavar="PERCENT",
        help="instead: the acceptance model answers PERCENT of the keys on every such service",
    )
    runs.add_argument(
        "--off",
        action="store_const",
        const="off",
        help="instead: run no candidate beside production on those services",
    )
    sim = add(
        "simulate",
        cmd_simulate,
        "Replay the project's later data (rows after what the production model was trained on) "
        "through the prediction service in event-time order, with delayed feedback.",
    )
    sim.add_argument("project", metavar="PROJECT")
    sim.add_argument("--days", type=float, required=True, help="how many days of data to replay")
    sim.add_argument(
        "--url", help="a running service (default: start one on a free port for the replay)"
    )
    sim.add_argument(
        "--start",
        metavar="DATE",
        help="replay from this date/time (default: right after the production model's "
        "training data)",
    )
    sim.add_argument(
        "--feedback-rate",
        type=float,
        default=0.7,
        metavar="F",
        help="share of items whose true label comes back (default: %(default)s)",
    )
    sim.add_argument(
        "--feedback-delay-days",
        type=float,
        default=3.0,
        metavar="D",
        help="labels come back about D days after the prediction (default: %(default)s)",
    )
    sim.add_argument(
        "--truth",
        type=Path,
        metavar="FILE",
        help="CSV with the id column and 'label' (default: the data's label column, or the "
        "sample project's data/truth.csv)",
    )
    sim.add_argument(
        "--truth-id-col",
        metavar="COL",
        help="the truth file's column holding the item id (default: the project's id column)",
    )
    sim.add_argument(
        "--truth-label-col",
        metavar="COL",
        help="the truth file's column holding the true label (default: label)",
    )
    sim.add_argument(
        "--rate-per-hour", type=int, metavar="N", help="at most N items per simulated hour"
    )
    sim.add_argument("--seed", type=int, default=0, help="seed for sampling (default: 0)")
    sim.add_argument(
        "--file",
        type=Path,
        metavar="FILE",
        help="replay this file's rows instead of the workspace's",
    )
    sim.add_argument(
        "--token", help="API token for /feedback with --url (default: $LOOPLINE_TOKEN)"
    )
