"""Modeling and CI commands: train, runs, run, compare, register, promote, models, build,
builds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client, print_table


def _params(pairs: list[str]) -> dict[str, Any]:
    from core.api import InvalidInput

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidInput(f"--param takes KEY=VALUE, got {pair!r}.")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    run = api.runs.train(
        args.project,
        label_set=args.label_set,
        trainer=args.trainer,
        params=_params(args.param),
        seed=args.seed,
        progress=Bar("train"),
    )
    label_set = api.artifacts.get(run.inputs["label_set"])
    overall = run.metrics
    print(
        f"Run #{run.run_id} on {label_set.ref}: "
        + ", ".join(
            f"{k} {overall[k]:.3f}" for k in ("accuracy", "f1_macro", "roc_auc") if k in overall
        )
    )
    for name in sorted(run.slice_metrics)[:12]:
        print(f"  {name}: accuracy {run.slice_metrics[name]['accuracy']:.3f}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    api = client(args)
    api.projects.get(args.project)  # an unknown project is an error, not an empty list
    table = api.runs.search(args.project, args.filter or "", args.order or [], limit=args.limit)
    frame = table.frame
    keep = [
        c
        for c in (
            "run_id",
            "name",
            "status",
            "params.trainer",
            "metrics.accuracy",
            "metrics.f1_macro",
        )
        if c in frame
    ]
    print_table(
        [
            {str(k): (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items()}
            for row in frame[keep].to_dict("records")
        ]
    )
    print(f"{len(frame)} of {table.total} run(s)")
    for notice in table.notices:
        print(f"note: {notice}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    run = client(args).runs.get(args.run)
    print(
        json.dumps(
            {
                "run_id": run.run_id,
                "project": run.project,
                "name": run.name,
                "status": run.status,
                "duration_s": run.duration_s,
                "code_commit": run.code_commit,
                "dirty": run.code_dirty,
                "params": run.params,
                "metrics": run.metrics,
                "slices": run.slice_metrics,
                "inputs": run.inputs,
                "tags": run.tags,
                "environment": run.environment,
                "error": run.error,
            },
            indent=1,
            default=str,
        )
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.disagreements is not None and args.disagreements < 0:
        from core.api import InvalidInput

        raise InvalidInput(
            f"--disagreements takes a number of rows, 0 or more; got {args.disagreements}.",
            hint="e.g. --disagreements 20",
        )
    comparison = client(args).runs.compare(args.runs, args.slice_metric)
    deltas = comparison.deltas
    if args.json:
        print(json.dumps(_comparison_json(comparison, args.disagreements), indent=1, default=str))
        return 0
    print(f"Measured on {comparison.test_set}.")
    columns = [c for c in comparison.metrics.columns if not str(c).startswith("Δ ")]
    rows = []
    for metric, values in comparison.metrics.iterrows():
        row: dict[str, Any] = {"metric": metric}
        row.update({str(c): _number(values[c]) for c in columns})
        for _, judged in deltas[deltas["metric"] == metric].iterrows():
            row[f"Δ {judged['run']}"] = (
                f"{judged['delta']:+.4f} [{judged['lower']:+.4f}, {judged['upper']:+.4f}] "
                f"{judged['verdict']}"
            )
        rows.append(row)
    print_table(rows)
    if len(comparison.slices):
        print(f"\n{args.slice_metric} per slice (n: items in the common test set):")
        print_table(
            [
                {
                    "slice": name,
                    "n": comparison.slice_sizes.get(str(name), ""),
                    **{str(c): _number(v) for c, v in values.items()},
                    "note": "too few to judge" if comparison.too_small(str(name)) else "",
                }
                for name, values in comparison.slices.iterrows()
            ]
        )
    if args.disagreements:
        _print_disagreements(comparison, args.disagreements)
    return 0


def _print_disagreements(comparison: Any, count: int) -> None:
    rows = comparison.disagreement_rows
    total = comparison.disagreement_total
    if not total or rows.empty:
        print("\nThe runs agree on every test item.")
        return
    shown = rows.head(count)
    print(
        f"\nThe first {len(shown):,} of {total:,} test items on which the runs disagree "
        f"({comparison.disagreement_order}); ✗ marks a wrong prediction:"
    )
    runs = comparison.prediction_columns()
    wrong = {r: comparison.wrong_in(r) for r in runs}
    first = [c for c in rows.columns if c not in ("text", *runs) and not _is_score(c, runs)]
    table = []
    for index, row in shown.iterrows():
        line: dict[str, Any] = {c: row[c] for c in first}
        for run in runs:
            score = row.get(f"{run} score")
            mark = "✗ " if wrong[run].loc[index] else ""
            line[run] = mark + str(row[run]) + ("" if score is None else f" {float(score):.3f}")
        if "text" in rows.columns:
            line["text"] = row["text"]
        table.append(line)
    print_table(table)


def _is_score(column: str, runs: list[str]) -> bool:
    return any(column == f"{r} score" for r in runs)


def _number(value: Any) -> str:
    return "" if value is None or value != value else f"{float(value):.4f}"


def _comparison_json(comparison: Any, disagreements: int | None = None) -> dict[str, Any]:
    metrics = comparison.metrics.astype(object).where(comparison.metrics.notna(), None)
    slices = comparison.slices.astype(object).where(comparison.slices.notna(), None)
    rows = comparison.disagreement_rows
    if disagreements is not None:
        rows = rows.head(disagreements)
    return {
        "test_set": comparison.test_set,
        "common_items": comparison.common_items,
        "metrics": metrics.to_dict(),
        "differences": comparison.deltas.to_dict("records"),
        "slices": slices.to_dict(),
        "slice_sizes": comparison.slice_sizes,
        "too_small": sorted(s for s in comparison.slice_sizes if comparison.too_small(s)),
        "disagreements": {
            "total": comparison.disagreement_total,
            "order": comparison.disagreement_order,
            "runs": comparison.prediction_columns(),
            "rows": rows.astype(object).where(rows.notna(), None).to_dict("records"),
        },
    }


def cmd_register(args: argparse.Namespace) -> int:
    model = client(args).models.register_run(args.run)
    print(f"Registered {model.label} from run #{args.run}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    api = client(args)
    if args.alias == "candidate":  # a bookmark, not an environment: no policy to meet
        model = api.models.promote(args.project, args.model, alias="candidate", reason=args.reason)
        print(f"candidate of {args.project} is now {model.ref}")
        return 0
    to = args.to or args.alias or "production"
    model = api.models.release(
        args.project, args.model, to=to, reason=args.reason, force=args.force
    )
    forced = " (forced past its policy; audited)" if args.force else ""
    print(f"{to} of {args.project} is now {model.ref}{forced}")
    return 0


def cmd_environments(args: argparse.Namespace) -> int:
    from core.api import serialise

    view = client(args).models.environments(args.project)
    if args.json:
        print(json.dumps(serialise(view), indent=2))
        return 0
    print(f"Environments of {view.project} (policy: {view.policy})")
    for stage in view.stages:
        since = f" since {stage.since:%Y-%m-%d %H:%M}" if stage.since else ""
        print(f"  {stage.environment:<11} {stage.model or '-'}{since}")
    if not view.candidates:
        print("No candidate waiting.")
    for ready in view.candidates:
        mark = "ready for" if ready.ready else "not ready for"
        print(f"{ready.model}: {mark} {ready.environment}")
        for condition in ready.conditions:
            print(f"  [{'x' if condition.met else ' '}] {condition.line()}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    api = client(args)
    api.projects.get(args.project)
    names = ("production", "acceptance", "candidate")
    aliases = {a: api.models.find_alias(args.project, a) for a in names}
    rows = []
    for model in api.artifacts.list(kind="model", project=args.project):
        marks = [a for a, m in aliases.items() if m and m.artifact_id == model.artifact_id]
        metrics = model.metadata.get("metrics", {})
        rows.append(
            {
                "model": model.ref,
                "id": model.artifact_id,
                "trainer": model.metadata.get("trainer"),
                "accuracy": f"{metrics.get('accuracy', float('nan')):.3f}",
                "aliases": ", ".join(marks),
                "registered": f"{model.created_at:%Y-%m-%d %H:%M}",
            }
        )
    print_table(rows) if rows else print(f"No registered model in {args.project} yet.")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from core.progress import Bar

    api = client(args)
    options: dict[str, Any] = {
        "label_set": args.label_set,
        "trainer": args.trainer,
        "params": _params(args.param),
        "gate": Path(args.gate) if args.gate else None,
        "promote": args.promote,
        "trigger": args.trigger,
        "dask_address": args.dask,
        "progress": Bar("build"),
    }
    behave = Path(args.behave) if args.behave else None
    if getattr(api, "remote", False):  # a CI runner: train here, the server gates and records
        from core.api import InvalidInput
        from core.remote.build import run_remote_build

        if behave is not None:
            raise InvalidInput(
                "--behave runs a suite file here; a build on a server runs the server's suite.",
                hint=f"put the suite in the server's workspace as gates/{args.project}.behave.yaml",
            )
        build = run_remote_build(api, args.project, lease_s=args.lease, **options)  # type: ignore[arg-type]
    else:
        build = api.builds.run(args.project, behave=behave, **options)
    print(f"Build {build.label} {build.status.upper()}: {build.reason}")
    if build.hint:
        print(f"hint: {build.hint}")
    for check in build.checks:
        print(f"  {'PASS' if check.passed else 'FAIL'} {check.message}")
    model = build.model_text or f"#{build.model_id}"
    if build.registered_model:
        print(f"  registered {model} (#{build.model_id})")
        for line in build.log.splitlines():  # --promote: what the promotion policy said
            if line.startswith(("promoted to production", "not promoted: ")):
                print(f"  {line}")
    elif build.model_id:
        print(f"  the model is identical to production ({model}): nothing new registered")
    if args.junit:
        Path(args.junit).write_text(api.builds.junit_xml(build), encoding="utf-8")
    return build.exit_code


def cmd_builds(args: argparse.Namespace) -> int:
    api = client(args)
    api.projects.get(args.project)  # an unknown project is an error, not an empty list
    builds = api.builds.list(args.project)
    if not builds:
        print(f"No builds in {args.project} yet. Run `loopline build {args.project}`.")
    print_table(
        [
            {
                "build": b.label,
                "status": b.status,
                "model": b.model_text or (b.model_id or ""),
                "started": f"{b.started_at:%Y-%m-%d %H:%M}",
                "reason": b.reason[:90],
            }
            for b in builds
        ]
    )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from core.api import InvalidInput
    from core.progress import Bar

    grid: dict[str, list[Any]] = {}
    for pair in args.grid:
        if "=" not in pair:
            raise InvalidInput(f"--grid takes KEY=V1,V2,…, got {pair!r}.")
        key, values = pair.split("=", 1)
        grid[key.strip()] = [_params([f"v={v}"])["v"] for v in values.split(",") if v.strip()]
    api = client(args)
    run_ids = api.runs.sweep(
        args.project,
        grid,
        trainer=args.trainer,
        label_set=args.label_set,
        seed=args.seed,
        n_jobs=args.jobs,
        dask_address=args.dask,
        progress=Bar("sweep"),
    )
    ids = ", ".join(str(i) for i in run_ids)
    best = api.runs.search(
        args.project, f"run_id IN ({ids})", ["metrics.f1_macro DESC"], limit=1
    ).frame
    print(
        f"{len(run_ids)} runs: #{run_ids[0]}–#{run_ids[-1]}; best #{int(best['run_id'].iloc[0])} "
        f"(f1_macro {float(best['metrics.f1_macro'].iloc[0]):.3f})"
    )
    return 0


def add_commands(add: Adder) -> None:
    train = add(
        "train",
        cmd_train,
        "Train a model on a frozen label set as a tracked run, evaluated per slice.",
    )
    train.add_argument("project", metavar="PROJECT")
    train.add_argument("--label-set", metavar="REF", help="default: the latest frozen label set")
    train.add_argument("--trainer", help="tfidf_lr, tfidf_xgb (text); xgb, lr (tabular)")
    train.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    train.add_argument("--seed", type=int, default=0)
    runs = add("runs", cmd_runs, "Search a project's runs.")
    runs.add_argument("project", metavar="PROJECT")
    runs.add_argument("--filter", help="e.g. \"metrics.f1_macro > 0.9 and params.trainer = 'xgb'\"")
    runs.add_argument(
        "--order",
        action="append",
        metavar="'FIELD [ASC|DESC]'",
        help="quoted when it has a direction, e.g. --order 'metrics.f1_macro DESC'",
    )
    runs.add_argument("--limit", type=int, default=50)
    run = add("run", cmd_run, "Print one run as JSON.")
    run.add_argument("run", type=int, metavar="RUN")
    compare = add(
        "compare",
        cmd_compare,
        "Compare runs on one common test set (the current one, re-scored with each model): each "
        "difference from production with its interval, 'no clear difference' when it is "
        "smaller than its uncertainty.",
    )
    compare.add_argument("runs", type=int, nargs="+", metavar="RUN")
    compare.add_argument("--slice-metric", default="accuracy", help="the metric per slice")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument(
        "--disagreements",
        type=int,
        metavar="N",
        help="print the first N test items the runs disagree on (text, slices, true label, "
        "each run's prediction and score), the most telling first; with --json: keep N of them "
        "(default: every one kept, at most 200)",
    )
    register_cmd = add(
        "register", cmd_register, "Register a finished run's model as a new model version."
    )
    register_cmd.add_argument("run", type=int, metavar="RUN")
    promote = add(
        "promote",
        cmd_promote,
        "Move a model version into acceptance or production (rolls back too) if it meets the "
        "project's promotion policy; refused with every unmet condition listed.",
    )
    promote.add_argument("project", metavar="PROJECT")
    promote.add_argument("model", metavar="MODEL", help="e.g. model:hw-triage@3 or an id")
    promote.add_argument(
        "--to",
        choices=["acceptance", "production"],
        help="the environment (default: production)",
    )
    promote.add_argument(
        "--alias",
        choices=["production", "acceptance", "candidate"],
        help="the same as --to; 'candidate' bookmarks a version (no policy)",
    )
    promote.add_argument("--reason", required=True, help="kept in the promotion history")
    promote.add_argument(
        "--force",
        action="store_true",
        help="admins only: promote past unmet conditions (recorded in the audit log)",
    )
    environments = add(
        "environments",
        cmd_environments,
        "The project's environments (acceptance, production), their models, and what each "
        "candidate still lacks under the promotion policy.",
    )
    environments.add_argument("project", metavar="PROJECT")
    environments.add_argument("--json", action="store_true", help="print it as JSON")
    models = add(
        "models", cmd_models, "List a project's registered model versions and their aliases."
    )
    models.add_argument("project", metavar="PROJECT")
    build = add(
        "build", cmd_build, "CI: train, evaluate against production, gate, register (exit 0/1/2)."
    )
    build.add_argument("project", metavar="PROJECT")
    build.add_argument("--label-set", metavar="REF")
    build.add_argument("--trainer")
    build.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    build.add_argument(
        "--gate", metavar="FILE", help="default: gates/PROJECT.yaml in the workspace, else built in"
    )
    build.add_argument(
        "--promote",
        action="store_true",
        help="promote a successful build's model to production if it meets the promotion policy",
    )
    build.add_argument(
        "--junit", metavar="FILE", help="write JUnit XML, one test case per gate check"
    )
    build.add_argument(
        "--behave",
        metavar="FILE",
        help="the behavioural suite to run (default: gates/PROJECT.behave.yaml, if any)",
    )
    build.add_argument("--trigger", help="why this build runs (kept with it)")
    build.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="fit the model on this Dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    build.add_argument(
        "--lease",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="remote mode: the server aborts the build when the runner is silent this long",
    )
    sweep = add(
        "sweep", cmd_sweep, "Search hyper-parameters: each grid combination is a tracked run."
    )
    sweep.add_argument("project", metavar="PROJECT")
    sweep.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="values to try for one parameter (repeatable; every combination runs)",
    )
    sweep.add_argument("--trainer")
    sweep.add_argument("--label-set", metavar="REF")
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--jobs", type=int, default=2, help="local parallel workers (joblib)")
    sweep.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the trials on this Dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    builds = add("builds", cmd_builds, "List a project's builds.")
    builds.add_argument("project", metavar="PROJECT")
