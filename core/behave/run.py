"""Running a suite on a model: examples made (templates filled, or sampled from the test set),
perturbed, predicted in one batch per test, and judged against every expectation.

Seeded: each test draws from ``random.Random("<suite seed>:<test name>")``, so the same suite,
model and test set give the same examples and the same figures.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.behave.dates import render_date
from core.behave.expect import Expectation, Outcome, describe
from core.behave.models import MAX_FAILURES, BehaveResult, Failure
from core.behave.perturb import Row
from core.behave.suite import BehaveTest, DateFill, FromTestSet, Suite, Template
from core.ml.model import Model
from core.projects.spec import ProjectSpec

Sample = Callable[[FromTestSet, int], pd.DataFrame]  # the test set's rows for a sample, seeded
Example = tuple[Row | None, Row, dict[str, str]]  # before (None: a minimum functionality test)


def run_suite(model: Model, spec: ProjectSpec, suite: Suite, sample: Sample) -> list[BehaveResult]:
    return [run_test(model, spec, test, suite.seed, sample) for test in suite.tests]


def run_test(
    model: Model, spec: ProjectSpec, test: BehaveTest, seed: int, sample: Sample
) -> BehaveResult:
    rng = random.Random(f"{seed}:{test.name}")
    examples = _perturbed(test, spec, _examples(test, spec, rng, sample), rng)
    befores = [b for b, _, _ in examples if b is not None]
    outcomes = _predict(model, spec, befores + [a for _, a, _ in examples])
    before_of = iter(outcomes[: len(befores)])
    passed, failures = 0, list[Failure]()
    for (before, after, vars), outcome in zip(examples, outcomes[len(befores) :], strict=True):
        answer_before = next(before_of) if before is not None else None
        missed = _missed(test.expect, answer_before, outcome, vars)
        if not missed:
            passed += 1
        elif len(failures) < MAX_FAILURES:
            failures.append(
                Failure(
                    _shown(before, after, spec),
                    "; ".join(describe(e, vars) for e, _ in missed),
                    "; ".join(got for _, got in missed),
                )
            )
    return BehaveResult(
        name=test.name,
        kind=test.kind,
        capability=test.capability,
        expectation="; ".join(describe(e) for e in test.expect),
        n=len(examples),
        passed_n=passed,
        threshold=test.min_pass_rate,
        failures=tuple(failures),
    )


def _missed(
    expect: Sequence[Expectation],
    before: Outcome | None,
    after: Outcome,
    vars: Mapping[str, str],
) -> list[tuple[Expectation, str]]:
    judged = ((e, e.judge(before, after, vars)) for e in expect)
    return [(e, got) for e, got in judged if got is not None]


def _examples(
    test: BehaveTest, spec: ProjectSpec, rng: random.Random, sample: Sample
) -> list[tuple[Row, dict[str, str]]]:
    if isinstance(test.examples, Template):
        return [_filled(test.examples, spec, rng, i) for i in range(test.examples.count)]
    frame = sample(test.examples, rng.randrange(2**31))
    return [
        (_complete({str(k): v for k, v in row.items()}, spec, i), {})
        for i, row in enumerate(frame.to_dict("records"))
    ]


def _filled(
    template: Template, spec: ProjectSpec, rng: random.Random, index: int
) -> tuple[Row, dict[str, str]]:
    vars = {name: _value(choice, rng) for name, choice in template.fill.items()}
    row = {
        column: value.format_map(vars) if isinstance(value, str) else value
        for column, value in template.row.items()
    }
    return _complete(row, spec, index), vars


def _value(choice: tuple[str, ...] | DateFill, rng: random.Random) -> str:
    if isinstance(choice, DateFill):
        days = (choice.last - choice.first).days
        return render_date(
            choice.first + timedelta(days=rng.randint(0, days)), rng.choice(choice.styles)
        )
    return rng.choice(choice)


def _complete(row: Row, spec: ProjectSpec, index: int) -> Row:
    """Every column of the project: the id made up, text empty, the rest missing."""
    out: Row = {}
    for column in spec.columns:
        value = row.get(column.name)
        if value is None and column.name == spec.id_column:
            value = f"behave-{index + 1}"
        elif value is None and column.name in spec.text_fields:
            value = ""
        out[column.name] = None if _missing(value) else value
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _perturbed(
    test: BehaveTest,
    spec: ProjectSpec,
    examples: list[tuple[Row, dict[str, str]]],
    rng: random.Random,
) -> list[Example]:
    if test.perturb is None:
        return [(None, row, vars) for row, vars in examples]
    out: list[Example] = []
    for row, vars in examples:
        changed = test.perturb.apply(row, rng, spec)
        if changed is not None:  # nothing to perturb in this example: not counted
            out.append((row, changed[0], {**vars, **changed[1]}))
    return out


def _predict(model: Model, spec: ProjectSpec, rows: list[Row]) -> list[Outcome]:
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=[c.name for c in spec.columns])
    scores = model.predict_proba(frame, spec)
    spans = model.extract(frame, spec)
    classes = model.classes
    return [
        Outcome(
            classes[int(np.argmax(row))],
            {c: float(p) for c, p in zip(classes, row, strict=True)},
            tuple(found),
        )
        for row, found in zip(scores, spans, strict=True)
    ]


def _shown(before: Row | None, after: Row, spec: ProjectSpec) -> str:
    """The example as a reader checks it: the text, or the features changed (or all of them)."""
    if spec.kind == "text_classification":
        text = " · ".join(str(after.get(f) or "") for f in spec.text_fields if after.get(f))
        return text if len(text) <= 400 else text[:399] + "…"
    if before is not None:
        changed = [
            f"{c}: {before.get(c)!r} → {after.get(c)!r}"
            for c in spec.features
            if before.get(c) != after.get(c)
        ]
        return "; ".join(changed)
    return ", ".join(f"{c}={after.get(c)!r}" for c in spec.features if after.get(c) is not None)
