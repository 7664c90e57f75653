"""bench/compare.py: recorded runs against the run before and the targets, on small fake files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import compare, harness


def report(seconds: float, speedup: float, memory_share: float, rows: int = 1000) -> dict[str, Any]:
    return {
        "bench": "monitoring",
        "date": "2026-12-02 00:00 UTC",
        "machine": {"cpus": 2},
        "targets": {"speedup_vs_evidently": 50.0, "memory_share_of_evidently": 0.25},
        "workload": {"rows": rows},
        "loopline": {"seconds": seconds, "runs": [{"seconds": 99.0}], "columns": 25},
        "ratios": {
            "speedup_vs_evidently (drift time)": speedup,
            "memory_share_of_evidently (peak RSS)": memory_share,
        },
        "meets_targets": {"speedup_vs_evidently": speedup >= 50},
    }


def record(folder: Path, stamp: str, figures: dict[str, Any], cpu: str = "Test CPU") -> None:
    data = {
        "bench": figures["bench"],
        "timestamp": stamp,
        "commit": "0123456789abcdef",
        "dirty": False,
        "machine": {"cpu_model": cpu, "cpus": 2, "load_average": [0.5, 0.4, 0.3]},
        "figures": figures,
    }
    (folder / f"{stamp.replace(':', '')}-{figures['bench']}.json").write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    record(tmp_path, "2026-12-01T10:00:00+00:00", report(2.0, 60.0, 0.20))
    record(tmp_path, "2026-12-01T09:00:00+00:00", report(9.0, 10.0, 0.90))  # older, out of order
    record(tmp_path, "2026-12-02T10:00:00+00:00", report(2.4, 40.0, 0.21))
    return tmp_path


def test_the_newest_run_is_compared_with_the_one_before(results: Path) -> None:
    runs = compare.recorded(results)
    (newest, before), *_ = compare.latest(runs)
    assert newest["timestamp"].startswith("2026-12-02") and before is not None
    assert before["timestamp"].startswith("2026-12-01T10")
    rows = {row.figure: row for row in compare.compare(newest, before)}
    assert "loopline.runs" not in str(list(rows)) and "workload.rows" not in rows  # bookkeeping
    time = rows["loopline.seconds"]
    assert time.better == "lower" and time.change == pytest.approx(0.2) and not time.worse
    speedup = rows["ratios.speedup_vs_evidently (drift time)"]
    assert speedup.better == "higher" and speedup.worse  # 60 → 40: a third worse
    assert speedup.target == 50.0 and speedup.met is False
    memory = rows["ratios.memory_share_of_evidently (peak RSS)"]
    assert memory.better == "lower" and memory.met is True and not memory.worse
    assert rows["loopline.columns"].better is None and not rows["loopline.columns"].worse


def test_a_run_is_compared_only_with_a_run_on_the_same_kind_of_machine(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(results, "2026-12-03T10:00:00+00:00", report(5.0, 20.0, 0.3), cpu="Other CPU")
    (newest, before), *_ = compare.latest(compare.recorded(results))
    assert newest["machine"]["cpu_model"] == "Other CPU" and before is None
    assert compare.main(["--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "against no earlier run on this kind of machine" in out and "WORSE" not in out
    record(results, "2026-12-04T10:00:00+00:00", report(2.0, 60.0, 0.2))  # back on Test CPU
    (newest, before), *_ = compare.latest(compare.recorded(results))
    assert before is not None and before["timestamp"].startswith("2026-12-02")


def test_the_report_flags_only_what_got_more_than_a_quarter_worse(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare.main(["--results", str(results)]) == 0
    out = capsys.readouterr().out
    flagged = [line for line in out.splitlines() if "WORSE" in line]
    assert len(flagged) == 1 and "speedup_vs_evidently (drift time)" in flagged[0]
    assert "NOT MET" in flagged[0]
    assert "1 figure(s) more than 25% worse: ratios.speedup_vs_evidently (drift time)" in out
    assert "load 0.5 (Test CPU, 2 cores)" in out


def test_a_time_25_percent_slower_is_not_flagged_but_more_is() -> None:
    assert not compare.Row("x_s", 1.25, 1.0, None, "lower").worse
    assert compare.Row("x_s", 1.26, 1.0, None, "lower").worse
    assert compare.Row("speedup", 0.74, 1.0, None, "higher").worse
    assert not compare.Row("rows", 100.0, 1.0, None, None).worse


def test_markdown_rewrites_only_the_marked_section(results: Path, tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nby hand\n\n{compare.START}\nold\n{compare.END}\n\nafter\n")
    assert compare.main(["--markdown", "--results", str(results), "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nby hand\n\n") and text.endswith("\n\nafter\n")
    assert "old" not in text.split(compare.START)[1]
    assert (
        "| `ratios.speedup_vs_evidently (drift time)` | 40 (>25% worse) | 60 | 50 (not met) |"
        in text
    )
    assert "| `loopline.seconds` | 2.4 | 2 |  |" in text


def test_recorded_runs_carry_commit_machine_and_load(tmp_path: Path) -> None:
    path = harness.write_results(report(2.0, 60.0, 0.2), tmp_path)
    data = json.loads(path.read_text())
    assert path.name.endswith("-monitoring.json") and data["bench"] == "monitoring"
    assert len(data["commit"]) == 40 and isinstance(data["dirty"], bool)
    assert data["machine"]["cpus"] and data["machine"]["memory_gib"]
    assert len(data["machine"]["load_average"]) == 3 and "cpu_model" in data["machine"]
    assert data["figures"]["ratios"]["speedup_vs_evidently (drift time)"] == 60.0
    assert compare.report_of("noise\n" + json.dumps(data["figures"], indent=2)) == data["figures"]


def test_docs_show_the_newest_recorded_runs() -> None:
    """docs/benchmarks.md's figures section is what `bench/compare.py --markdown` writes from
    bench/results/ (cheap: it reads the JSON files): record a run, then regenerate the docs."""
    text = compare.DOCS.read_text()
    assert compare.START in text and compare.END in text
    shown = compare.START + text.split(compare.START, 1)[1].split(compare.END, 1)[0] + compare.END
    assert shown == compare.markdown(compare.recorded()), (
        "docs/benchmarks.md is out of date: run `.venv/bin/python bench/compare.py --markdown`"
    )


def test_rounds_are_merged_into_medians() -> None:
    merged = compare.median_report(
        [report(2.0, 60.0, 0.2), report(9.0, 10.0, 0.9), report(3.0, 50.0, 0.3)]
    )
    assert merged["loopline"]["seconds"] == 3.0
    assert merged["ratios"]["speedup_vs_evidently (drift time)"] == 50.0
    assert merged["meets_targets"] == {"speedup_vs_evidently": True}  # not a number: the first's
    assert merged["rounds"] == 3 and merged["bench"] == "monitoring"
    assert compare.median_report([report(2.0, 60.0, 0.2)]) == report(2.0, 60.0, 0.2)


def test_a_bare_report_in_the_folder_is_read_with_its_time_from_the_name(results: Path) -> None:
    (results / "20261202T110000Z-monitoring.json").write_text(json.dumps(report(2.2, 55.0, 0.2)))
    newest = compare.recorded(results)["monitoring"][-1]
    assert newest["timestamp"] == "2026-12-02T11:00:00+00:00"
    assert newest["commit"] is None and newest["figures"]["loopline"]["seconds"] == 2.2
    assert compare._run(newest) == "2026-12-02T11:00:00+00:00 ?, load ? (?, 2 cores)"


def test_a_rate_per_second_is_better_higher() -> None:
    assert compare.better("loopline.logging.runs_per_s") == "higher"
    assert compare.better("loopline.logging.seconds") == "lower"
    assert (
        compare.better("ratios.speedup_vs_evidently (CPU time: the figure least moved)") == "higher"
    )
