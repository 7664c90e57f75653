"""Requirements traceability: system and ML requirements (versioned), statuses and their history.

- ``requirement_sets``: one row per version of a project's requirement set; each version is also a
  ``requirements`` artifact (its YAML), so evidence and lineage can point at it.
- ``requirements``: one row per version of one requirement. An edit adds a version; a removal adds
  a version with ``deleted``. ``check_changed_at`` is when the check (metric, scope, comparator,
  threshold, evidence) last changed after the first version: evidence older than that is suspect.
- ``verification_runs`` / ``verification_metrics``: `loopline verify-system` results (evidence).
- ``requirement_status``: the current status of every requirement (derived data, replaced on each
  recomputation); ``requirement_status_history``: only the changes, with their cause.
- ``requirement_status_next``: a staging table, empty outside a recomputation.
"""

from __future__ import annotations

import duckdb

_STATUS_COLUMNS = """
    project VARCHAR NOT NULL,
    requirement_id VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    requirement_version INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    value DOUBLE,
    threshold DOUBLE,
    comparator VARCHAR,
    slice VARCHAR,
    estimated BOOLEAN,
    n DOUBLE,
    source VARCHAR,
    model_id BIGINT,
    model_version INTEGER,
    run_id BIGINT,
    dataset_id BIGINT,
    label_set_id BIGINT,
    build_id BIGINT,
    verification_id BIGINT,
    window_from TIMESTAMP,
    window_to TIMESTAMP,
    measured_at TIMESTAMP,
    via VARCHAR,
    failing INTEGER,
    missing INTEGER,
    evidence_ref VARCHAR,
    computed_at TIMESTAMP NOT NULL
"""


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE requirement_sets (
            project VARCHAR NOT NULL,
            set_version INTEGER NOT NULL,
            artifact_id BIGINT,
            source VARCHAR NOT NULL,
            note VARCHAR NOT NULL,
            changed INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            PRIMARY KEY (project, set_version)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE requirements (
            project VARCHAR NOT NULL,
            requirement_id VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            set_version INTEGER NOT NULL,
            level VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            statement VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            owner VARCHAR NOT NULL,
            priority VARCHAR NOT NULL,
            parent VARCHAR,
            derived_from VARCHAR[] NOT NULL,
            metric VARCHAR,
            slices VARCHAR[] NOT NULL,
            relative_to VARCHAR,
            tolerance DOUBLE,
            comparator VARCHAR,
            threshold DOUBLE,
            model VARCHAR,
            evidence VARCHAR[] NOT NULL,
            window_days INTEGER,
            absent_slice VARCHAR NOT NULL,
            derivation JSON,
            deleted BOOLEAN NOT NULL,
            check_changed_at TIMESTAMP,
            change_note VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            PRIMARY KEY (project, requirement_id, version)
        )
        """
    )
    con.execute("CREATE SEQUENCE verification_ids START 1")
    con.execute(
        """
        CREATE TABLE verification_runs (
            verification_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            model_id BIGINT NOT NULL,
            model_version INTEGER NOT NULL,
            dataset_id BIGINT NOT NULL,
            label_set_id BIGINT NOT NULL,
            artifact_id BIGINT,
            items INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        "CREATE TABLE verification_metrics (verification_id BIGINT NOT NULL, metric VARCHAR NOT NULL, "
        "slice VARCHAR NOT NULL, value DOUBLE)"
    )
    con.execute(f"CREATE TABLE requirement_status ({_STATUS_COLUMNS})")
    con.execute(f"CREATE TABLE requirement_status_next ({_STATUS_COLUMNS})")
    con.execute("CREATE SEQUENCE requirement_status_ids START 1")
    con.execute(
        """
        CREATE TABLE requirement_status_history (
            entry_id BIGINT NOT NULL,
            project VARCHAR NOT NULL,
            requirement_id VARCHAR NOT NULL,
            level VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            previous_status VARCHAR,
            value DOUBLE,
            threshold DOUBLE,
            slice VARCHAR,
            source VARCHAR,
            evidence_ref VARCHAR,
            model_id BIGINT,
            model_version INTEGER,
            via VARCHAR,
            cause VARCHAR NOT NULL,
            "at" TIMESTAMP NOT NULL
        )
        """
    )
