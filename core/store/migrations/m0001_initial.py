"""The artifact registry, lineage edges, projects and the audit log.

Every later table (annotations, runs, builds, requirements, monitoring, accounts) refers to
``artifacts.artifact_id`` and writes its changes to ``audit_log`` in the same transaction.
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL,
            applied_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE artifact_ids START 1")
    con.execute(
        """
        CREATE TABLE artifacts (
            artifact_id BIGINT PRIMARY KEY,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            project VARCHAR,
            content_hash VARCHAR NOT NULL,
            metadata JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            UNIQUE (kind, name, version)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE artifact_files (
            artifact_id BIGINT NOT NULL,
            role VARCHAR NOT NULL,
            blob_hash VARCHAR NOT NULL,
            size_bytes BIGINT NOT NULL,
            PRIMARY KEY (artifact_id, role)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE edges (
            src_id BIGINT NOT NULL,
            relation VARCHAR NOT NULL,
            dst_id BIGINT NOT NULL,
            PRIMARY KEY (src_id, relation, dst_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE projects (
            name VARCHAR PRIMARY KEY,
            title VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            spec_artifact_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE audit_ids START 1")
    con.execute(
        """
        CREATE TABLE audit_log (
            audit_id BIGINT PRIMARY KEY,
            "at" TIMESTAMP NOT NULL,
            actor VARCHAR NOT NULL,
            via VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            project VARCHAR,
            target VARCHAR,
            details JSON NOT NULL
        )
        """
    )
