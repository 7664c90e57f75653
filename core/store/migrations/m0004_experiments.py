"""Experiment tracking: runs with parameters, metrics (overall and per slice), metric history,
tags, inputs and files; and CI builds with their gate checks.

A run's files (its trained model) are blobs; registering a run's model makes a `model` artifact
that points at the same blobs.
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SEQUENCE run_ids START 1")
    con.execute(
        """
        CREATE TABLE runs (
            run_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            experiment VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            duration_s DOUBLE,
            code_commit VARCHAR,
            code_dirty BOOLEAN,
            environment JSON NOT NULL,
            error VARCHAR,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        "CREATE TABLE run_params (run_id BIGINT NOT NULL, key VARCHAR NOT NULL, value VARCHAR)"
    )
    con.execute(
        "CREATE TABLE run_metrics (run_id BIGINT NOT NULL, key VARCHAR NOT NULL, slice VARCHAR NOT NULL, "
        "value DOUBLE)"
    )
    con.execute(
        "CREATE TABLE metric_history (run_id BIGINT NOT NULL, key VARCHAR NOT NULL, step INTEGER NOT NULL, "
        "value DOUBLE, logged_at TIMESTAMP NOT NULL)"
    )
    con.execute(
        "CREATE TABLE run_tags (run_id BIGINT NOT NULL, key VARCHAR NOT NULL, value VARCHAR)"
    )
    con.execute(
        "CREATE TABLE run_inputs (run_id BIGINT NOT NULL, role VARCHAR NOT NULL, artifact_id BIGINT NOT NULL)"
    )
    con.execute(
        "CREATE TABLE run_files (run_id BIGINT NOT NULL, role VARCHAR NOT NULL, blob_hash VARCHAR NOT NULL, "
        "size_bytes BIGINT NOT NULL)"
    )
    con.execute("CREATE SEQUENCE build_ids START 1")
    con.execute(
        """
        CREATE TABLE builds (
            build_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            run_id BIGINT,
            label_set_id BIGINT,
            model_id BIGINT,
            baseline_model_id BIGINT,
            artifact_id BIGINT,
            trigger VARCHAR,
            log VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE build_checks (
            build_id BIGINT NOT NULL,
            check_name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            metric VARCHAR,
            slice VARCHAR,
            value DOUBLE,
            baseline DOUBLE,
            threshold DOUBLE,
            passed BOOLEAN NOT NULL,
            message VARCHAR NOT NULL
        )
        """
    )
