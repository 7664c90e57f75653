"""Paths in and out of a workspace: `project draft` (a project file from a data file),
`export` (a dataset version as CSV or Parquet) and `import mlflow` (runs and model versions
from an MLflow tracking store)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.common import Adder, client, write_out


def cmd_project_draft(args: argparse.Namespace) -> int:
    draft = client(args).data.draft(
        Path(args.file),
        name=args.name,
        id_column=args.id,
        time_column=args.time,
        label_column=args.label,
        labels_path=None if args.labels is None else Path(args.labels),
        classes=tuple(c.strip() for c in (args.classes or "").split(",") if c.strip()),
        fmt=args.format,
        encoding=args.encoding,
    )
    write_out(draft.text, args.out)
    if args.out:
        print(f"Review it, then: loopline project create {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    content = client(args).data.export(args.dataset, args.format)
    if not args.out:
        sys.stdout.buffer.write(content)
        return 0
    target = Path(args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(content)
    partial.replace(target)
    print(f"Wrote {target} ({len(content):,} bytes)")
    return 0


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    done = client(args).data.import_mlflow(
        args.tracking_uri,
        args.experiment,
        args.project,
        artifacts=None if args.artifacts is None else Path(args.artifacts),
    )
    print(
        f"MLflow experiment {done.experiment!r} → project {done.project}: "
        f"{done.runs_new} new run(s), {done.runs_unchanged} already imported; "
        f"{done.models_new} new model version(s), {done.models_unchanged} already imported"
    )
    for key, artifact_id in sorted(done.model_ids.items()):
        print(f"  {key} → model artifact #{artifact_id}")
    return 0


def add_project_draft(project_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`loopline project draft`: an action of `loopline project` (registered next to create)."""
    text = "Draft a project YAML from a CSV/Parquet/JSONL file, for review before `create`."
    draft = project_sub.add_parser("draft", help=text, description=text)
    draft.add_argument("file", metavar="FILE", help="the data file")
    draft.add_argument("--id", metavar="COL", help="the id column (default: inferred)")
    draft.add_argument("--time", metavar="COL", help="the time column (default: the first date)")
    draft.add_argument(
        "--label",
        metavar="COL",
        help="the column holding the labels (in FILE, or in --labels); its values are the classes",
    )
    draft.add_argument("--labels", metavar="LABELS", help="a separate labels file")
    draft.add_argument("--classes", metavar="A,B", help="the classes, when no file has labels yet")
    draft.add_argument("--name", help="the project's name (default: from the file name)")
    draft.add_argument("--format", choices=["csv", "parquet", "jsonl"], help="the file type")
    draft.add_argument("--encoding", default="utf-8", help="text encoding (default utf-8)")
    draft.add_argument("--out", metavar="PROJECT.yaml", help="write the draft here")
    draft.set_defaults(handler=cmd_project_draft)


def add_commands(add: Adder) -> None:
    export = add("export", cmd_export, "Write a dataset version's rows as CSV or Parquet.")
    export.add_argument("dataset", metavar="DATASET", help="dataset:PROJECT[@VERSION] or an id")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    imports = add("import", cmd_import_mlflow, "Import runs and models from another tool.")
    sources = imports.add_subparsers(dest="source", metavar="SOURCE", required=True)
    text = (
        "Import an MLflow experiment's runs (params, metrics with their history, tags, times, "
        "source commit) and its registered sklearn/xgboost model versions with their aliases."
    )
    mlflow = sources.add_parser("mlflow", help=text, description=text)
    mlflow.add_argument(
        "--tracking-uri", required=True, help="sqlite:///PATH/mlflow.db (MLflow's SQLite store)"
    )
    mlflow.add_argument("--experiment", required=True, help="the MLflow experiment's name")
    mlflow.add_argument("--project", required=True, help="the Loopline project to import into")
    mlflow.add_argument(
        "--artifacts",
        metavar="DIR",
        help="where mlflow-artifacts:/ URIs point (the server's --artifacts-destination)",
    )
    mlflow.set_defaults(handler=cmd_import_mlflow)
