"""Requirements commands: `loopline requirements import/export/list/show/history/edit/delete/
recompute`. The traceability commands (trace, model-card, verify-system, impact, derive) are in
``core/cli/traceability.py``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client, counted, print_table, write_out


def cmd_import(args: argparse.Namespace) -> int:
    result = client(args).requirements.import_file(
        args.file,
        project=args.project,
        delete_missing=args.delete_missing,
        note=args.note or "",
        mapping=args.mapping,
    )
    print(result.summary)
    if result.changed:
        print(
            f"changed: {', '.join(result.changed)} (see `loopline requirements history "
            f"{result.project} ID --versions`)"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    write_out(client(args).requirements.export(args.project, args.format), args.out)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    matrix = client(args).requirements.matrix(args.project)
    found = matrix.select(
        level=args.level, status=args.status, owner=args.owner, category=args.category
    )
    rows = [
        {
            "id": item.requirement_id,
            "level": item.level,
            "title": item.title[:48],
            "check": item.check_text[:60] or (f"parent {item.parent}" if item.parent else ""),
            "evidence": item.evidence_text,
            "status": status.status.replace("_", " ") if status else "",
            "value": (status.value_text if status else "")
            + (f" via {status.via}" if status and status.via else ""),
            "sample": (status.interval_text if status else "")
            + (f" · alert #{status.alert_id}" if status and status.alert_id is not None else ""),
        }
        for item, status in found
    ]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": item.requirement_id,
                        "level": item.level,
                        "status": status.status if status else None,
                        "threshold": status.threshold if status else None,
                        "comparator": status.comparator if status else None,
                        "slice": status.slice if status else None,
                        "evidence": status.evidence_ref if status else None,
                        **(status.figure if status else {}),
                    }
                    for item, status in found
                ],
                indent=1,
            )
        )
        return 0
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


def _shown(value: Any) -> str:
    """An attribute's value as text: a list joined, a boolean lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def cmd_show(args: argparse.Namespace) -> int:
    detail = client(args).requirements.evidence(args.project, args.id)
    item, status = detail.requirement, detail.status
    print(f"{item.requirement_id} (v{item.version}, {item.level}): {item.title}")
    if item.statement:
        print(f"  {item.statement}")
    print(f"  owner {item.owner or '—'} · category {item.category} · priority {item.priority}")
    if item.is_ml:
        print(f"  check: {item.check_text}; evidence: {item.evidence_text or '—'}")
        print(f"  derived from: {', '.join(item.derived_from)}")
    elif item.derived_from:  # derived from several: every parent, the tree's first
        print(f"  part of {item.parent}; derived from: {', '.join(item.parents)}")
    elif item.parent:
        print(f"  part of {item.parent}")
    for name, given in (item.attributes or {}).items():
        print(f"  {name} ({given['type']}): {_shown(given['value'])}")
    for relation in item.relations:
        print(f"  {relation['type']}: {relation['target']}")
    if status is not None:
        print(
            f"  status: {status.status.replace('_', ' ')} {status.value_text}"
            + (f" via {status.via}" if status.via else "")
        )
        if status.interval_text:
            print(f"  sample: {status.interval_text} (verdicts need n ≥ {status.min_n})")
        if status.alert_id is not None:
            print(f"  alert #{status.alert_id} is open on its rule: not met while it is open")
        if status.evidence_ref:
            print(
                f"  evidence: {status.evidence_ref}" + (" (estimated)" if status.estimated else "")
            )
    for value in detail.slices:
        mark = {"met": " ok", "violated": " FAILS", "inconclusive": " INCONCLUSIVE"}.get(
            value.verdict or "", ""
        ) + (f" ({value.interval_text})" if value.interval_text else "")
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
    requirements = client(args).requirements
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
            for v in requirements.versions(args.project, args.id)
        ]
    else:
        rows = [
            {
                "when": f"{h.at:%Y-%m-%d %H:%M}",
                "id": h.requirement_id,
                "from": (h.previous_status or "").replace("_", " "),
                "to": h.status.replace("_", " "),
                "n": "" if h.n is None else f"{h.n:,.0f}",
                "evidence": h.evidence_ref or "",
                "cause": h.cause[:60],
            }
            for h in requirements.status_history(args.project, args.id)
        ]
    print_table(rows) if rows else print("No history yet.")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from core.api import InvalidInput

    changes: dict[str, Any] = {}
    for pair in args.set:
        if "=" not in pair:
            raise InvalidInput(f"--set takes FIELD=VALUE, got {pair!r}.")
        key, value = pair.split("=", 1)
        changes[key.strip()] = value.strip()
    result = client(args).requirements.edit(args.project, args.id, changes, note=args.note or "")
    print(result.summary)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    result = client(args).requirements.delete(args.project, args.ids, note=args.note or "")
    print(result.summary)
    return 0


def cmd_recompute(args: argparse.Namespace) -> int:
    done = client(args).requirements.recompute(args.project, cause=args.cause)
    recomputed = counted(done.statuses, "status", "statuses")
    print(f"{recomputed} recomputed, {done.changes:,} changed")
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
    imp.add_argument(
        "--mapping",
        metavar="MAP.yaml",
        type=Path,
        help="how a requirements tool's ReqIF reads: object types, levels, fields, relations",
    )
    exp = action("export", cmd_export, "Export a project's requirement set.")
    exp.add_argument("--project", help="default: the workspace's only project")
    exp.add_argument("--format", choices=["yaml", "csv", "reqif"], default="yaml")
    exp.add_argument("--out", metavar="FILE", help="default: print")
    lst = action("list", cmd_list, "List requirements with their status.")
    lst.add_argument("project", metavar="PROJECT")
    lst.add_argument(
        "--status", choices=["met", "violated", "inconclusive", "suspect", "no_evidence"]
    )
    lst.add_argument(
        "--json", action="store_true", help="each requirement's status, figure, n and interval"
    )
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
