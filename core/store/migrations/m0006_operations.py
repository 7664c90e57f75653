"""Operations: monitoring figures per window (the evidence requirements read), reference statistics
per model version, alerts and retraining requests.

``monitor_metrics`` holds one row per (project, model, grain, window, metric, slice). Metric names
follow the evaluation's (``accuracy``, ``precision.<class>``, ``recall.<class>``, ``f1.<class>``)
for realized figures, prefixed ``estimated.`` for estimates before feedback; operational figures
are ``volume``, ``error_rate``, ``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms``; drift
figures are ``drift.<statistic>.<feature>`` (``psi``, ``ks``, ``ks_p``, ``chi2_p``, ``js``) and
``drift.score``. ``slice`` is ``''`` overall or ``"<slice> = <value>"``.
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE monitor_metrics (
            project VARCHAR NOT NULL,
            model_id VARCHAR,
            model_version INTEGER,
            grain VARCHAR NOT NULL,
            window_start TIMESTAMP NOT NULL,
            window_end TIMESTAMP NOT NULL,
            metric VARCHAR NOT NULL,
            slice VARCHAR NOT NULL DEFAULT '',
            value DOUBLE,
            n BIGINT,
            kind VARCHAR NOT NULL,
            computed_at TIMESTAMP NOT NULL,
            PRIMARY KEY (project, grain, window_start, metric, slice)
        )
        """
    )
