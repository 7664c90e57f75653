"""What every bench script shares: the report's header, timing, child processes, peer venvs.

A bench script is run from the repository root (``.venv/bin/python bench/<name>.py``) and prints
one JSON object. Its skeleton, with this module::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py`
    from bench.harness import Stopwatch, emit, header, scratch, summarize_ms, timed_ms

    def main() -> int:
        clock = Stopwatch()
        result = header("x", targets=TARGETS)  # bench, date, machine, then the fields given
        with scratch() as tmp:  # a temporary folder, removed at the end even on failure
            times = [timed_ms(work, tmp)[0] for _ in range(20)]
        result["work"] = summarize_ms(times)  # median_ms, p95_ms, max_ms
        emit(result, clock)  # adds runtime_s and prints the object
        return 0

Measurements that need a process of their own (peak memory, a cold start, a peer tool) run
through ``run_json``: the child prints its figures as its last stdout line (``emit_line``), for
instance its ``peak_rss_mb()``. A peer tool (MLflow, Evidently) lives in a bench-only venv that
``Peer`` builds once from ``bench/peers/requirements-<name>.txt``: never Loopline's dependencies.
A peer is optional: wrap its side in ``optional`` so that a failure lands in the JSON as
``{"error": …}`` and Loopline's figures are still printed.

Recording: when ``LOOPLINE_BENCH_RESULTS`` names a folder (``make bench`` sets it to
``bench/results``), ``emit`` also writes the report there, one file per run, with the commit, the
machine and the load average (``write_results``); ``bench/compare.py`` reads those files.

Standard library only, so that importing it costs nothing a measurement would see.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / "peers"
RESULTS_ENV = "LOOPLINE_BENCH_RESULTS"  # the folder ``emit`` records each report in, when set

T = TypeVar("T")


# --- the report ---------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _proc_field(path: str, name: str) -> str | None:
    """The value of ``name: value`` in a /proc file (first match), or None off Linux."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name) and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model and count, memory (GiB), OS, Python, DuckDB
    and pandas versions, and the 1-minute load average at the time of the call (the machine is
    shared: a busy one explains slow figures)."""
    total = _proc_field("/proc/meminfo", "MemTotal")
    memory = round(int(total.split()[0]) / 2**20, 1) if total else None
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or None,
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "pandas": _version("pandas"),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def now_utc() -> str:
    """The report's date, to the minute: ``2026-11-29 00:11 UTC``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def header(name: str, *, key: str = "bench", **fields: Any) -> dict[str, Any]:
    """The first keys of a report: ``{key: name, "date", "machine"}``, then ``fields`` in order.

    ``key`` is the name the script has always printed its own name under (``bench``, or
    ``benchmark`` for serving and traceability): readers' dashboards select on it."""
    return {key: name, "date": now_utc(), "machine": machine(), **fields}


def emit(result: Mapping[str, Any], clock: Stopwatch | None = None) -> None:
    """Print the report (indented JSON) on stdout; with ``clock``, ``runtime_s`` (its seconds)
    is added as the last key. When ``LOOPLINE_BENCH_RESULTS`` is set, the report is also
    recorded there (``write_results``)."""
    if clock is not None:
        result = {**result, "runtime_s": round(clock.seconds, 1)}
    print(json.dumps(result, indent=2), flush=True)
    folder = os.environ.get(RESULTS_ENV)
    if folder:
        path = write_results(result, Path(folder))
        print(f"recorded in {path}", file=sys.stderr, flush=True)


def commit() -> dict[str, Any]:
    """The checkout the figures come from: ``{"commit": full hash, "dirty": uncommitted changes
    to tracked files}`` (``None`` outside a git checkout)."""

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def results_record(result: Mapping[str, Any]) -> dict[str, Any]:
    """What ``write_results`` records of a report: the bench's name, the time, the commit, the
    machine (CPU model, cores, memory) with the load averages now (the end of the run), and the
    report itself under ``figures``."""
    return {
        "bench": str(result.get("bench") or result.get("benchmark") or "bench"),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        **commit(),
        "machine": {**machine(), "load_average": [round(v, 2) for v in os.getloadavg()]},
        "figures": dict(result),
    }


def write_results(result: Mapping[str, Any], folder: Path) -> Path:
    """Record one run in ``<folder>/<UTC time>-<bench>.json`` (``results_record``); its path."""
    record = results_record(result)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(record["timestamp"])
    path = folder / f"{stamp:%Y%m%dT%H%M%SZ}-{record['bench']}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def emit_line(result: Mapping[str, Any]) -> None:
    """Print a child process's figures as one JSON line (what ``run_json`` reads back)."""
    print(json.dumps(result), flush=True)


# --- timing -------------------------------------------------------------------------------------


