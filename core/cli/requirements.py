"""Requirements commands: requirements import/export/list/show/history/edit/delete/recompute,
trace, model-card, verify-system, impact and derive."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from core.actor import Actor
from core.cli.common import Adder, open_workspace, print_table
from core.errors import InvalidInput


def write_out(text: str, out: str | None) -> None:
    """Print, or write the file whole (a temporary name, then renamed into place)."""
    if not out:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"Wrote {target}")


def _one_project(ws: Any, given: str | None) -> str:
    from core.projects.service import get_project, list_projects

    if given:
        return get_project(ws, given).name
    names = [p.name for p in list_projects(ws)]
    if len(names) == 1:
        return names[0]
    raise InvalidInput(
        "Which project? "
        + (f"This workspace has {', '.join(names)}." if names else "There is none."),
        hint="pass --project NAME",
    )


def cmd_import(args: argparse.Namespace) -> int:
    from core.requirements.service import import_requirements

    result = import_requirements(
        open_workspace(args),
        args.file,
        Actor.from_env(),
        project=args.project,
        delete_missing=args.delete_missing,
        note=args.note or "",
    )
    print(result.summary)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.requirements.interchange import render
    from core.requirements.service import list_requirements

    ws = open_workspace(args)
    project = _one_project(ws, args.project)
    write_out(render(project, list_requirements(ws, project), args.format), args.out)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from core.requirements.matrix import traceability_matrix

    ws = open_workspace(args)
    matrix = traceability_matrix(
        ws, args.project, owner=args.owner, category=args.category, status=args.status
    )
    rows = []
    for rid, item in matrix.requirements.items():
        status = matrix.statuses.get(rid)
        if args.level and item.level != args.level:
            continue
        if args.status and (status is None or status.status != args.status):
            continue
        if (args.owner and item.owner != args.owner) or (
            args.category and item.category != args.category
        ):
            continue
        rows.append(
            {
                "id": rid,
                "level": item.level,
                "title": item.title[:48],
                "check": item.check_text[:60] or (f"parent {item.parent}" if item.parent else ""),
                "evidence": item.evidence_text,
                "status": status.status.replace("_", " ") if status else "",
                "value": (status.value_text if status else "")
                + (f" via {status.via}" if status and status.via else ""),
            }
        )
    if not rows:
        print(
            f"No requirements match in {args.project}. Import some: `loopline requirements import FILE`."
        )
        return 0
    print_table(rows)
    coverage = matrix.coverage
    print(
        f"{coverage.system} system, {coverage.ml} ML requirement(s); no ML requirement: "
        f"{', '.join(coverage.system_without_ml) or 'none'}; no evidence: "
        f"{', '.join(coverage.ml_without_evidence) or 'none'}"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from core.requirements.matrix import evidence_detail

    detail = evidence_detail(open_workspace(args), args.project, args.id)
    item, status = detail.requirement, detail.status
    print(f"{item.requirement_id} (v{item.version}, {item.level}): {item.title}")
    if item.statement:
        print(f"  {item.statement}")
    print(f"  owner {item.owner or '—'} · category {item.category} · priority {item.priority}")
    if item.is_ml:
        print(f"  check: {item.check_text}; evidence: {item.evidence_text}")
        print(f"  derived from: {', '.join(item.derived_from)}")
    elif item.parent:
        print(f"  part of {item.parent}")
    if status is not None:
        print(
            f"  status: {status.status.replace('_', ' ')} {status.value_text}"
            + (f" via {status.via}" if status.via else "")
        )
        if status.evidence_ref:
            print(
                f"  evidence: {status.evidence_ref}" + (" (estimated)" if status.estimated else "")
            )
    for value in detail.slices:
        mark = "" if value.passed is None else (" ok" if value.passed else " FAILS")
        shown = "—" if value.value is None else f"{value.value:.3f}"
        limit = "" if value.threshold is None else f" vs {value.threshold:.3f}"
        role = " (reference)" if value.reference else ""
        print(f"    {value.slice or 'overall'}{role}: {shown}{limit}{mark}")
    for req, found in detail.downstream:
        print(f"  ↳ {req.requirement_id} {req.check_text}: {found.status if found else '—'}")
    for name, artifact in detail.artifacts.items():
        print(f"  {name}: {artifact.label}")
    if item.derivation and item.derivation.get("steps"):
        print("  derivation:")
        for step in item.derivation["steps"]:
            print(f"    {step}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from core.requirements.status import status_history
    from core.requirements.versions import requirement_versions

    ws = open_workspace(args)
    if args.versions:
        rows = [
            {
                "when": f"{v.at:%Y-%m-%d %H:%M}",
                "who": v.by,
                "id": v.requirement_id,
                "version": v.version,
                "set": v.set_version,
                "changed": "removed" if v.deleted else ", ".join(sorted(v.changes))[:70],
                "note": v.note[:40],
            }
            for v in requirement_versions(ws, args.project, args.id)
        ]
    else:
        rows = [
            {
                "when": f"{h.at:%Y-%m-%d %H:%M}",
                "id": h.requirement_id,
                "from": (h.previous_status or "").replace("_", " "),
                "to": h.status.replace("_", " "),
                "evidence": h.evidence_ref or "",
                "cause": h.cause[:60],
            }
            for h in status_history(ws, args.project, args.id)
        ]
    print_table(rows) if rows else print("No history yet.")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from core.requirements.service import edit_requirement

    changes: dict[str, Any] = {}
    for pair in args.set:
        if "=" not in pair:
            raise InvalidInput(f"--set takes FIELD=VALUE, got {pair!r}.")
        key, value = pair.split("=", 1)
        changes[key.strip()] = value.strip()
    result = edit_requirement(
        open_workspace(args), args.project, args.id, changes, Actor.from_env(), note=args.note or ""
    )
    print(result.summary)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from core.requirements.service import delete_requirements

    result = delete_requirements(
        open_workspace(args), args.project, args.ids, Actor.from_env(), note=args.note or ""
    )
    print(result.summary)
    return 0


def cmd_recompute(args: argparse.Namespace) -> int:
    from core.requirements.status import recompute_statuses

    done = recompute_statuses(open_workspace(args), args.project, cause=args.cause)
    print(f"{done.statuses} status(es) recomputed, {done.changes} changed")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from core.requirements.report import trace_export

    write_out(trace_export(open_workspace(args), args.project, args.format), args.out)
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    from core.requirements.report import model_card, model_card_html, model_card_markdown

    card = model_card(open_workspace(args), args.project, args.version)
    write_out(
        model_card_html(card) if args.format == "html" else model_card_markdown(card), args.out
    )
    return 0


def cmd_verify_system(args: argparse.Namespace) -> int:
    from core.progress import Bar
    from core.requirements.status import current_statuses
    from core.requirements.verify import verify_system

    ws = open_workspace(args)
    done = verify_system(ws, args.project, Actor.from_env(), progress=Bar("verify-system"))
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
    statuses = current_statuses(ws, args.project)
    violated = sorted(k for k, s in statuses.items() if s.status == "violated" and s.level == "ml")
    print(f"{done.changes} status(es) changed; violated: {', '.join(violated) or 'none'}")
    return 1 if violated else 0


def cmd_impact(args: argparse.Namespace) -> int:
    from core.requirements.impact import impact, impact_json

    result = impact(open_workspace(args), args.project, model=args.model, build=args.build)
    if args.json:
        print(impact_json(result))
    else:
        print(result.summary)
        for change in result.changes:
            print(f"  {change.message}")
    return 1 if any(c.after == "violated" for c in result.changes) else 0


def cmd_derive(args: argparse.Namespace) -> int:
    from core.requirements.derive import derive

    inputs = {
        k: v
        for k, v in {
            "volume": args.volume,
            "base_rate": args.base_rate,
            "tolerated": args.tolerated,
            "expected_recall": args.expected_recall,
            "failure_share": args.failure_share,
            "period": args.period,
            "budget_ms": args.budget_ms,
            "other_ms": args.other_ms,
        }.items()
        if v is not None
    }
    done = derive(args.kind, inputs, args.metric)
    for step in done.steps:
        print(step)
    if args.create:
        from core.requirements.service import edit_requirement

        if not (args.project and args.id and args.derived_from and args.metric):
            raise InvalidInput(
                "--create needs --project, --id, --derived-from and --metric.",
                hint="e.g. --create --project ooo-replies --id ML-9 --derived-from SYS-1 --metric precision.out_of_office",
            )
        entry = {
            "level": "ml",
            "title": args.title or f"{args.metric} derived from {args.derived_from}",
            "derived_from": args.derived_from,
            "metric": args.metric,
            "comparator": done.comparator,
            "evidence": args.evidence,
            "derivation": {"kind": args.kind, **inputs},
        }
        result = edit_requirement(
            open_workspace(args), args.project, args.id, entry, Actor.from_env(), note="derived"
        )
        print(result.summary)
    return 0


def _requirements(args: argparse.Namespace) -> int:
    return int(args.action(args))


def add_commands(add: Adder) -> None:
    parent = add(
        "requirements",
        _requirements,
        "System and ML requirements: import, export, list, show, history, edit (versioned).",
    )
    sub = parent.add_subparsers(dest="requirements_command", metavar="ACTION", required=True)

    def action(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(action=handler)
        return command

    imp = action(
        "import", cmd_import, "Import a YAML, CSV or ReqIF file as a new version of a set."
    )
    imp.add_argument("file", metavar="FILE", help=".yaml, .csv, .reqif or .reqifz")
    imp.add_argument("--project", help="when the file names none (or to check it)")
    imp.add_argument(
        "--delete-missing", action="store_true", help="the file is the whole set: remove the others"
    )
    imp.add_argument("--note", help="kept with the set version")
    exp = action("export", cmd_export, "Export a project's requirement set.")
    exp.add_argument("--project", help="default: the workspace's only project")
    exp.add_argument("--format", choices=["yaml", "csv", "reqif"], default="yaml")
    exp.add_argument("--out", metavar="FILE", help="default: print")
    lst = action("list", cmd_list, "List requirements with their status.")
    lst.add_argument("project", metavar="PROJECT")
    lst.add_argument("--status", choices=["met", "violated", "suspect", "no_evidence"])
    lst.add_argument("--level", choices=["system", "ml"])
    lst.add_argument("--owner")
    lst.add_argument("--category")
    show = action(
        "show", cmd_show, "One requirement: its check, status, evidence per slice, derivation."
    )
    show.add_argument("project", metavar="PROJECT")
    show.add_argument("id", metavar="ID")
    hist = action("history", cmd_history, "Status changes (or, with --versions, who edited what).")
    hist.add_argument("project", metavar="PROJECT")
    hist.add_argument("id", metavar="ID", nargs="?")
    hist.add_argument("--versions", action="store_true", help="the requirement versions instead")
    edit = action("edit", cmd_edit, "Change fields of one requirement (a new version).")
    edit.add_argument("project", metavar="PROJECT")
    edit.add_argument("id", metavar="ID")
    edit.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", required=True)
    edit.add_argument("--note", help="why (kept with the version)")
    delete = action("delete", cmd_delete, "Remove requirements (a new version marks them removed).")
    delete.add_argument("project", metavar="PROJECT")
    delete.add_argument("ids", metavar="ID", nargs="+")
    delete.add_argument("--note")
    again = action("recompute", cmd_recompute, "Recompute statuses from the evidence now.")
    again.add_argument("project", metavar="PROJECT", nargs="?")
    again.add_argument("--cause", default="recomputed on request")

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
        "Run the production model end to end on the large test set; record it as evidence (exit 1 if an ML requirement is violated).",
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
