"""Store benchmark: registering artifacts with lineage edges, and walking lineage.

    python bench/store.py            # from the repository root; prints one JSON object

The graph is what a workspace grows into: 20 projects, each with 5 artifact streams (dataset,
label set, model, evaluation, report) that gain one version per round. Every new version is
``derived_from`` its previous version (chains as long as the number of rounds) and, in most
cases, ``trained_on`` / ``derived_from`` one or two artifacts of the same project from the last
few rounds. One round is one ``register_many`` call: register_many takes edges to artifacts
that already exist, so a round can only point at earlier rounds.

Each measurement uses a fresh workspace in a temporary folder. "warm" means the caller holds
the store open (``with ws.store.read():`` as the app's pages do); "cold" means every call
opens the DuckDB file itself, as one CLI command does.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/store.py`

from bench.harness import Stopwatch, emit, header, scratch, summarize_ms, timed_ms
from core.actor import Actor
from core.artifacts.lineage import lineage
from core.artifacts.models import Lineage, NewArtifact
from core.artifacts.service import register, register_many
from core.store import Workspace

SEED = 7
PROJECTS = 20  # 100 artifacts per round: chains of 100 versions in the 10,000-artifact graph
WIDE_PROJECTS = 100  # 500 per round: bigger batches, chains of only 20
STREAMS = ("dataset", "label_set", "model", "evaluation", "report")
BATCH_COUNT = 10_000
SINGLE_COUNT = 1_000
COLD_SINGLE_COUNT = 200
PICKS = 50
REPEATS = 5
TARGETS = {"batch_registrations_per_s": 2_000, "lineage_ms": 50}
ACTOR = Actor("bench", "test")


def plan(
    count: int, rng: random.Random, projects: int = PROJECTS
) -> list[list[tuple[NewArtifact, list[tuple[str, int]]]]]:
    """Rounds of (artifact, inputs as (relation, index of an earlier artifact))."""
    size = projects * len(STREAMS)  # artifacts per round = per register_many call
    rounds = []
    for r in range(-(-count // size)):
        batch = []
        for slot in range(min(size, count - r * size)):
            project, stream = divmod(slot, len(STREAMS))
            index = r * size + slot
            inputs: list[tuple[str, int]] = []
            if r:
                inputs.append(("derived_from", index - size))  # previous version, same stream
                for _ in range(rng.choice((0, 1, 1, 2))):  # 1–3 edges in all
                    back = rng.randint(1, min(r, 3))
                    other = rng.randrange(len(STREAMS))
                    relation = "trained_on" if STREAMS[stream] == "model" else "derived_from"
                    target = (r - back) * size + project * len(STREAMS) + other
                    if (relation, target) not in inputs:
                        inputs.append((relation, target))
            new = NewArtifact(
                kind=STREAMS[stream],
                name=f"p{project:02d}-{STREAMS[stream]}",
                project=None,
                metadata={"round": r, "rows": rng.randint(100, 100_000), "note": "bench"},
            )
            batch.append((new, inputs))
        rounds.append(batch)
    return rounds


def with_ids(
    batch: list[tuple[NewArtifact, list[tuple[str, int]]]], ids: list[int]
) -> list[NewArtifact]:
    return [
        NewArtifact(
            kind=new.kind,
            name=new.name,
            project=new.project,
            metadata=new.metadata,
            inputs=[(relation, ids[target]) for relation, target in inputs],
        )
        for new, inputs in batch
    ]


@contextmanager
def fresh_workspace() -> Iterator[Workspace]:
    with scratch() as tmp:
        yield Workspace.init(tmp / "ws")


def register_batches(
    ws: Workspace, count: int, rng: random.Random, projects: int
) -> tuple[float, list[int]]:
    ids: list[int] = []
    with Stopwatch() as clock:
        for batch in plan(count, rng, projects):
            ids += [a.artifact_id for a in register_many(ws, with_ids(batch, ids), ACTOR)]
    return clock.seconds, ids


def register_singly(ws: Workspace, count: int, rng: random.Random, warm: bool) -> float:
    ids: list[int] = []
    with Stopwatch() as clock, ws.store.read() if warm else nullcontext():
        for batch in plan(count, rng):
            for new in with_ids(batch, ids):
                ids.append(register(ws, new, ACTOR).artifact_id)
    return clock.seconds


def timed_lineage(ws: Workspace, artifact_id: int, direction: str) -> tuple[float, Lineage]:
    return timed_ms(lineage, ws, artifact_id, direction)


def summary(times_ms: list[float], sizes: list[int]) -> dict[str, Any]:
    return {
        **summarize_ms(times_ms, 2),
        "nodes_median": int(statistics.median(sizes)),
        "nodes_max": max(sizes),
        "queries": len(times_ms),
    }


def lineage_times(ws: Workspace, ids: list[int], rng: random.Random) -> dict[str, Any]:
    picks = rng.sample(ids, PICKS)
    deep = ids[-1]  # newest version of the last stream: the longest upstream chain
    root = ids[0]  # first version of the first stream: everything of its project descends
    out: dict[str, Any] = {}
    with ws.store.read():  # warm, as the Artifacts page calls it
        lineage(ws, root, "down")  # first query plans and caches; not counted
        for direction in ("up", "down"):
            runs = [timed_lineage(ws, a, direction) for a in picks]
            out[f"random_{direction}"] = summary(
                [t for t, _ in runs], [len(g.nodes) for _, g in runs]
            )
        for label, node, direction in (("deep_up", deep, "up"), ("root_down", root, "down")):
            runs = [timed_lineage(ws, node, direction) for _ in range(REPEATS)]
            out[label] = summary([t for t, _ in runs], [len(g.nodes) for _, g in runs])
            out[label]["artifact_id"] = node
            out[label]["max_min_depth"] = max(runs[0][1].depth.values())  # shortcuts shorten it
    cold = [timed_lineage(ws, a, "up") for a in picks[:10]]
    out["cold_random_up"] = summary([t for t, _ in cold], [len(g.nodes) for _, g in cold])
    return out


def main() -> int:
    clock = Stopwatch()
    rng = random.Random(SEED)
    result = header("store", targets=TARGETS)
    for projects in (WIDE_PROJECTS, PROJECTS):  # the graph with long chains stays for lineage
        size = projects * len(STREAMS)
        with fresh_workspace() as ws:
            seconds, ids = register_batches(ws, BATCH_COUNT, rng, projects)
            with ws.store.read() as tx:
                edges = tx.scalar("SELECT count(*) FROM edges")
            result[f"register_many_{size}"] = {
                "artifacts": BATCH_COUNT,
                "edges": edges,
                "batch_size": size,
                "calls": -(-BATCH_COUNT // size),
                "longest_chain": -(-BATCH_COUNT // size) - 1,
                "seconds": round(seconds, 2),
                "per_s": round(BATCH_COUNT / seconds),
            }
            if projects == PROJECTS:
                result["lineage"] = lineage_times(ws, ids, rng)
    for warm, count in ((True, SINGLE_COUNT), (False, COLD_SINGLE_COUNT)):
        with fresh_workspace() as ws:
            seconds = register_singly(ws, count, rng, warm)
        result[f"register_single_{'warm' if warm else 'cold'}"] = {
            "artifacts": count,
            "seconds": round(seconds, 2),
            "per_s": round(count / seconds),
            "ms_per_call": round(seconds / count * 1000, 2),
        }
    lin = result["lineage"]
    worst = max(lin[k]["p95_ms"] for k in ("random_up", "random_down", "deep_up", "root_down"))
    batch_rate = min(
        result[f"register_many_{p * len(STREAMS)}"]["per_s"] for p in (WIDE_PROJECTS, PROJECTS)
    )
    result["meets_targets"] = {
        "batch_registrations_per_s": batch_rate >= TARGETS["batch_registrations_per_s"],
        "lineage_ms (warm p95)": worst < TARGETS["lineage_ms"],
    }
    emit(result, clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
