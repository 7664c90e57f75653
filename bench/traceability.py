"""Traceability benchmark: status recomputation and the matrix query at scale.

    python bench/traceability.py     # from the repository root; prints one JSON object

A fresh workspace holds the tickets project (120 labeled tickets, a trained model in production:
the same small base the requirements tests use), then 2,000 system requirements (a forest: 200
roots, children up to three levels deep) and 5,000 ML requirements derived from them (1–2 links
each; 1–3 slices; a fifth in the relative form; 60 % checked against production, 30 % against
monitoring then production, 10 % against the latest build), and 50,000 evidence rows: 25,000
metrics of the production model's run (10 metrics × 2,500 slices, logged with the tracking API)
and 25,000 monitoring figures (``monitor_metrics``, the monitoring contract; 10 daily windows).

Measured (median of 5 in one process, store held open as a page does):
- ``recompute_s``: ``recompute_statuses`` for the project, every status recomputed in SQL, after
  a change of evidence (a monitoring window), so history rows are written too;
- ``recompute_steady_s``: the same when nothing changed;
- ``matrix_ms``: ``traceability_matrix`` (current requirements + statuses → tree rows, coverage);
- ``matrix_violated_ms``: the same filtered to violated.
Targets: recomputation < 2 s, matrix < 300 ms. No peer tool does this, so none runs here.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/traceability.py`

from bench.harness import Stopwatch, emit, header, scratch, timed_ms

SEED = 11
SYSTEM, ML = 2_000, 5_000
METRICS = (
    "accuracy",
    "f1_macro",
    "precision.billing",
    "recall.billing",
    "precision.bug",
    "recall.bug",
    "f1.sales",
    "roc_auc",
    "log_loss",
    "latency_p95_ms",
)
SLICE_VALUES = 2_500
WINDOWS = 10
REPEATS = 5
TARGETS = {"recompute_s": 2.0, "matrix_ms": 300.0}


def _slices() -> list[str]:
    return [f"channel = c{i:04d}" for i in range(SLICE_VALUES)]


def requirement_set(rng: random.Random) -> list[Any]:
    from core.requirements.models import Requirement

    items: list[Requirement] = []
    roots = SYSTEM // 10
    for index in range(SYSTEM):
        parent = None if index < roots else f"SYS-{rng.randrange(max(1, index // 3))}"
        items.append(
            Requirement(
                "tickets",
                f"SYS-{index}",
                "system",
                f"System requirement {index}",
                category=rng.choice(("reliability", "performance", "usability", "business")),
                owner=rng.choice(("maria", "lead", "omar")),
                parent=parent,
            )
        )
    slices = _slices()
    for index in range(ML):
        metric = rng.choice(METRICS)
        chosen = tuple(rng.sample(slices, rng.randint(1, 3)))
        relative = rng.random() < 0.2
        comparator = "<=" if metric in ("log_loss", "latency_p95_ms") else ">="
        evidence = rng.choices(
            [("production",), ("monitoring", "production"), ("build",)], weights=(6, 3, 1)
        )[0]
        items.append(
            Requirement(
                "tickets",
                f"ML-{index}",
                "ml",
                f"ML requirement {index}",
                category="model quality",
                owner=rng.choice(("lead", "omar")),
                derived_from=tuple(
                    dict.fromkeys(f"SYS-{rng.randrange(SYSTEM)}" for _ in range(rng.randint(1, 2)))
                ),
                metric=metric,
                slices=chosen,
                relative_to=rng.choice(slices) if relative else None,
                tolerance=0.05 if relative else None,
                comparator=comparator,
                threshold=None if relative else round(rng.uniform(0.5, 0.95), 3),
                evidence=evidence,
                window_days=7 if "monitoring" in evidence else None,
            )
        )
    return items


def evidence(ws: Any, rng: random.Random) -> tuple[int, int]:
    """25,000 run metrics of a production model and 25,000 monitoring figures."""
    from core.actor import Actor
    from core.experiments.service import get_run, load_run_model
    from core.experiments.tracking import Tracker
    from core.registry.service import find_alias, register_run_model
    from core.releases.service import promote

    actor = Actor("bench", "test")
    production = find_alias(ws, "tickets")
    assert production is not None
    base = get_run(ws, int(production.metadata["run_id"]))
    slices = _slices()
    with (
        Tracker(ws, actor) as tracker,
        tracker.start_run(
            "tickets",
            inputs={"dataset": base.inputs["dataset"], "label_set": base.inputs["label_set"]},
        ) as run,
    ):
        run.log_metrics({m: rng.uniform(0.5, 1.0) for m in METRICS})
        for name in slices[:-1]:
            run.log_metrics({m: rng.uniform(0.5, 1.0) for m in METRICS}, slice=name)
        run.log_model(load_run_model(ws, base.run_id))
    model = register_run_model(ws, run.run_id, actor)
    promote(ws, "tickets", model.artifact_id, actor, reason="benchmark evidence")
    rows = []
    end = datetime(2026, 9, 30)
    per_window = 25_000 // WINDOWS
    for day in range(WINDOWS):
        stop = end - timedelta(days=day)
        for index in range(per_window):
            metric = METRICS[index % len(METRICS)]
            name = slices[(index // len(METRICS)) % len(slices)]
            rows.append(
                (
                    "tickets",
                    str(model.artifact_id),
                    model.version,
                    "day",
                    stop - timedelta(days=1),
                    stop,
                    metric,
                    name,
                    rng.uniform(0.4, 1.0),
                    rng.randint(5, 500),
                    "realized",
                    stop,
                )
            )
    with ws.store.transaction() as tx:
        tx.executemany(
            "INSERT INTO monitor_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        logged = int(tx.scalar("SELECT count(*) FROM run_metrics WHERE run_id = ?", [run.run_id]))
    return logged + len(rows), model.version


def main() -> None:
    from core.actor import Actor
    from core.requirements.matrix import traceability_matrix
    from core.requirements.service import save_requirements
    from core.requirements.status import recompute_statuses
    from core.store import Workspace
    from tests.core.test_requirements_support import add_window, build_base

    rng = random.Random(SEED)
    with scratch() as folder:
        with Stopwatch() as setup:
            ws = Workspace.open(build_base(folder))
            rows, version = evidence(ws, rng)
        items = requirement_set(rng)
        with Stopwatch() as imported:
            saved = save_requirements(ws, "tickets", items, Actor("bench", "test"), source="bench")
        assert saved.set_version == 1 and len(saved.created) == SYSTEM + ML
        changed, steady, matrix_ms, violated_ms = [], [], [], []
        with ws.store.read():
            for repeat in range(REPEATS):
                add_window(
                    ws,
                    {("accuracy", name): (rng.uniform(0.3, 1.0), 100) for name in _slices()[:200]},
                    model_version=version,
                    end=datetime(2026, 10, 1) + timedelta(days=repeat),
                    days=1,
                )
                ms, done = timed_ms(recompute_statuses, ws, "tickets", cause=f"window {repeat}")
                changed.append(ms / 1000)
                steady.append(timed_ms(recompute_statuses, ws, "tickets", cause="again")[0] / 1000)
                gc.collect()  # the previous matrix's objects are not collected inside the timing
                ms, matrix = timed_ms(traceability_matrix, ws, "tickets")
                matrix_ms.append(ms)
                gc.collect()
                violated_ms.append(
                    timed_ms(traceability_matrix, ws, "tickets", status="violated")[0]
                )
        counts = matrix.coverage.by_status
    # built last: the machine's load average covers the measurements
    result = header(
        "traceability",
        key="benchmark",
        system_requirements=SYSTEM,
        ml_requirements=ML,
        evidence_rows=rows,
        statuses=done.statuses,
        status_changes_last_window=done.changes,
        by_status=counts,
        setup_s=round(setup.seconds, 2),
        import_s=round(imported.seconds, 2),
        recompute_s=round(statistics.median(changed), 3),
        recompute_steady_s=round(statistics.median(steady), 3),
        matrix_ms=round(statistics.median(matrix_ms), 1),
        matrix_violated_ms=round(statistics.median(violated_ms), 1),
        targets=TARGETS,
        meets_targets=statistics.median(changed) < TARGETS["recompute_s"]
        and statistics.median(matrix_ms) < TARGETS["matrix_ms"],
    )
    emit(result)


if __name__ == "__main__":
    main()