class Stopwatch:
    """Wall time (``time.perf_counter``) since it was made, or over a ``with`` block.

    ``clock = Stopwatch()`` then ``clock.seconds`` reads the time so far; ``with Stopwatch() as
    clock:`` restarts it on entry and freezes it on exit."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        return (time.perf_counter() if self._stop is None else self._stop) - self._start

    @property
    def ms(self) -> float:
        return self.seconds * 1000


def timed_ms(call: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """``call(*args, **kwargs)`` and how long it took, in milliseconds: ``(ms, result)``."""
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def repeat_ms(call: Callable[[], T], repeats: int, warmup: int = 1) -> tuple[list[float], T]:
    """``warmup`` untimed calls (plans, caches, imports), then ``repeats`` timed ones in this
    process: ``(times in ms, the last call's result)``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        ms, result = timed_ms(call)
        times.append(ms)
    return times, result


def repetitions(times_ms: Sequence[float]) -> dict[str, Any]:
    """The figures of a call repeated in one process (``repeat_ms``): ``median_ms``, ``min_ms``,
    every time (``times_ms``) and their count, rounded to 0.1 ms. Both sides of a peer
    comparison report their repeated calls with it."""
    if not times_ms:
        raise ValueError("no times to summarize")
    return {
        "median_ms": round(statistics.median(times_ms), 1),
        "min_ms": round(min(times_ms), 1),
        "times_ms": [round(t, 1) for t in times_ms],
        "repetitions": len(times_ms),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by nearest rank: the sorted value at
    ``round(q / 100 * (n - 1))``, so always one of ``values``; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summarize_ms(
    times_ms: Sequence[float], digits: int = 1, *, median: str = "median_ms"
) -> dict[str, float]:
    """Median (``statistics.median``: the mean of the middle two for an even count), p95 and max
    of times in milliseconds, rounded to ``digits``. ``median`` is the key the median is printed
    under (``p50_ms`` in some reports)."""
    if not times_ms:
        raise ValueError("no times to summarize")
    ordered = sorted(times_ms)
    return {
        median: round(statistics.median(ordered), digits),
        "p95_ms": round(percentile(ordered, 95), digits),
        "max_ms": round(ordered[-1], digits),
    }


# --- processes, memory, folders -----------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ``ru_maxrss`` in KiB).
    Measure in a fresh child process (``run_json``) so that nothing earlier counts."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_json(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    what: str | None = None,
) -> tuple[dict[str, Any], float]:
    """Run ``command`` to its end and read its last stdout line as a JSON object.

    Returns ``(that object, wall seconds of the process)`` (start-up and imports included).
    ``env`` is added to this process's environment. Raises ``RuntimeError`` naming ``what``
    (default: the command's first words) with the end of the child's stderr when it fails."""
    started = time.perf_counter()
    done = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )
    wall = time.perf_counter() - started
    label = what or " ".join(str(part) for part in command[:3]) + " …"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise RuntimeError(f"{label} failed (exit {done.returncode}): {tail}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{label} printed nothing: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result, wall


@contextmanager
def scratch(name: str = "", parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder ``loopline-bench-[name-]…`` (in ``parent``, else the system's temp
    folder), removed with everything in it when the block ends, failures included."""
    prefix = f"loopline-bench-{name}-" if name else "loopline-bench-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as folder:
        yield Path(folder)


def optional(call: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``call(*args)``, or ``{"error": "<Type>: <message>"}`` if it raises: a peer tool or an
    optional phase that fails is reported in the JSON, and the rest of the bench still runs."""
    try:
        return call(*args)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


# --- peer tools in their own venvs --------------------------------------------------------------


def tool_python(
    venv: Path, requirements: Path, timeout: float = 1200, *, compile_bytecode: bool = True
) -> Path:
    """The Python of a tool's own venv (a peer's, or a test-only tool's whose pins conflict with
    ours), built once from ``requirements`` and rebuilt when they change (a stamp holds their
    SHA-256), under a lock so that parallel test workers build it once. uv builds it (seconds,
    where pip took minutes: MLflow's venv 9 s against 255 s); ``RuntimeError`` with uv's last
    lines when it cannot be built (no network, no wheel). ``compile_bytecode=False`` for a tool
    that runs once per test run: compiling MLflow's 1.5 GB venv took 36 s of CPU, its one
    process compiles what it imports in 6 s (this kind of machine never writes .pyc files)."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements.sha256"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        uv = Path(sys.executable).with_name("uv")
        base = getattr(sys, "_base_executable", sys.executable)
        install = ("--python", str(python), "-r", str(requirements))
        compiled = ["--compile-bytecode"] if compile_bytecode else []
        for command in (
            [str(uv), "venv", "--quiet", "--clear", "--python", base, str(venv)],
            [str(uv), "pip", "install", "--quiet", *compiled, *install],
        ):
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                raise RuntimeError(f"{venv.name} could not be built ({command[1]}): {tail}")
        stamp.write_text(wanted)
    return python


@dataclass(frozen=True)
class Peer:
    """A peer tool in a bench-only venv, ``bench/peers/.venv-<name>``, built from
    ``bench/peers/requirements-<name>.txt`` (never Loopline's own dependencies).

    ``script`` (in ``bench/peers/``) takes one JSON config as its argument (``{"mode": …}``;
    ``{"mode": "versions"}`` answers the tool's versions) and prints its figures as its last
    stdout line. ``env`` is added to the environment of every run."""

    name: str
    script: str
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def venv(self) -> Path:
        return PEERS / f".venv-{self.name}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def requirements(self) -> Path:
        return PEERS / f"requirements-{self.name}.txt"

    def install(self) -> Path:
        """The venv's Python, built once (``tool_python``)."""
        return tool_python(self.venv, self.requirements)

    def prepare(self) -> dict[str, Any]:
        """Build the venv if needed: ``{"venv_ready_s": seconds it took, "versions": …}``."""
        clock = Stopwatch()
        self.install()
        ready = round(clock.seconds, 1)
        return {"venv_ready_s": ready, "versions": self.run({"mode": "versions"})[0]}

    def run(self, config: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        """One phase of the workload in a fresh process of the venv: ``(figures, wall s)``."""
        return run_json(
            [str(self.python), str(PEERS / self.script), json.dumps(config)],
            env=self.env,
            what=f"{self.name} {config.get('mode', '')}".strip(),
        )
