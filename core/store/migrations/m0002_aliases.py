"""Aliases (``production``, ``candidate`` …) that point at registered artifacts, and their history.

An alias is the one mutable thing about a registered model: moving it is a promotion, and every
move is kept in ``alias_history`` (who, when, why, from which build).
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE aliases (
            project VARCHAR NOT NULL,
            alias VARCHAR NOT NULL,
            artifact_id BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            updated_by VARCHAR NOT NULL,
            PRIMARY KEY (project, alias)
        )
        """
    )
    con.execute("CREATE SEQUENCE alias_history_ids START 1")
    con.execute(
        """
        CREATE TABLE alias_history (
            entry_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            alias VARCHAR NOT NULL,
            artifact_id BIGINT,
            previous_artifact_id BIGINT,
            "at" TIMESTAMP NOT NULL,
            actor VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            build_id BIGINT
        )
        """
    )
