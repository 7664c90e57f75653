"""Labeling: tasks over a dataset version, their items, leases, append-only annotations, reviews.

Item content is not copied: it stays in the dataset version's Parquet file and is read by id.
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SEQUENCE task_ids START 1")
    con.execute(
        """
        CREATE TABLE tasks (
            task_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            dataset_id BIGINT NOT NULL,
            filter JSON NOT NULL,
            overlap INTEGER NOT NULL,
            ordering VARCHAR NOT NULL,
            uncertainty VARCHAR,
            model_id BIGINT,
            lease_seconds INTEGER NOT NULL,
            instructions VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            trigger_id BIGINT,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE task_items (
            task_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            required INTEGER NOT NULL,
            score DOUBLE,
            suggestion VARCHAR,
            suggestion_probability DOUBLE,
            suggested_spans JSON,
            PRIMARY KEY (task_id, item_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE leases (
            task_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            annotator VARCHAR NOT NULL,
            leased_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            PRIMARY KEY (task_id, item_id, annotator)
        )
        """
    )
    con.execute("CREATE SEQUENCE annotation_ids START 1")
    con.execute(
        """
        CREATE TABLE annotations (
            annotation_id BIGINT PRIMARY KEY,
            task_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            annotator VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            label VARCHAR,
            spans JSON NOT NULL,
            unsure BOOLEAN NOT NULL,
            note VARCHAR NOT NULL,
            seconds DOUBLE,
            source VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE review_ids START 1")
    con.execute(
        """
        CREATE TABLE reviews (
            review_id BIGINT PRIMARY KEY,
            task_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            reviewer VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            spans JSON NOT NULL,
            note VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )
        """
    )
