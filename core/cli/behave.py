"""`loopline behave PROJECT [--model REF] [--json]`: the project's behavioural suite alone on a
model (default: production). Exit 0 when every test passes, 1 when one fails."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client, print_table


def add_commands(add: Adder) -> None:
    p = add(
        "behave",
        cmd_behave,
        "Run a project's behavioural tests (gates/PROJECT.behave.yaml) on a model: per test its "
        "pass rate with n and confidence interval, and failing examples. Writes nothing.",
    )
    p.add_argument("project")
    p.add_argument(
        "--model",
        metavar="REF",
        help="e.g. model:ooo-replies@2, an id, or an alias (default: production)",
    )
    p.add_argument(
        "--suite", metavar="FILE", help="a suite file (default: gates/PROJECT.behave.yaml)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def cmd_behave(args: argparse.Namespace) -> int:
    result = client(args).behave.run(
        args.project, model=args.model, suite=Path(args.suite) if args.suite else None
    )
    if args.json:
        print(json.dumps(_as_json(result), indent=2, ensure_ascii=False))
        return 0 if result.passed else 1
    failed = len(result.failed)
    print(
        f"{result.project}: {result.model} on {result.source}: "
        f"{len(result.tests) - failed} of {len(result.tests)} tests passed"
    )
    print_table(
        [
            {
                "": "PASS" if t.passed else "FAIL",
                "test": t.name,
                "type": t.kind,
                "pass rate": "—" if t.pass_rate is None else f"{t.pass_rate:.3f}",
                "n": t.n,
                "95% CI": _interval(t.interval),
                "needs": f"≥ {t.threshold:g}",
            }
            for t in result.tests
        ]
    )
    for test in result.failed:
        print(f"\nFAIL {test.name} (expected: {test.expectation})")
        for failure in test.failures:
            example = failure.example.replace("\n", " ⏎ ")
            print(f"  - {example[:160]}\n    expected {failure.expected}; got {failure.got}")
    return 0 if result.passed else 1


def _interval(interval: Any) -> str:
    if interval.lower is None or interval.upper is None:
        return "—"
    return f"{interval.lower:.3f}–{interval.upper:.3f}"


def _as_json(result: Any) -> dict[str, Any]:
    return {
        "project": result.project,
        "model": result.model,
        "suite": result.source,
        "passed": result.passed,
        "tests": [
            {
                "name": t.name,
                "type": t.kind,
                "capability": t.capability,
                "expectation": t.expectation,
                "n": t.n,
                "passed_n": t.passed_n,
                "pass_rate": t.pass_rate,
                "lower": t.interval.lower,
                "upper": t.interval.upper,
                "threshold": t.threshold,
                "passed": t.passed,
                "failures": [
                    {"example": f.example, "expected": f.expected, "got": f.got} for f in t.failures
                ],
            }
            for t in result.tests
        ],
    }
