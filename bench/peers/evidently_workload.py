"""The Evidently side of bench/monitoring.py, run by the bench-only venv (never Loopline's).

    .venv-evidently/bin/python evidently_workload.py '{"mode": "default", "data": DIR}'

Reads ``DIR/reference.parquet`` and the current rows (the log segments in
``DIR/logs/bench/predictions/``) with pandas, runs
``Report([DataDriftPreset(...)]).run(current, reference)`` with the columns declared numerical or
categorical, and prints one JSON line: seconds of the run (loading excluded), seconds of loading,
peak RSS of the process, and each column's drift value. ``mode`` is ``default`` (Evidently's own
choice of test per column) or ``psi`` (PSI for every column, to compare values with Loopline's).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.harness

import pandas as pd

from bench.harness import Stopwatch, emit_line, peak_rss_mb


def main() -> None:
    config = json.loads(sys.argv[1])
    if config["mode"] == "versions":
        import evidently

        emit_line({"evidently": evidently.__version__, "pandas": pd.__version__})
        return
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    with Stopwatch() as loading:
        reference = pd.read_parquet(f"{config['data']}/reference.parquet")
        current = pd.read_parquet(
            f"{config['data']}/logs/bench/predictions", columns=list(reference.columns)
        )
    numerical = [c for c in reference.columns if c.startswith("f_num")]
    categorical = [c for c in reference.columns if c.startswith("f_cat")]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset() if config["mode"] == "default" else DataDriftPreset(method="psi")
    cpu_started = time.process_time()
    with Stopwatch() as drift:
        snapshot = Report([preset]).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
    values: dict[str, float] = {}
    methods: dict[str, str] = {}
    for metric in snapshot.dict()["metrics"]:
        column = metric["config"].get("column")
        if column is not None:
            values[column] = float(metric["value"])
            methods[column] = metric["metric_name"].split("method=")[-1].split(",")[0]
    emit_line(
        {
            "seconds": round(drift.seconds, 2),
            "cpu_s": round(time.process_time() - cpu_started, 2),
            "load_s": round(loading.seconds, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "values": values,
            "methods": methods,
        }
    )


if __name__ == "__main__":
    main()
