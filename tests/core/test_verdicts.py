"""Verdicts with confidence on a real workspace: a figure is judged with its interval and its
sample size, and a requirement whose monitoring alert is open is not met."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.errors import InvalidInput
from core.requirements.parse import parse_document
from core.requirements.rules import MIN_N, metric_kind, verdict
from core.requirements.service import list_requirements
from core.requirements.status import current_statuses, recompute_statuses, status_history
from core.stats import wilson_rate
from core.store import Workspace, utcnow
from tests.core.test_requirements_support import CLASSES, add_window, import_text, production

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base, evidence_ws

AUG = datetime(2026, 8, 31)
DAY = timedelta(days=1)


def _one(ml: str) -> str:
    return "project: tickets\nsystem:\n  - {id: SYS-1, title: Routing}\nml:\n" + ml


MONITORED = (
    "  - {id: ML-1, title: Accuracy, derived_from: [SYS-1], metric: accuracy, threshold: 0.5, "
    "evidence: monitoring, window_days: 10}\n"
)


def test_a_requirement_at_n_2_is_inconclusive_not_met(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    ws = evidence_ws
    import_text(ws, _one(MONITORED), tmp_path)
    add_window(ws, {("accuracy", ""): (1.0, 2)}, model_version=production(ws).version, end=AUG)
    recompute_statuses(ws, "tickets", cause="two labels")
    found = current_statuses(ws, "tickets")["ML-1"]
    assert (found.status, found.value, found.n, found.min_n) == ("inconclusive", 1.0, 2, 30)
    assert found.interval_method == "wilson"
    two = wilson_rate(1.0, 2)
    assert (found.lower, found.upper) == pytest.approx((two.lower, two.upper))
    assert found.interval_text == "n = 2, 95% CI 0.342–1.000"
    assert current_statuses(ws, "tickets")["SYS-1"].status == "inconclusive"
    entry = status_history(ws, "tickets", "ML-1")[0]
    assert (entry.status, entry.n) == ("inconclusive", 2)


def test_enough_items_clear_the_threshold_and_a_straddling_interval_does_not(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    ws = evidence_ws
    import_text(ws, _one(MONITORED), tmp_path)
    version = production(ws).version
    add_window(ws, {("accuracy", ""): (0.56, 100)}, model_version=version, end=AUG)
    recompute_statuses(ws, "tickets", cause="a hundred labels")
    found = current_statuses(ws, "tickets")["ML-1"]  # 0.56 [0.462, 0.653] straddles 0.5
    assert found.status == "inconclusive" and found.lower is not None and found.lower < 0.5
    add_window(ws, {("accuracy", ""): (0.56, 900)}, model_version=version, end=AUG - DAY)
    recompute_statuses(ws, "tickets", cause="a thousand labels")
    found = current_statuses(ws, "tickets")["ML-1"]  # pooled 0.56 of 1,000: [0.529, 0.590]
    assert (found.status, found.n) == ("met", 1000)
    add_window(ws, {("accuracy", ""): (0.30, 4000)}, model_version=version, end=AUG - 2 * DAY)
    recompute_statuses(ws, "tickets", cause="a bad week")
    found = current_statuses(ws, "tickets")["ML-1"]
    assert found.status == "violated" and found.upper is not None and found.upper < 0.5


def test_a_requirement_may_ask_for_a_smaller_sample(evidence_ws: Workspace, tmp_path: Path) -> None:
    ws = evidence_ws
    import_text(
        ws, _one(MONITORED.replace("window_days: 10}", "window_days: 10, min_n: 2}")), tmp_path
    )
    add_window(ws, {("accuracy", ""): (1.0, 2)}, model_version=production(ws).version, end=AUG)
    recompute_statuses(ws, "tickets", cause="two labels")
    found = current_statuses(ws, "tickets")["ML-1"]
    # n is enough now, but the interval [0.342, 1] still straddles 0.5
    assert (found.status, found.min_n) == ("inconclusive", 2)


def _open_alert(ws: Workspace, rule: str, metric: str, status: str = "open") -> int:
    now = utcnow()
    with ws.store.transaction() as tx:
        alert_id = int(tx.scalar("SELECT nextval('alert_ids')"))
        tx.execute(
            "INSERT INTO alerts (alert_id, project, rule, metric, slice, grain, comparator, "
            "threshold, reference, severity, status, active, first_window, last_window, windows, "
            "value, n, model_id, artifact_id, evidence, created_at, updated_at) VALUES "
            "(?, 'tickets', ?, ?, '', 'day', '<', 0.5, NULL, 'warning', ?, ?, ?, ?, 1, 0.4, 200, "
            "NULL, NULL, '{}', ?, ?)",
            [alert_id, rule, metric, status, status != "resolved", AUG, AUG, now, now],
        )
    return alert_id


def test_an_open_alert_on_the_requirements_rule_keeps_it_from_being_met(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    ws = evidence_ws
    import_text(ws, _one(MONITORED), tmp_path)
    add_window(ws, {("accuracy", ""): (0.9, 1000)}, model_version=production(ws).version, end=AUG)
    recompute_statuses(ws, "tickets", cause="labels")
    assert current_statuses(ws, "tickets")["ML-1"].status == "met"
    _open_alert(ws, "ML-10: accuracy", "accuracy")  # another requirement's rule: not this one
    alert_id = _open_alert(ws, "ML-1: estimated.accuracy", "estimated.accuracy")
    recompute_statuses(ws, "tickets", cause="alert opened")
    found = current_statuses(ws, "tickets")
    assert (found["ML-1"].status, found["ML-1"].alert_id) == ("inconclusive", alert_id)
    assert (found["SYS-1"].status, found["SYS-1"].alert_id) == ("inconclusive", alert_id)
    with ws.store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'acknowledged' WHERE alert_id = ?", [alert_id])
    recompute_statuses(ws, "tickets", cause="alert acknowledged")
    assert current_statuses(ws, "tickets")["ML-1"].status == "inconclusive"  # still open
    with ws.store.transaction() as tx:
        tx.execute(
            "UPDATE alerts SET status = 'resolved', active = false WHERE project = 'tickets'"
        )
    recompute_statuses(ws, "tickets", cause="alert resolved")
    found = current_statuses(ws, "tickets")
    assert (found["ML-1"].status, found["ML-1"].alert_id) == ("met", None)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0.9, ">=", 0.8), "met"),  # no interval: judged by its value
        ((0.7, ">=", 0.8), "violated"),
        ((None, ">=", 0.8), "no_evidence"),
        ((0.9, ">=", 0.8, 2, 0.4, 1.0, 30), "inconclusive"),  # n below the minimum
        ((0.9, ">=", 0.8, 200, 0.85, 0.94, 30), "met"),
        ((0.82, ">=", 0.8, 200, 0.76, 0.87, 30), "inconclusive"),
        ((0.6, ">=", 0.8, 200, 0.53, 0.67, 30), "violated"),
        ((40.0, "<=", 50.0, 200, 35.0, 45.0, 20), "met"),
        ((48.0, "<=", 50.0, 200, 44.0, 53.0, 20), "inconclusive"),
        ((60.0, "<=", 50.0, 200, 55.0, 66.0, 20), "violated"),
    ],
)
def test_verdict_in_python(args: tuple, expected: str) -> None:  # type: ignore[type-arg]
    value, comparator, limit, *rest = args
    named = dict(zip(("n", "lower", "upper", "min_n"), rest, strict=False))
    assert verdict(value, comparator, limit, **named) == expected


def test_minimum_samples_by_metric_kind() -> None:
    assert [metric_kind(m) for m in ("accuracy", "recall.bug", "f1_macro", "latency_p95_ms")] == [
        "proportion",
        "proportion",
        "statistic",
        "latency",
    ]
    assert metric_kind("model_size_bytes") == "exact" and MIN_N["exact"] == 0
    assert metric_kind("estimated.precision.bug") == "proportion"


def test_min_n_and_fail_when_inconclusive_are_checked_once() -> None:
    entry = (
        "  - {id: ML-1, title: A, derived_from: [SYS-1], metric: accuracy, threshold: 0.5, "
        "min_n: %s, fail_when_inconclusive: %s}\n"
    )

    def parsed(min_n: str, flag: str) -> object:
        data = yaml.safe_load(_one(entry % (min_n, flag)))
        return parse_document(data, "req.yaml")[1][-1]

    item = parsed("50", "yes")
    assert (item.min_n, item.fail_when_inconclusive) == (50, True)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput) as bad:
        parsed("2.5", "no")
    assert str(bad.value) == (
        "req.yaml: ml[0] (ML-1).min_n: expected a whole number of items from 0 to "
        "1,000,000,000, got 2.5."
    )
    with pytest.raises(InvalidInput) as bad:
        parsed("5", "perhaps")
    assert str(bad.value) == (
        "req.yaml: ml[0] (ML-1).fail_when_inconclusive: expected true or false, got 'perhaps'."
    )


def test_a_derived_threshold_carries_the_uncertainty_of_a_measured_base_rate() -> None:
    from core.requirements.derive import derive

    known = derive("recall", {"volume": 2000, "base_rate": 0.25, "tolerated": 50})
    assert (known.threshold, known.threshold_range) == (0.9, None)
    measured = derive(
        "recall", {"volume": 2000, "base_rate": 0.25, "tolerated": 50, "base_rate_n": 200}
    )
    assert measured.threshold == 0.9 and measured.threshold_range == (0.872, 0.921)
    assert measured.steps[-1] == (
        "Over the measured inputs' intervals (base_rate 0.1951–0.3143 (95% CI, n = 200)): "
        "recall.<class> ≥ 0.872 … 0.921"
    )
    assert measured.as_dict()["threshold_range"] == [0.872, 0.921]


def test_nothing_is_derived_from_a_handful_of_items() -> None:
    from core.requirements.derive import derive

    with pytest.raises(InvalidInput) as refused:
        derive("precision", {"volume": 100, "base_rate": 0.3, "tolerated": 2, "base_rate_n": 3})
    assert str(refused.value) == (
        "Derivation: base_rate was measured on 3 items; a threshold is not derived from fewer "
        "than 30."
    )
    assert refused.value.hint == (
        "measure base_rate on more items, or leave base_rate_n out if it is known"
    )


def test_home_says_too_few_labels_instead_of_a_perfect_accuracy(evidence_ws: Workspace) -> None:
    from core.overview import project_overview
    from core.projects.service import get_project

    ws = evidence_ws
    version = production(ws).version
    add_window(
        ws,
        {("volume", ""): (400.0, 400), ("accuracy", ""): (1.0, 2)},
        model_version=version,
        end=AUG,
    )
    ops = project_overview(ws, get_project(ws, "tickets")).stages[3]
    assert "too few labels (n = 2) for realized accuracy" in ops.details
    add_window(
        ws,
        {("volume", ""): (400.0, 400), ("accuracy", ""): (0.9, 300)},
        model_version=version,
        end=AUG + DAY,
    )
    ops = project_overview(ws, get_project(ws, "tickets")).stages[3]
    assert "accuracy 0.900 (realized, n = 300, 95% CI 0.861–0.929)" in ops.details


def test_an_evaluation_runs_rates_get_intervals_over_their_own_denominators(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    import json

    from core.experiments.service import get_run
    from core.stats import confusion_intervals

    ws = evidence_ws
    first = next(iter(CLASSES))
    import_text(
        ws,
        _one(
            f"  - {{id: ML-1, title: R, derived_from: [SYS-1], metric: recall.{first}, "
            "threshold: 0.01, evidence: production}\n"
        ),
        tmp_path,
    )
    found = current_statuses(ws, "tickets")["ML-1"]
    run = get_run(ws, int(production(ws).metadata["run_id"]))
    digest = run.files["evaluation.json"]
    evaluation = json.loads(ws.blobs.read_bytes(digest))
    expected = confusion_intervals(
        np.asarray(evaluation["confusion"], float), evaluation["classes"]
    )[f"recall.{first}"]
    assert found.interval_method == "wilson" and found.source == "production"
    assert (found.n, found.lower, found.upper) == (expected.n, expected.lower, expected.upper)
    assert found.n < sum(map(sum, evaluation["confusion"]))  # the class's members, not all items


@pytest.mark.parametrize("fmt", ["yaml", "csv", "reqif"])
def test_min_n_and_fail_when_inconclusive_survive_every_file_format(
    evidence_ws: Workspace, tmp_path: Path, fmt: str
) -> None:
    from core.requirements.service import export_requirements, import_requirements
    from tests.core.test_requirements_support import TESTER

    ws = evidence_ws
    strict = MONITORED.replace("window_days: 10}", "window_days: 10, min_n: 50, ")
    import_text(ws, _one(strict + "fail_when_inconclusive: true}\n"), tmp_path)
    target = tmp_path / f"again.{fmt}"
    target.write_text(export_requirements(ws, "tickets", fmt))
    again = import_requirements(ws, target, TESTER, project="tickets")
    assert again.set_version is None  # read back as it was written: nothing changed
    item = next(r for r in list_requirements(ws, "tickets") if r.requirement_id == "ML-1")
    assert (item.min_n, item.fail_when_inconclusive) == (50, True)


def test_trace_exports_carry_n_and_the_interval(evidence_ws: Workspace, tmp_path: Path) -> None:
    from core.requirements.report import trace_export

    ws = evidence_ws
    import_text(ws, _one(MONITORED), tmp_path)
    add_window(ws, {("accuracy", ""): (0.9, 400)}, model_version=production(ws).version, end=AUG)
    recompute_statuses(ws, "tickets", cause="labels")
    found = current_statuses(ws, "tickets")["ML-1"]
    assert found.lower is not None and found.upper is not None
    rows = list(csv.DictReader(io.StringIO(trace_export(ws, "tickets", "csv"))))
    row = next(r for r in rows if r["ml_id"] == "ML-1")
    assert (row["n"], row["interval"]) == ("400", "wilson")
    assert (float(row["lower"]), float(row["upper"])) == (
        round(found.lower, 4),
        round(found.upper, 4),
    )
    document = yaml.safe_load(trace_export(ws, "tickets", "yaml"))
    entry = next(e for e in document["requirements"] if e["id"] == "ML-1")
    assert (entry["n"], entry["interval"], entry["min_n"]) == (400, "wilson", 30)
    assert "n = 400, 95% CI" in trace_export(ws, "tickets", "html")
    reqif = trace_export(ws, "tickets", "reqif")
    assert "Loopline.SampleSize" in reqif and found.interval_text in reqif


def test_a_threshold_relative_to_a_handful_of_items_decides_nothing(
    evidence_ws: Workspace, tmp_path: Path
) -> None:
    from core.requirements.matrix import evidence_detail

    ws = evidence_ws
    import_text(
        ws,
        _one(
            "  - {id: ML-1, title: Chat no worse, derived_from: [SYS-1], metric: accuracy, "
            "slices: [channel = chat], relative_to: channel = mail, tolerance: 0.05, "
            "evidence: monitoring, window_days: 10}\n"
        ),
        tmp_path,
    )
    version = production(ws).version
    add_window(
        ws,
        {("accuracy", "channel = chat"): (0.9, 500), ("accuracy", "channel = mail"): (0.4, 3)},
        model_version=version,
        end=AUG,
    )
    recompute_statuses(ws, "tickets", cause="three mails")
    found = current_statuses(ws, "tickets")["ML-1"]
    assert found.status == "inconclusive" and found.threshold == pytest.approx(0.35)
    chat, mail = evidence_detail(ws, "tickets", "ML-1").slices
    assert (chat.slice, chat.verdict, chat.n) == ("channel = chat", "inconclusive", 500)
    assert (mail.reference, mail.n) == (True, 3)
