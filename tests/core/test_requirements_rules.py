"""The check rules: the set-based SQL agrees with the Python rules on hundreds of generated
requirements, and the derivation arithmetic is right to the digit."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.requirements.derive import derive
from core.requirements.rules import COMPARATORS, Rule, check, metric_problem
from core.requirements.status import current_statuses
from core.store import Workspace
from tests.core.test_requirements_support import import_text, logged_model

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws

METRICS = ("accuracy", "f1_macro", "precision.billing", "recall.bug", "latency_p95_ms", "log_loss")
SLICES = (
    "channel = mail",
    "channel = chat",
    "channel = phone",
    "month = 2026-03",
    "month = 2026-04",
)


def test_sql_statuses_agree_with_the_python_rules(evidence_ws: Workspace, tmp_path: Path) -> None:
    rng = random.Random(7)
    values: dict[tuple[str, str], float] = {}
    for metric in METRICS:
        for where in ("", *SLICES):
            if rng.random() < 0.85:
                values[(metric, where)] = round(rng.uniform(0.5, 1.0), 3)
    logged_model(
        evidence_ws,
        {m: v for (m, s), v in values.items() if s == ""},
        {s: {m: v for (m, w), v in values.items() if w == s} for s in SLICES},
        promote_it=True,
    )
    rules: list[Rule] = []
    lines = ["project: tickets", "system:", "  - {id: SYS-1, title: All}", "ml:"]
    for index in range(300):
        metric = rng.choice(METRICS)
        comparator = rng.choice(list(COMPARATORS))
        slices = tuple(rng.sample(SLICES, rng.randint(0, 3)))
        relative = rng.choice([None, None, *[s for s in SLICES if s not in slices]])
        absent = rng.choice(["met", "no_evidence"])
        threshold = None if relative else round(rng.uniform(0.5, 1.0), 3)
        tolerance = round(rng.uniform(0, 0.2), 3) if relative else None
        rid = f"ML-{index}"
        rules.append(Rule(rid, metric, comparator, threshold, slices, relative, tolerance, absent))
        fields = [
            f"id: {rid}",
            "title: generated",
            "derived_from: [SYS-1]",
            f"metric: {metric}",
            f"comparator: '{comparator}'",
            f"if_slice_absent: {absent}",
        ]
        if slices:
            fields.append(f"slices: [{', '.join(slices)}]")
        if relative:
            fields += [f"relative_to: {relative}", f"tolerance: {tolerance}"]
        else:
            fields.append(f"threshold: {threshold}")
        lines.append("  - {" + ", ".join(fields) + "}")
    import_text(evidence_ws, "\n".join(lines) + "\n", tmp_path)
    found = current_statuses(evidence_ws, "tickets")
    seen = set()
    for rule in rules:
        expected = check(rule, lambda m, s: values.get((m, s)))
        status = found[rule.requirement_id]
        want = {True: "met", False: "violated", None: "no_evidence"}[expected.passed]
        assert status.status == want, (rule, expected, status)
        assert status.value == expected.value and status.slice == expected.slice, (rule, expected)
        if expected.threshold is not None and status.threshold is not None:
            assert status.threshold == pytest.approx(expected.threshold), rule
        seen.add(want)
    assert seen == {"met", "violated", "no_evidence"}


def test_rule_text_and_check() -> None:
    rule = Rule(
        "ML-3", "accuracy", ">=", None, ("language = de", "language = fr"), "language = en", 0.05
    )
    assert (
        rule.text() == "accuracy on language = de, language = fr ≥ accuracy on language = en − 0.05"
    )
    figures = {
        ("accuracy", "language = en"): 0.92,
        ("accuracy", "language = de"): 0.59,
        ("accuracy", "language = fr"): 0.76,
    }
    result = check(rule, lambda m, s: figures.get((m, s)))
    assert (result.passed, result.slice, result.value, result.failing) == (
        False,
        "language = de",
        0.59,
        2,
    )
    assert result.threshold == pytest.approx(0.87)
    assert result.text(rule) == "ML-3: accuracy on language = de = 0.590 < 0.870"
    assert metric_problem("span_f1.DATE", span_types=("RETURN_DATE",)) == (
        "Unknown span type 'DATE' in metric 'span_f1.DATE'. Expected one of: RETURN_DATE."
    )
    assert metric_problem("estimated.precision.out_of_office", classes=("out_of_office",)) is None
    assert metric_problem("drift.psi.body_length") is None


def test_derivation_of_a_precision_threshold_step_by_step() -> None:
    done = derive(
        "precision",
        {
            "volume": 2000,
            "base_rate": 0.25,
            "tolerated": 10,
            "expected_recall": 0.85,
            "failure_share": 0.125,
            "period": "week",
        },
        "precision.out_of_office",
    )
    assert done.threshold == 0.842 and done.comparator == ">="
    assert done.steps == (
        "Expected positives per week: volume × base rate = 2,000 × 0.25 = 500",
        "Of which the model finds (expected recall 0.85): 500 × 0.85 = 425",
        "Wrong outputs tolerated per week: tolerated failures ÷ share of wrong outputs that become "
        "failures = 10 ÷ 0.125 = 80",
        "Precision = found ÷ (found + wrong) ≥ 425 ÷ (425 + 80) = 0.84158",
        "Rounded up to 3 decimals (never looser): precision.out_of_office ≥ 0.842",
    )


@pytest.mark.parametrize(
    ("kind", "inputs", "threshold"),
    [
        (
            "recall",
            {"volume": 1200, "base_rate": 0.39, "tolerated": 40, "failure_share": 0.5},
            0.83,
        ),
        ("recall", {"volume": 1200, "base_rate": 0.246, "tolerated": 80}, 0.729),  # 0.72900 → 0.729
        ("precision", {"volume": 100, "base_rate": 0.5, "tolerated": 0}, 1.0),
        ("accuracy", {"volume": 1000, "tolerated": 25}, 0.975),
        ("latency", {"budget_ms": 1000, "other_ms": 750}, 250.0),
        ("latency", {"budget_ms": 200, "other_ms": 149.95}, 50.0),  # 50.05 rounded down
    ],
)
def test_derivation_arithmetic(kind: str, inputs: dict[str, float], threshold: float) -> None:
    assert derive(kind, inputs).threshold == threshold


@pytest.mark.parametrize(
    ("kind", "inputs", "message"),
    [
        (
            "speed",
            {},
            "Unknown derivation kind 'speed'. Expected one of: accuracy, latency, precision, recall.",
        ),
        (
            "recall",
            {"volume": 100, "base_rate": 0.1, "tolerated": 20},
            "Derivation: 20 tolerated errors per period are more than the model can make",
        ),
        (
            "recall",
            {"volume": 100, "base_rate": 1.5, "tolerated": 1},
            "Derivation: base_rate must be between 1e-09 and 1, got 1.5.",
        ),
        ("precision", {"volume": 100, "base_rate": 0.1}, "Derivation: tolerated is missing."),
        (
            "latency",
            {"budget_ms": 100, "other_ms": 120},
            "Derivation: the rest of the system takes 120 ms of a 100 ms budget",
        ),
        (
            "accuracy",
            {"volume": "many", "tolerated": 1},
            "Derivation: volume must be a number, got 'many'.",
        ),
    ],
)
def test_derivation_refuses_what_does_not_add_up(
    kind: str, inputs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        derive(kind, inputs)
    assert str(raised.value).startswith(message)


def test_the_sign_follows_the_figures_not_the_status() -> None:
    """A suspect requirement's figure may fall short: `0.667 ≥ 0.750` would be false."""
    from core.requirements.rules import compared

    assert compared(0.667, ">=", 0.75) == "0.667 < 0.750"
    assert compared(0.8, ">=", 0.75) == "0.800 ≥ 0.750"
    assert compared(120.0, "<=", 250.0) == "120.000 ≤ 250.000"
    assert compared(300.0, "<", 250.0) == "300.000 ≥ 250.000"
