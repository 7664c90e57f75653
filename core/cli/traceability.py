"""Traceability commands: trace, model-card, verify-system, impact and derive.

The requirement set itself (import, export, list, show, history, edit, …) is handled by
``core/cli/requirements.py``.
"""

from __future__ import annotations

import argparse

from core.cli.common import Adder, client, counted, write_out

DERIVE_INPUTS = (
    "volume",
    "base_rate",
    "tolerated",
    "expected_recall",
    "failure_share",
    "period",
    "budget_ms",
    "other_ms",
    "base_rate_n",
    "expected_recall_n",
)


def cmd_trace(args: argparse.Namespace) -> int:
    write_out(client(args).requirements.trace_export(args.project, args.format), args.out)
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    requirements = client(args).requirements
    card = requirements.model_card(args.project, args.version)
    render = (
        requirements.model_card_html if args.format == "html" else requirements.model_card_markdown
    )
    write_out(render(card), args.out)
    return 0


def cmd_verify_system(args: argparse.Namespace) -> int:
    from core.progress import Bar

    done = client(args).requirements.verify_system(args.project, progress=Bar("verify-system"))
    overall = done.overall
    print(
        f"Verification #{done.verification_id} of {done.model_ref} on {done.items:,} test items "
        f"through {done.path}: "
        + ", ".join(
            f"{k} {overall[k]:.3f}"
            for k in ("accuracy", "f1_macro", "latency_p95_ms")
            if k in overall
        )
    )
    changed = counted(done.changes, "status", "statuses")
    print(f"{changed} changed; violated: {', '.join(done.violated) or 'none'}")
    if done.inconclusive:
        failing = (
            f" (failing, as they require: {', '.join(done.inconclusive_failing)})"
            if done.inconclusive_failing
            else ""
        )
        print(f"inconclusive: {', '.join(done.inconclusive)}{failing}")
    if done.no_check:
        print(f"no check yet (nothing to verify): {', '.join(done.no_check)}")
    return 1 if done.fails else 0


def cmd_impact(args: argparse.Namespace) -> int:
    requirements = client(args).requirements
    result = requirements.impact(args.project, model=args.model, build=args.build)
    if args.json:
        print(requirements.impact_json(result))
    else:
        print(result.summary)
        for change in result.changes:
            print(f"  {change.message}")
    return 1 if result.violates else 0


def cmd_derive(args: argparse.Namespace) -> int:
    from core.api import InvalidInput

    requirements = client(args).requirements
    inputs = {k: getattr(args, k) for k in DERIVE_INPUTS if getattr(args, k) is not None}
    done = requirements.derive(args.kind, inputs, args.metric)
    for step in done.steps:
        print(step)
    if args.create:
        if not (args.project and args.id and args.derived_from and args.metric):
            raise InvalidInput(
                "--create needs --project, --id, --derived-from and --metric.",
                hint="e.g. --create --project ooo-replies --id ML-9 --derived-from SYS-1 --metric precision.out_of_office",
            )
        result = requirements.create_derived(
            args.project,
            args.id,
            done,
            derived_from=args.derived_from,
            evidence=args.evidence,
            title=args.title,
        )
        print(result.summary)
    return 0


def add_commands(add: Adder) -> None:
    trace = add(
        "trace", cmd_trace, "The traceability matrix with its evidence (CSV, HTML, YAML, ReqIF)."
    )
    trace.add_argument("project", metavar="PROJECT")
    trace.add_argument("--format", choices=["csv", "html", "yaml", "reqif"], default="csv")
    trace.add_argument("--out", metavar="FILE", help="default: print")
    card = add(
        "model-card", cmd_model_card, "A model version's card with every requirement's status."
    )
    card.add_argument("project", metavar="PROJECT")
    card.add_argument("--version", type=int, help="default: the production model")
    card.add_argument("--format", choices=["md", "html"], default="md")
    card.add_argument("--out", metavar="FILE")
    verify = add(
        "verify-system",
        cmd_verify_system,
        "Run the production model end to end on the large test set; record it as evidence (exit 1 if an ML requirement is violated, or inconclusive where it says fail_when_inconclusive).",
    )
    verify.add_argument("project", metavar="PROJECT")
    imp_cmd = add(
        "impact",
        cmd_impact,
        "Which requirements would change status if a model version or build were promoted (exit 1 if any would be violated).",
    )
    imp_cmd.add_argument("project", metavar="PROJECT")
    which = imp_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="REF", help="e.g. model:hw-triage@3 or an id")
    which.add_argument("--build", type=int, metavar="N")
    imp_cmd.add_argument("--json", action="store_true")
    der = add(
        "derive",
        cmd_derive,
        "Compute an ML threshold from operational terms, step by step (and create the requirement).",
    )
    der.add_argument("kind", choices=["precision", "recall", "accuracy", "latency"])
    der.add_argument("--volume", type=float, help="items per period")
    der.add_argument("--base-rate", type=float, help="share of positives (0–1)")
    der.add_argument(
        "--base-rate-n",
        type=int,
        help="items the base rate was measured on: the threshold carries its uncertainty "
        "(refused below 30)",
    )
    der.add_argument(
        "--expected-recall-n", type=int, help="items the expected recall was measured on"
    )
    der.add_argument("--tolerated", type=float, help="failures tolerated per period")
    der.add_argument(
        "--expected-recall", type=float, help="precision: recall the model reaches (default 1)"
    )
    der.add_argument(
        "--failure-share", type=float, help="share of model errors that become failures (default 1)"
    )
    der.add_argument("--period", default="week")
    der.add_argument("--budget-ms", type=float, help="latency: end-to-end budget")
    der.add_argument("--other-ms", type=float, help="latency: what the rest of the system takes")
    der.add_argument("--metric", help="e.g. precision.out_of_office")
    der.add_argument("--create", action="store_true", help="save it as an ML requirement")
    der.add_argument("--project")
    der.add_argument("--id", help="the new requirement's id, e.g. ML-9")
    der.add_argument("--derived-from", help="system requirement id(s), e.g. SYS-1")
    der.add_argument("--title")
    der.add_argument("--evidence", default="production")
