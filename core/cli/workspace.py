"""Workspace commands: init, projects, ingest, demo, artifacts, lineage, reproduce, verify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client, counted
from core.cli.imports import add_project_draft


def cmd_init(args: argparse.Namespace) -> int:
    root = client(args).init()
    print(f"Workspace ready at {root}")
    print(
        "No accounts yet: anyone who can open this workspace can change everything; "
        "`loopline users add NAME --role admin` turns access control on."
    )
    return 0


def cmd_project_create(args: argparse.Namespace) -> int:
    project = client(args).projects.create(Path(args.file), update=args.update)
    print(f"Project {project.name} ({project.kind}) at definition version {project.spec_version}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    projects = client(args).projects.list()
    if not projects:
        print("No projects yet. Create one with `loopline project create FILE`.")
    for p in projects:
        print(f"{p.name:<20} {p.kind:<24} v{p.spec_version:<3} {p.title}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from core.api import IngestRefused
    from core.progress import Bar

    api = client(args)
    try:
        result = api.data.ingest(
            args.project,
            Path(args.file),
            fmt=args.format,
            encoding=args.encoding,
            mode=args.mode,
            progress=Bar("ingest"),
        )
    except IngestRefused as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        for problem in refused.problems:
            print(f"  {problem}", file=sys.stderr)
        if refused.count > len(refused.problems):
            print(f"  … and {refused.count - len(refused.problems)} more", file=sys.stderr)
        return 2
    if result.unchanged:
        print(
            f"No change: {result.dataset.label} already holds exactly these rows; nothing was written."
        )
        return 0
    print(
        f"{result.dataset.label}: {result.new_rows} new rows, {result.total_rows} in all "
        f"(from {result.data_source.label}; quality report {result.report.label})"
    )
    for flag in result.flags:
        print(f"  note: {flag}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    if args.if_missing and api.exists():
        print(f"Demo workspace already at {api.location}; kept.")
        return 0
    root = api.build_demo(force=args.force, progress=Bar("demo"))
    print(f"Demo workspace ready at {root}")
    print(
        "Demo accounts: every user's password is loopline-demo; you are admin. "
        f"See {root / 'demo-notes.md'}"
    )
    return 0


def cmd_artifacts(args: argparse.Namespace) -> int:
    items = client(args).artifacts.list(kind=args.kind, project=args.project, limit=args.limit)
    if args.json:
        print(json.dumps([_artifact_dict(a) for a in items], indent=1, default=str))
        return 0
    if not items:
        print("No artifacts match.")
    for a in items:
        print(
            f"#{a.artifact_id:<6} {a.ref:<44} {a.created_at:%Y-%m-%d %H:%M} {a.created_by:<10} {a.content_hash[:12]}"
        )
    return 0


def _artifact_dict(a: Any) -> dict[str, Any]:
    return {
        "id": a.artifact_id,
        "ref": a.ref,
        "kind": a.kind,
        "name": a.name,
        "version": a.version,
        "project": a.project,
        "content_hash": a.content_hash,
        "created_at": a.created_at,
        "created_by": a.created_by,
        "metadata": a.metadata,
        "files": [{"role": f.role, "blob": f.blob_hash, "bytes": f.size_bytes} for f in a.files],
    }


def cmd_show(args: argparse.Namespace) -> int:
    artifact = client(args).artifacts.get(args.id)
    print(json.dumps(_artifact_dict(artifact), indent=1, default=str))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    api = client(args)
    direction = "down" if args.down else "up"
    graph = api.artifacts.lineage(args.id, direction, max_depth=args.depth)
    print("Made from (upstream):" if direction == "up" else "Used by (downstream):")
    for line in api.artifacts.lineage_lines(graph):
        print(line)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    result = client(args).artifacts.reproduce(args.id)
    verdict = "identical" if result.identical else "different"
    print(
        f"{result.artifact.ref}: {verdict} (recorded {result.recorded_hash[:16]}…, "
        f"reproduced {result.reproduced_hash[:16]}…)"
    )
    for note in result.notes:
        print(f"  note: {note}")
    return 0 if result.identical else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    bar = Bar("verify")
    report = api.artifacts.verify(lambda stage, fraction: bar(stage, fraction))
    errors = [p for p in report.problems if p.severity == "error"]
    for problem in report.problems:
        print(f"{problem.severity}: {problem.what}: {problem.detail}")
    held = [(report.artifacts, "artifact"), (report.blobs_checked, "blob"), (report.edges, "edge")]
    summary = ", ".join(counted(n, noun) for n, noun in held)
    print(f"{'FAILED' if errors else 'OK'}: {summary}; {counted(len(errors), 'problem')}")
    if args.prune:
        from datetime import timedelta

        pruned = api.artifacts.prune(
            older_than=timedelta(minutes=args.older_than), dry_run=args.dry_run
        )
        verb = "would delete" if pruned.dry_run else "deleted"
        print(
            f"prune: {verb} {counted(pruned.removed, 'unreferenced blob')}"
            + (f", {pruned.freed_bytes:,} bytes" if not pruned.dry_run else "")
            + (
                f"; kept {pruned.recent} touched in the last {args.older_than:g} min"
                if pruned.recent
                else ""
            )
        )
    return 1 if errors else 0


def add_commands(add: Adder) -> None:
    add("init", cmd_init, "Create an empty workspace (or open an existing one).")
    project = add("project", cmd_project_create, "Create or update a project from its YAML file.")
    project_sub = project.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_text, update in (
        ("create", "Create a project from FILE.", False),
        ("update", "Register a new version of a project's definition.", True),
    ):
        p = project_sub.add_parser(action, help=help_text, description=help_text)
        p.add_argument("file", metavar="FILE", help="the project YAML file")
        p.set_defaults(handler=cmd_project_create, update=update)
    add_project_draft(project_sub)
    add("projects", cmd_projects, "List the workspace's projects.")
    ingest = add(
        "ingest",
        cmd_ingest,
        "Check a CSV/Parquet/JSONL file against a project's schema and register it as a new dataset version.",
    )
    ingest.add_argument("project", metavar="PROJECT")
    ingest.add_argument("file", metavar="FILE")
    ingest.add_argument(
        "--format", choices=["csv", "parquet", "jsonl"], help="override the file type"
    )
    ingest.add_argument(
        "--encoding", default="utf-8", help="text encoding of CSV/JSONL (default utf-8)"
    )
    ingest.add_argument(
        "--mode",
        choices=["append", "replace"],
        default="append",
        help="append to the latest version (rows with the same id are replaced) or start afresh",
    )
    demo = add("demo", cmd_demo, "Build the demo workspace with both sample projects.")
    demo.add_argument("--force", action="store_true", help="replace an existing workspace")
    demo.add_argument(
        "--if-missing", action="store_true", help="keep an existing workspace and exit 0"
    )
    artifacts = add("artifacts", cmd_artifacts, "List registered artifacts, newest first.")
    artifacts.add_argument("--kind", help="only this kind (dataset, model, …)")
    artifacts.add_argument("--project", help="only this project")
    artifacts.add_argument("--limit", type=int, default=200)
    artifacts.add_argument("--json", action="store_true", help="print JSON")
    show = add("show", cmd_show, "Print one artifact (metadata, files) as JSON.")
    show.add_argument("id", metavar="ID", help="an id (42) or kind:name@version")
    lineage = add(
        "lineage",
        cmd_lineage,
        "Print what an artifact was made from (or, with --down, what was made from it).",
    )
    lineage.add_argument("id", metavar="ID", help="an id (42) or kind:name@version")
    lineage.add_argument("--down", action="store_true", help="downstream instead of upstream")
    lineage.add_argument("--depth", type=int, default=100, help="how many steps to follow")
    reproduce = add(
        "reproduce",
        cmd_reproduce,
        "Re-run a dataset's recorded extraction, or re-train a model from its recorded inputs, and "
        "report identical / different.",
    )
    reproduce.add_argument("id", metavar="ID")
    verify = add(
        "verify",
        cmd_verify,
        "Re-hash every blob and check every edge: exit 0 when sound, 1 with the problems.",
    )
    verify.add_argument(
        "--prune",
        action="store_true",
        help="then delete the blobs nothing refers to (left by refused or interrupted "
        "registrations; admins only)",
    )
    verify.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="prune only blobs untouched for this long (default 60: a registration may be "
        "under way)",
    )
    verify.add_argument(
        "--dry-run", action="store_true", help="with --prune: count, delete nothing"
    )
