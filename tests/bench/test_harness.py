"""bench/harness.py: the pieces every bench script measures and reports with."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

from bench import harness
from bench.harness import (
    Peer,
    Stopwatch,
    emit,
    emit_line,
    header,
    machine,
    optional,
    peak_rss_mb,
    percentile,
    repeat_ms,
    repetitions,
    run_json,
    scratch,
    summarize_ms,
    timed_ms,
)


def test_percentile_is_the_nearest_rank_value() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose: 100 … 1
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 51.0  # round(0.5 * 99) = 50 (half to even) → the 51st
    assert percentile(values, 95) == 95.0  # round(0.95 * 99) = 94 → the 95th
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_summarize_ms_rounds_and_names_the_median() -> None:
    times = [1.234, 2.345, 3.456, 10.0]
    assert summarize_ms(times) == {"median_ms": 2.9, "p95_ms": 10.0, "max_ms": 10.0}
    assert summarize_ms(times, 2, median="p50_ms") == {
        "p50_ms": 2.9,  # the mean of the two middle values, as statistics.median
        "p95_ms": 10.0,
        "max_ms": 10.0,
    }
    with pytest.raises(ValueError, match="no times"):
        summarize_ms([])


def test_repeat_ms_warms_up_then_times_each_call() -> None:
    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        return len(calls)

    times, last = repeat_ms(call, 3, warmup=2)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert last == 5 and len(calls) == 5
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        repeat_ms(call, 0)
    figures = repetitions([3.0, 1.04, 2.0])
    assert figures == {
        "median_ms": 2.0,
        "min_ms": 1.0,
        "times_ms": [3.0, 1.0, 2.0],
        "repetitions": 3,
    }


def test_timed_ms_and_the_stopwatch() -> None:
    ms, value = timed_ms(lambda x, y=0: time.sleep(0.01) or x + y, 2, y=3)
    assert value == 5 and 9 <= ms < 1000
    with Stopwatch() as clock:
        time.sleep(0.01)
    frozen = clock.seconds
    time.sleep(0.01)
    assert clock.seconds == frozen and 0.009 <= frozen < 1
    assert clock.ms == pytest.approx(frozen * 1000)
    running = Stopwatch()
    first = running.seconds
    time.sleep(0.005)
    assert running.seconds > first


def test_header_and_emit(capsys: pytest.CaptureFixture[str]) -> None:
    result = header("x", targets={"a": 1})
    assert list(result) == ["bench", "date", "machine", "targets"]
    assert result["date"].endswith(" UTC")
    assert list(header("y", key="benchmark", n=1)) == ["benchmark", "date", "machine", "n"]
    emit(result, Stopwatch())
    printed = json.loads(capsys.readouterr().out)
    assert printed["bench"] == "x" and list(printed)[-1] == "runtime_s"
    assert "runtime_s" not in result  # the caller's dict is left alone
    emit_line({"a": 1})
    assert capsys.readouterr().out == '{"a": 1}\n'


def test_machine_describes_the_computer() -> None:
    found = machine()
    assert set(found) == {
        "cpu_model",
        "cpus",
        "memory_gib",
        "platform",
        "python",
        "duckdb",
        "pandas",
        "load_average_1min",
    }
    assert found["cpus"] >= 1 and found["duckdb"] and found["pandas"] and found["cpu_model"]


def test_run_json_reads_the_last_line_of_a_child(tmp_path: Path) -> None:
    script = (
        "import json, os, pathlib; print('noise'); "
        "print(json.dumps({'env': os.environ['BENCH_X'], 'cwd': str(pathlib.Path.cwd())}))"
    )
    result, wall = run_json([sys.executable, "-c", script], env={"BENCH_X": "1"}, cwd=tmp_path)
    assert result == {"env": "1", "cwd": str(tmp_path)} and wall > 0
    with pytest.raises(RuntimeError, match=r"the child failed \(exit 3\): boom"):
        failing = "import sys; print('boom', file=sys.stderr); sys.exit(3)"
        run_json([sys.executable, "-c", failing], what="the child")
    with pytest.raises(RuntimeError, match="printed nothing"):
        run_json([sys.executable, "-c", "pass"])


def test_peak_rss_of_a_fresh_process() -> None:
    script = "from bench.harness import emit_line, peak_rss_mb; emit_line({'mb': peak_rss_mb()})"
    result, _ = run_json([sys.executable, "-c", script])
    assert 1 < result["mb"] < peak_rss_mb() + 1000


def test_scratch_is_removed_even_on_failure() -> None:
    with pytest.raises(KeyError), scratch("unit") as folder:
        (folder / "file").write_text("x")
        assert folder.name.startswith("loopline-bench-unit-")
        raise KeyError("fail")
    assert not folder.exists()


def test_optional_reports_the_error_instead_of_raising() -> None:
    assert optional(lambda a: {"a": a}, 1) == {"a": 1}

    def broken() -> dict[str, int]:
        raise RuntimeError("no network")

    assert optional(broken) == {"error": "RuntimeError: no network"}


def test_peer_paths() -> None:
    peer = Peer("mlflow", "mlflow_workload.py")
    assert peer.venv == harness.PEERS / ".venv-mlflow"
    assert peer.python == peer.venv / "bin" / "python"
    assert peer.requirements.is_file()
    assert (harness.PEERS / peer.script).is_file()
