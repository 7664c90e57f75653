"""Bench figures against the last recorded run and the targets: a report to read, not a test.

    python bench/compare.py                  # each bench's newest run in bench/results/ against
                                             # the run before it and against its targets
    python bench/compare.py --against REV --bench monitoring -- --repeats 1 --skip-service
                                             # REV's bench code (a git worktree) and this
                                             # checkout's, one after the other on this machine
    python bench/compare.py --markdown       # rewrite the figures section of docs/benchmarks.md

A figure is a number in a bench's JSON report (``loopline.drift_s``, ``ratios.speedup_vs_evidently
(drift time)``). Whether lower or higher is better is read from its name (times, memory and
shares: lower; speedups, ratios and rates: higher); the others (counts, settings, per-column
values) are left to the JSON files and never flagged. A figure more than 25% worse than in the run it is compared with is flagged
``WORSE``: machines are shared and noisy, so read the load averages before believing it, and use
``--against`` (both commits measured in the same run on the same machine) for a fair before/after.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/compare.py`

from bench.harness import PEERS, ROOT, results_record, write_results

RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench/compare.py --markdown: start -->"
END = "<!-- bench/compare.py --markdown: end -->"
WORSE_BY = 0.25  # flagged when more than this much worse than the run compared with
SKIPPED = {"machine", "workload", "targets", "runs", "times_ms", "versions", "date", "runtime_s"}
LOWER = re.compile(r"(_ms|_s|seconds|_mb|_gib|max_abs_diff|error)$|memory_share")
HIGHER = re.compile(r"(speedup|ratio|per_s|rps|throughput)")
# a target's figure when its name alone does not say (the bench's ``targets`` key → figure path)
TARGET_FIGURES = {
    "monitoring": {
        "speedup_vs_evidently": "ratios.speedup_vs_evidently (drift time)",
        "memory_share_of_evidently": "ratios.memory_share_of_evidently (peak RSS)",
    },
    "labeling": {
        "next_item_p95_ms (cold)": "queue_cold.next_item.p95_ms",
        "save_p95_ms (cold)": "queue_cold.save_annotation.p95_ms",
        "next_item_p95_ms (cold, writer running)": "queue_with_writer.next_item.p95_ms",
        "save_p95_ms (cold, writer running)": "queue_with_writer.save_annotation.p95_ms",
        "ingest_1m_seconds": "ingest_1m.seconds",
        "ingest_1m_peak_mb": "ingest_1m.peak_mb",
    },
}
# the figures docs/benchmarks.md shows for a bench (all figures with a direction otherwise)
HEADLINES = {
    "monitoring": (
        "loopline.seconds",
        "loopline.cpu_s",
        "loopline.reference_s",
        "loopline.store_s",
        "loopline.drift_s",
        "loopline.peak_rss_mb",
        "evidently.default.seconds",
        "evidently.default.cpu_s",
        "evidently.default.peak_rss_mb",
        "psi_agreement.max_abs_diff",
        "js_agreement (categorical, Evidently's default test).max_abs_diff",
        "ratios.speedup_vs_evidently (drift time)",
        "ratios.speedup_vs_evidently (CPU time: the figure least moved by other load)",
        "ratios.memory_share_of_evidently (peak RSS)",
    ),
    "labeling": (
        "queue_cold.next_item.p50_ms",
        "queue_cold.next_item.p95_ms",
        "queue_cold.save_annotation.p50_ms",
        "queue_cold.save_annotation.p95_ms",
        "queue_warm.next_item.p95_ms",
        "queue_warm.save_annotation.p95_ms",
        "queue_with_writer.next_item.p95_ms",
        "queue_with_writer.save_annotation.p95_ms",
        "ingest_1m.seconds",
        "ingest_1m.peak_mb",
    ),
}


@dataclass(frozen=True)
class Row:
    """One figure of a run, next to the run it is compared with and its target."""

    figure: str
    value: float
    before: float | None
    target: float | None
    better: str | None  # "lower" | "higher" | None (not judged)

    @property
    def change(self) -> float | None:
        """Relative change from ``before`` (+0.3: 30% larger)."""
        if self.before is None or self.before == 0:
            return None
        return (self.value - self.before) / abs(self.before)

    @property
    def worse(self) -> bool:
        """More than ``WORSE_BY`` worse than before, in the figure's own direction."""
        change = self.change
        if change is None or self.better is None:
            return False
        return change > WORSE_BY if self.better == "lower" else change < -WORSE_BY

    @property
    def met(self) -> bool | None:
        if self.target is None or self.better is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


# --- reading reports and recorded runs ------------------------------------------------------------


