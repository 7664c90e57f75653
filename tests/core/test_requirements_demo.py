"""The sample requirement sets on the demo workspace: thresholds calibrated on what the demo's
models achieve, and story A — English v1 meets SYS-1, a German/French month of monitoring violates
it via "no worse in German and French", production v2 puts it back — with its history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.actor import Actor
from core.artifacts.service import get_artifact
from core.builds.impact import impact
from core.registry.service import find_alias
from core.releases.service import promote
from core.requirements.service import import_requirements
from core.requirements.status import current_statuses, recompute_statuses, status_history
from core.store import Workspace
from tests.conftest import ROOT
from tests.core.test_requirements_support import add_window, after_monitoring

MARIA = Actor("maria", "app")  # a manager edits requirements
LEAD = Actor("lead", "cli")  # data scientist and release manager
SAMPLE = ROOT / "sample_data"


def _import_samples(ws: Workspace) -> None:
    for project in ("ooo-replies", "hw-triage"):
        import_requirements(ws, SAMPLE / project / "requirements.yaml", MARIA)


def test_sample_thresholds_hold_with_a_margin_on_the_demo_models(demo_copy: Path) -> None:
    ws = Workspace.open(demo_copy)
    _import_samples(ws)
    a = current_statuses(ws, "ooo-replies")
    # ooo-replies: English is judged on 700 test replies (ML-2 met), ML-3 on September's
    # monitoring of production v2 (about 1,500 labeled replies per new language: met), ML-9 on
    # build 3's behavioural suite, precision (ML-1) on the verification's 367 detections (the
    # vendor's September sample in the test set: met); return-date F1 overall and on the German
    # and French slices straddles its threshold: inconclusive, and they say so
    assert {k: s.status for k, s in a.items() if s.level == "ml"} == {
        "ML-1": "met",
        "ML-2": "met",
        "ML-3": "met",
        "ML-4": "met",
        "ML-5": "inconclusive",
        "ML-6": "inconclusive",
        "ML-7": "met",
        "ML-8": "met",  # latency: its per-item timings give an interval far below 50 ms
        "ML-9": "met",
    }
    assert all(s.n is not None for k, s in a.items() if s.level == "ml" and k != "ML-7")
    assert a["SYS-1"].status == "met" and a["SYS-3"].status == "met"
    # B as if build 1 were in production: the demo's gate may refuse it when the machine is busy
    # (its default max_latency of 100 ms is close to this model's one-item latency)
    b = impact(ws, "hw-triage", build=1).after
    assert {k for k, s in b.items() if s.level == "ml" and s.status != "met"} == {"ML-5"}, b
    for found in (*a.values(), *b.values()):  # no met requirement is within 0.01 of failing
        if found.level == "ml" and found.status == "met" and found.value is not None:
            room = (
                found.value - found.threshold
                if found.comparator in (">=", ">")
                else found.threshold - found.value
            )
            assert room >= 0.01 * abs(found.threshold), found


def test_story_a_monitoring_breaks_sys1_and_production_v2_fixes_it(demo_copy: Path) -> None:
    """Roll back to v1 (English only), a month of German and French replies, v2 again."""
    ws = Workspace.open(demo_copy)
    _import_samples(ws)
    v1 = get_artifact(ws, "model:ooo-replies@1")
    production = find_alias(ws, "ooo-replies")
    assert production is not None and production.version > v1.version
    before = current_statuses(ws, "ooo-replies")["SYS-1"].status
    promote(ws, "ooo-replies", v1.artifact_id, LEAD, reason="English only, as in months 1–3")
    end = after_monitoring(ws, "ooo-replies")
    add_window(
        ws,
        {
            ("accuracy", "language = en"): (0.92, 310),
            ("accuracy", "language = de"): (0.59, 140),
            ("estimated.accuracy", "language = de"): (0.71, 900),
            ("accuracy", "language = fr"): (0.76, 120),
        },
        project="ooo-replies",
        model_version=v1.version,
        end=end,
        days=30,
    )
    recompute_statuses(ws, "ooo-replies", cause="monitoring of the new market")
    found = current_statuses(ws, "ooo-replies")
    assert found["SYS-1"].status == "violated" and found["SYS-1"].via == "ML-3"
    assert found["ML-3"].value_text == "0.590 < 0.870 on language = de"  # realized, not estimated
    start = end - timedelta(days=30)
    assert found["ML-3"].evidence_ref == (
        f"monitoring {start:%Y-%m-%d} – {end:%Y-%m-%d} (model v{v1.version})"
    )
    promote(ws, "ooo-replies", production.artifact_id, LEAD, reason="build 3: both markets")
    found = current_statuses(ws, "ooo-replies")
    ml3 = found["ML-3"]
    # monitoring saw only v1; v2's verification passes on too few German and French items
    assert ml3.status == "inconclusive" and ml3.source == "production"
    assert ml3.value is not None and ml3.threshold is not None and ml3.value >= ml3.threshold
    # SYS-1 was met (ML-1 on v2's verification); with ML-3 inconclusive it is inconclusive now
    assert before == "met" and found["SYS-1"].status == "inconclusive"
    assert found["SYS-1"].via == "ML-3"
    story = [(h.status, h.cause) for h in reversed(status_history(ws, "ooo-replies", "SYS-1"))]
    assert story[-2:] == [
        # v1 is violated the moment it is back: monitoring saw it on September's first days
        ("violated", "model:ooo-replies@1 promoted: English only, as in months 1–3"),
        ("inconclusive", f"{production.ref} promoted: build 3: both markets"),
    ]
