"""Operations: monitoring figures per window (the evidence requirements read), reference statistics
per model version, alerts and retraining requests.

``monitor_metrics`` holds one row per (project, model, grain, window, metric, slice). Metric names
follow the evaluation's (``accuracy``, ``precision.<class>``, ``recall.<class>``, ``f1.<class>``)
for realized figures, prefixed ``estimated.`` for estimates before feedback; operational figures
are ``volume``, ``error_rate``, ``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms``; drift
figures are ``drift.<statistic>.<feature>`` (``psi``, ``ks``, ``ks_p``, ``chi2_p``, ``js``) and
``drift.score``. ``slice`` is ``''`` overall or ``"<slice> = <value>"``.

Also written (see docs/monitoring.md): ``class_share.<class>`` (share of predictions per class),
``labeled`` (predictions with feedback), ``drift.novelty.<text field>`` (share of tokens unseen in
the reference vocabulary), ``drift.share`` (share of features whose PSI is at least 0.1); a text
field's length is the feature ``<field>.length``; ``volume`` is also written per slice. ``kind`` is
``operational``, ``realized``, ``estimated`` or ``drift``.

``monitor_references``: a model version's training-data statistics, computed once: per feature its
count, missing values, range and either exact value counts (``keys``/``points`` + ``counts``) or a
quantile sketch (``points`` = knots, ``counts`` = how many reference values lie below each knot);
per text field its vocabulary; per class the calibration curve for performance estimation.
``monitor_reference_sets`` says where a model's reference came from and its evaluation.
``alerts`` (one record per breach episode, not per recomputation), ``alert_acks`` (who saw it and
why), ``retrain_requests`` (pending until a build consumes one).
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
    con.execute(
        """
        CREATE TABLE monitor_reference_sets (
            model_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            dataset_id BIGINT,
            label_set_id BIGINT,
            row_count BIGINT NOT NULL,
            labeled_count BIGINT NOT NULL,
            evaluation JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE monitor_references (
            model_id BIGINT NOT NULL,
            feature VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            n BIGINT NOT NULL,
            missing BIGINT NOT NULL,
            distinct_values BIGINT,
            exact BOOLEAN NOT NULL,
            is_integer BOOLEAN NOT NULL,
            minimum DOUBLE,
            maximum DOUBLE,
            keys VARCHAR[],
            points DOUBLE[],
            counts DOUBLE[],
            counts_upto DOUBLE[],
            details JSON NOT NULL,
            PRIMARY KEY (model_id, feature, kind)
        )
        """
    )
    con.execute("CREATE SEQUENCE alert_ids START 1")
    con.execute(
        """
        CREATE TABLE alerts (
            alert_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            slice VARCHAR NOT NULL,
            grain VARCHAR NOT NULL,
            comparator VARCHAR NOT NULL,
            threshold DOUBLE NOT NULL,
            reference DOUBLE,
            severity VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            active BOOLEAN NOT NULL,
            first_window TIMESTAMP NOT NULL,
            last_window TIMESTAMP NOT NULL,
            windows INTEGER NOT NULL,
            value DOUBLE,
            n BIGINT,
            model_id BIGINT,
            artifact_id BIGINT,
            evidence JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE alert_acks (
            alert_id BIGINT NOT NULL,
            actor VARCHAR NOT NULL,
            note VARCHAR NOT NULL,
            "at" TIMESTAMP NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE retrain_request_ids START 1")
    con.execute(
        """
        CREATE TABLE retrain_requests (
            request_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            alert_id BIGINT,
            reason VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            requested_at TIMESTAMP NOT NULL,
            requested_by VARCHAR NOT NULL,
            build_id BIGINT,
            consumed_at TIMESTAMP
        )
        """
    )