def figures(report: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number of a report by its dotted path, nested lists and bookkeeping left out."""
    out: dict[str, float] = {}
    for key, value in report.items():
        if key in SKIPPED:
            continue
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(figures(value, path + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def better(path: str) -> str | None:
    """Which way a figure improves, from its last name (``… (drift time)`` notes dropped)."""
    name = re.sub(r" \([^()]*\)$", "", path).rsplit(".", 1)[-1].lower()
    if HIGHER.search(name):  # first: ``runs_per_s`` ends like a time but is a rate
        return "higher"
    if LOWER.search(name):
        return "lower"
    return None


def targets(bench: str, report: Mapping[str, Any]) -> dict[str, float]:
    """The report's own targets, by the figure each one applies to."""
    named = TARGET_FIGURES.get(bench, {})
    out: dict[str, float] = {}
    for key, value in (report.get("targets") or {}).items():
        if isinstance(value, int | float):
            out[named.get(key, key)] = float(value)
    return out


def bench_name(report: Mapping[str, Any]) -> str:
    return str(report.get("bench") or report.get("benchmark") or "bench")


def recorded(folder: Path = RESULTS) -> dict[str, list[dict[str, Any]]]:
    """Recorded runs per bench, oldest first (``bench/results/<time>-<bench>.json``)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if "figures" not in record:  # a bench's bare report saved by hand: no commit known
            record = as_record(record, path)
        record["path"] = str(path)
        runs.setdefault(str(record["bench"]), []).append(record)
    for found in runs.values():
        found.sort(key=lambda r: str(r["timestamp"]))
    return runs


def as_record(report: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A bare report (what a bench prints) read as a record: its time from the file's name
    (``<YYYYmmddTHHMMSSZ>-<bench>.json``), the commit unknown, the load the report gives."""
    stamp = datetime.strptime(path.name.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    machine = dict(report.get("machine") or {})
    machine.setdefault("load_average", [machine.get("load_average_1min", "?")])
    return {
        "bench": bench_name(report),
        "timestamp": stamp.isoformat(timespec="seconds"),
        "commit": None,
        "dirty": None,
        "machine": machine,
        "figures": dict(report),
    }


def compare(record: Mapping[str, Any], before: Mapping[str, Any] | None) -> list[Row]:
    """Each figure of a run against the same figure of ``before`` and against its target."""
    report = record["figures"]
    earlier = figures(before["figures"]) if before is not None else {}
    goals = targets(str(record["bench"]), report)
    return [
        Row(path, value, earlier.get(path), goals.get(path), better(path))
        for path, value in figures(report).items()
    ]


# --- the report -----------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _run(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "no earlier run on this kind of machine (compare commits with --against REV)"
    commit = str(record.get("commit") or "?")[:10] + ("+" if record.get("dirty") else "")
    loads = record.get("machine", {}).get("load_average") or ["?"]
    cpu = record.get("machine", {}).get("cpu_model") or "?"
    return f"{record['timestamp']} {commit}, load {loads[0]} ({cpu}, {record['machine'].get('cpus')} cores)"


def text(record: Mapping[str, Any], before: Mapping[str, Any] | None, rows: Sequence[Row]) -> str:
    """The comparison as a plain table for the terminal."""
    lines = [
        f"== {record['bench']}: {_run(record)}",
        f"   against {_run(before)}",
        f"   {'figure':<62} {'now':>10} {'before':>10} {'change':>8} {'target':>9}  flag",
    ]
    for row in [r for r in rows if r.better or r.target is not None]:
        change = "" if row.change is None else f"{row.change:+.0%}"
        flags = ["WORSE"] if row.worse else []
        if row.met is not None:
            flags.append("met" if row.met else "NOT MET")
        lines.append(
            f"   {row.figure[:62]:<62} {_number(row.value):>10} {_number(row.before):>10} "
            f"{change:>8} {_number(row.target):>9}  {' '.join(flags)}"
        )
    unjudged = sum(1 for row in rows if not (row.better or row.target is not None))
    lines.append(f"   ({unjudged} other figures, counts and values, are in the JSON files)")
    worse = [row.figure for row in rows if row.worse]
    lines.append(
        f"   {len(worse)} figure(s) more than 25% worse"
        + (f": {', '.join(worse)}" if worse else "")
    )
    return "\n".join(lines)


def latest(
    runs: Mapping[str, list[dict[str, Any]]],
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each bench's newest run and the newest earlier run on the same kind of machine (CPU model
    and core count): the same workload on another CPU differs by more than the 25% this report
    flags (Evidently's drift run took 126 CPU seconds on one of this workplace's Xeons and 199 on
    an EPYC), so runs on different machines are never compared; ``--against`` is the fair way."""
    for bench in sorted(runs):
        *earlier, newest = runs[bench]
        same = [r for r in earlier if machine_kind(r) == machine_kind(newest)]
        yield newest, same[-1] if same else None


def machine_kind(record: Mapping[str, Any]) -> tuple[str, object]:
    machine = record.get("machine", {})
    return str(machine.get("cpu_model") or "?"), machine.get("cpus")


# --- the same machine, two commits ----------------------------------------------------------------


def run_bench(checkout: Path, bench: str, args: Sequence[str]) -> dict[str, Any]:
    """``bench/<bench>.py args`` of ``checkout`` with this checkout's venv; its report (the last
    JSON object it printed). The bench puts ``checkout`` first on ``sys.path``, so the code
    measured is that checkout's."""
    done = subprocess.run(
        [sys.executable, str(checkout / "bench" / f"{bench}.py"), *args],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench/{bench}.py at {checkout} failed: {done.stderr.strip()[-1500:]}")
    return report_of(done.stdout)


def report_of(stdout: str) -> dict[str, Any]:
    """The last JSON object in a bench's output (it is printed indented, from column 0)."""
    lines = stdout.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith("{"):
            try:
                found: dict[str, Any] = json.loads("\n".join(lines[start:]))
                return found
            except json.JSONDecodeError:
                continue
    raise RuntimeError(f"no JSON report in the output: {stdout[-500:]}")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def against(
    revision: str, benches: Sequence[str], args: Sequence[str], rounds: int = 1
) -> list[str]:
    """Run ``revision``'s benches (a detached worktree sharing this checkout's peer venvs), then
    this checkout's, and compare; this checkout's runs are recorded in bench/results/.

    With ``rounds`` > 1 the two alternate (before, after, before, after, …) and each side's
    figures are the medians over its rounds: on a shared machine the load drifts over minutes,
    and alternating spreads that drift over both sides instead of handing it to one."""
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="loopline-compare-") as folder:
        tree = Path(folder) / "tree"
        git("worktree", "add", "--detach", str(tree), commit)
        try:
            for venv in PEERS.glob(".venv-*"):  # peers are built once, not per worktree
                (tree / "bench" / "peers" / venv.name).symlink_to(venv)
            for bench in benches:
                old: list[dict[str, Any]] = []
                new: list[dict[str, Any]] = []
                for _ in range(rounds):
                    old.append(run_bench(tree, bench, args))
                    new.append(run_bench(ROOT, bench, args))
                before = {**results_record(median_report(old)), "commit": commit, "dirty": False}
                record = json.loads(write_results(median_report(new), RESULTS).read_text())
                out.append(text(record, before, compare(record, before)))
        finally:
            git("worktree", "remove", "--force", str(tree))
    return out


def median_report(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The first report with each number replaced by its median over ``reports`` (a number some
    report lacks is the median of those that have it); one report is returned as it is."""
    first = dict(reports[0])
    if len(reports) == 1:
        return first

    def merge(values: Sequence[Any]) -> Any:
        head = values[0]
        if isinstance(head, Mapping):
            keys = head.keys()
            return {
                k: merge([v[k] for v in values if isinstance(v, Mapping) and k in v]) for k in keys
            }
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if isinstance(head, int | float) and not isinstance(head, bool) and numbers:
            return statistics.median(numbers)
        return head

    merged: dict[str, Any] = merge(list(reports))
    merged["rounds"] = len(reports)
    return merged


# --- docs/benchmarks.md ---------------------------------------------------------------------------


def markdown(runs: Mapping[str, list[dict[str, Any]]]) -> str:
    """The newest run of each bench as a table: figure, value, the run before, target."""
    parts = [
        START,
        "",
        "_Generated by `bench/compare.py --markdown` from `bench/results/` (do not edit by hand)._",
    ]
    for record, before in latest(runs):
        rows = compare(record, before)
        shown = HEADLINES.get(str(record["bench"]))
        chosen = [r for r in rows if (r.figure in shown if shown else r.better or r.target)]
        parts += [
            "",
            f"### `bench/{record['bench']}.py` — {_run(record)}",
            "",
            "| Figure | Value | Run before | Target |",
            "|---|---|---|---|",
        ]
        for row in chosen:
            goal = (
                ""
                if row.met is None
                else f"{_number(row.target)} ({'met' if row.met else 'not met'})"
            )
            flag = " (>25% worse)" if row.worse else ""
            parts.append(
                f"| `{row.figure}` | {_number(row.value)}{flag} | {_number(row.before)} | {goal} |"
            )
    parts += ["", END]
    return "\n".join(parts)


def rewrite(document: str, section: str) -> str:
    """``document`` with the text between the markers replaced (appended when there is none)."""
    if START in document and END in document:
        head, rest = document.split(START, 1)
        return head + section + rest.split(END, 1)[1]
    return document.rstrip("\n") + "\n\n## Current figures\n\n" + section + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="run REV's benches too, now, and compare")
    parser.add_argument("--bench", action="append", help="bench name(s) for --against")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --against: alternate the two commits this many times, compare the medians",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="rewrite docs/benchmarks.md's figures"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help="after --: arguments for the benches")
    options = parser.parse_args(argv)
    if options.against:
        benches = options.bench or ["monitoring"]
        print("\n\n".join(against(options.against, benches, options.args, options.rounds)))
        return 0
    runs = recorded(options.results)
    if options.markdown:
        options.docs.write_text(rewrite(options.docs.read_text(), markdown(runs)))
        print(f"rewrote the figures section of {options.docs}")
        return 0
    if not runs:
        print(f"no recorded runs in {options.results}: run `make bench` first")
        return 0
    print("\n\n".join(text(r, b, compare(r, b)) for r, b in latest(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
