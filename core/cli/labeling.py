"""Labeling commands: tasks, agreement, review, freeze, and label import/export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.common import Adder, client, print_table


def cmd_tasks(args: argparse.Namespace) -> int:
    api = client(args)
    api.projects.get(args.project)  # an unknown project is an error, not an empty list
    tasks = api.labeling.tasks(args.project)
    left = api.labeling.labels_left([t.task_id for t in tasks])
    if not tasks:
        print(
            f"No tasks in {args.project}. Create one with `loopline task create {args.project} --name NAME`."
        )
    print_table(
        [
            {
                "task": f"#{t.task_id}",
                "name": t.name,
                "items": t.items,
                "answers to give": left.get(t.task_id, 0),
                "overlap": t.overlap,
                "order": t.ordering,
                "status": t.status,
                "created": f"{t.created_at:%Y-%m-%d}",
            }
            for t in tasks
        ]
    )
    return 0


def _equals(pairs: list[str]) -> dict[str, tuple[str, ...]]:
    from core.api import InvalidInput

    out: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidInput(f"--where takes COLUMN=VALUE[,VALUE…], got {pair!r}.")
        column, values = pair.split("=", 1)
        out[column.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
    return out


def cmd_task_create(args: argparse.Namespace) -> int:
    from core.api.types import TaskFilter

    task = client(args).labeling.create_task(
        args.project,
        name=args.name,
        task_filter=TaskFilter(
            date_from=args.date_from,
            date_to=args.date_to,
            equals=_equals(args.where),
            limit=args.limit,
            untasked_only=args.untasked_only,
            seed=args.seed,
        ),
        overlap=args.overlap,
        agreement_sample=args.agreement_sample,
        agreement_overlap=args.agreement_overlap,
        lease_seconds=args.lease,
        instructions=args.instructions,
        suggest_with=args.model or None,
        predictions=Path(args.predictions) if args.predictions and not args.model else None,
        ordering=args.order,
        uncertainty=args.uncertainty,
    )
    print(f"Task #{task.task_id} {task.name!r}: {task.items} items from dataset #{task.dataset_id}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    report = client(args).labeling.agreement(args.task, args.by)
    if args.json:
        print(json.dumps(report, default=lambda o: o.__dict__, indent=1))
        return 0
    if report.items_compared == 0:
        print(
            "No item has answers from two or more annotators yet, so there is no agreement to measure. "
            "Give the task an overlap of 2 or more, or an agreement sample (--agreement-sample)."
        )
        return 0
    alpha = "—" if report.alpha is None else f"{report.alpha:.3f}"
    print(
        f"Krippendorff's alpha {alpha} over {report.items_compared} items "
        f"({report.disagreements} with disagreement)"
    )
    for label, value in report.alpha_by_class.items():
        print(f"  {label:<24} alpha {'—' if value is None else f'{value:.3f}'}")
    for pair in report.pairs:
        print(f"  {pair.first} · {pair.second}: kappa {pair.kappa:.3f} on {pair.items} items")
    if report.span_exact_f1 is not None:
        print(
            f"  spans: exact F1 {report.span_exact_f1:.3f}, overlap F1 {report.span_overlap_f1:.3f}"
        )
    for group, value in report.alpha_by_group.items():
        print(f"  {args.by} = {group}: alpha {'—' if value is None else f'{value:.3f}'}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    cases, waiting = client(args).labeling.review_queue(args.task, limit=args.limit)
    print(f"{waiting} item(s) wait for review in task #{args.task}")
    print_table(
        [
            {
                "item": c.item_id,
                "reason": c.reason,
                "answers": "; ".join(
                    f"{a.annotator}: {a.label}{' (unsure)' if a.unsure else ''}"
                    for a in c.annotations
                ),
            }
            for c in cases
        ]
    )
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    review = client(args).labeling.decide(args.task, args.item, args.label, note=args.note)
    print(
        f"Task #{review.task_id} item {review.item_id}: {review.label} (decided by {review.reviewer})"
    )
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    frozen = client(args).labeling.freeze(
        args.project,
        args.task,
        rule=args.rule,
        extends=args.extends,
        note=args.note,
    )
    print(
        f"{frozen.artifact.label}: {frozen.rows} items {frozen.classes}; sources {frozen.sources}"
        + (f"; left out {frozen.excluded}" if frozen.excluded else "")
    )
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    data = client(args).labeling.export(args.ref, args.format)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"Wrote {len(data):,} bytes to {args.out}")
    else:
        sys.stdout.buffer.write(data)
    return 0


def cmd_labels_import(args: argparse.Namespace) -> int:
    from core.api import InvalidInput

    api = client(args)
    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"No file at {path}.")
    if args.item_col or args.label_col:  # a labels file in its own shape, e.g. case_id,diagnosis
        if not (args.item_col and args.label_col):
            raise InvalidInput(
                "--item-col and --label-col go together.",
                hint="name both, e.g. --item-col case_id --label-col diagnosis",
            )
        table = api.data.map_label_columns(
            path,
            item_col=args.item_col,
            label_col=args.label_col,
            annotator=args.annotator,
            encoding=args.encoding,
        )
        done = api.labeling.import_labels(args.project, table, "labels.csv", task_id=args.task)
    else:
        done = api.labeling.import_labels(
            args.project,
            path,
            task_id=args.task,
            config=Path(args.config) if args.config else None,
            mapping=Path(args.mapping) if args.mapping else None,
        )
    print(
        f"Imported {done.annotations} annotations on {done.items} items by {len(done.annotators)} "
        f"annotator(s) into task #{done.task_id}"
    )
    for note in done.ignored:  # a Label Studio control with no counterpart in the project
        print(f"  {note}")
    return 0


def add_commands(add: Adder) -> None:
    tasks = add(
        "tasks", cmd_tasks, "List a project's labeling tasks and how many answers each still needs."
    )
    tasks.add_argument("project", metavar="PROJECT")
    task = add("task", cmd_task_create, "Create a labeling task.")
    task_sub = task.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = task_sub.add_parser(
        "create",
        help="Create a task over a dataset's items.",
        description="Create a labeling task over the latest dataset version's items.",
    )
    create.set_defaults(handler=cmd_task_create)
    create.add_argument("project", metavar="PROJECT")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=V1,V2",
        help="keep items whose column has one of these values (repeatable)",
    )
    create.add_argument(
        "--from", dest="date_from", metavar="DATE", help="items on or after this date"
    )
    create.add_argument("--to", dest="date_to", metavar="DATE", help="items on or before this date")
    create.add_argument(
        "--limit", type=int, help="at most this many items (a seeded random sample)"
    )
    create.add_argument(
        "--untasked-only", action="store_true", help="leave out items already in a task"
    )
    create.add_argument("--overlap", type=int, default=1, help="annotators per item (default 1)")
    create.add_argument(
        "--agreement-sample", type=float, default=0.0, help="fraction labeled by more people"
    )
    create.add_argument(
        "--agreement-overlap", type=int, default=2, help="annotators on that sample (default 2)"
    )
    create.add_argument("--lease", type=int, default=900, help="seconds an annotator holds an item")
    create.add_argument("--seed", type=int, default=0)
    create.add_argument(
        "--model", metavar="REF", help="suggest labels with this model (or 'production')"
    )
    create.add_argument(
        "--predictions",
        metavar="CSV",
        help="a model's class probabilities: item_id and one column per class",
    )
    create.add_argument(
        "--order",
        choices=["random", "uncertainty"],
        default="random",
        help="queue order; uncertainty needs --predictions",
    )
    create.add_argument(
        "--uncertainty", choices=["least_confident", "margin", "entropy"], default="least_confident"
    )
    create.add_argument("--instructions", default="")
    agreement = add(
        "agreement", cmd_agreement, "Inter-annotator agreement of a task (alpha, kappa, spans)."
    )
    agreement.add_argument("task", type=int, metavar="TASK", nargs="+")
    agreement.add_argument("--by", metavar="COLUMN", help="alpha per value of this column")
    agreement.add_argument("--json", action="store_true")
    review = add("review", cmd_review, "List the items waiting for a reviewer in a task.")
    review.add_argument("task", type=int, metavar="TASK")
    review.add_argument("--limit", type=int, default=20)
    decide = add("decide", cmd_decide, "Record a reviewer's final decision on an item.")
    decide.add_argument("task", type=int, metavar="TASK")
    decide.add_argument("item", metavar="ITEM")
    decide.add_argument("label", metavar="LABEL")
    decide.add_argument("--note", default="")
    freeze = add(
        "freeze", cmd_freeze, "Freeze tasks' final labels into a new, immutable label-set version."
    )
    freeze.add_argument("project", metavar="PROJECT")
    freeze.add_argument(
        "--task", type=int, action="append", required=True, help="a task to include (repeatable)"
    )
    freeze.add_argument(
        "--rule",
        choices=["majority", "unanimous"],
        default="majority",
        help="where annotators disagree and no reviewer decided",
    )
    freeze.add_argument("--extends", metavar="REF", help="a previous label set to build on")
    freeze.add_argument("--note", default="")
    labels = add("labels", cmd_labels_export, "Export or import labels.")
    labels_sub = labels.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = labels_sub.add_parser(
        "export", help="Export a label set.", description="Export a label set."
    )
    export.set_defaults(handler=cmd_labels_export)
    export.add_argument("ref", metavar="REF", help="e.g. label_set:ooo-replies@1")
    export.add_argument("--format", choices=["csv", "jsonl", "label-studio"], default="csv")
    export.add_argument("--out", metavar="FILE")
    imp = labels_sub.add_parser(
        "import",
        help="Import annotations (Label Studio JSON or a CSV table).",
        description="Import annotations: a Label Studio JSON export (its items made from its "
        "data when the project has none), or a CSV of item_id, annotator, label[, spans, "
        "unsure, note]. All or nothing.",
    )
    imp.set_defaults(handler=cmd_labels_import)
    imp.add_argument("project", metavar="PROJECT")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument(
        "--task", type=int, help="add to this task (default: a new task over the items)"
    )
    imp.add_argument("--item-col", metavar="COL", help="the CSV's column naming the item")
    imp.add_argument("--label-col", metavar="COL", help="the CSV's column holding the label")
    imp.add_argument(
        "--annotator",
        metavar="NAME|COL",
        help="with --item-col: who labeled, a column of the file or one name (default: import)",
    )
    imp.add_argument(
        "--encoding",
        default="utf-8",
        help="with --item-col: the file's text encoding (default utf-8; e.g. latin-1, utf-16)",
    )
    imp.add_argument(
        "--config",
        metavar="XML",
        help="a Label Studio export's labeling config (Settings → Labeling Interface → Code)",
    )
    imp.add_argument(
        "--mapping",
        metavar="YAML",
        help="Label Studio's names → the project's: classes: {Billing: billing}, "
        "span_types: {Date: DATE}, item_id: FIELD, class_control: NAME (of several <Choices>)",
    )
