"""Accounts: users, roles, project access, API tokens, login attempts, sessions, task assignees.

While ``users`` is empty the workspace is open (single-user mode, as ``loopline init`` makes it);
the first user is an admin and from then on every change is checked against the user's roles.
Secrets are never stored: passwords as Argon2id hashes, tokens and session keys as SHA-256.
No secondary indexes: these tables still change (DuckDB refuses some ALTERs on indexed tables).
"""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE users (
            user_name VARCHAR PRIMARY KEY,
            display_name VARCHAR NOT NULL,
            email VARCHAR,
            os_user VARCHAR,
            password_hash VARCHAR,
            active BOOLEAN NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            password_changed_at TIMESTAMP
        )
        """
    )
    con.execute(
        """
        CREATE TABLE user_roles (
            user_name VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            project VARCHAR NOT NULL,
            granted_at TIMESTAMP NOT NULL,
            granted_by VARCHAR NOT NULL,
            PRIMARY KEY (user_name, role, project)
        )
        """
    )
    con.execute("CREATE SEQUENCE token_ids START 1")
    con.execute(
        """
        CREATE TABLE api_tokens (
            token_id BIGINT PRIMARY KEY,
            user_name VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            token_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            expires_at TIMESTAMP,
            revoked_at TIMESTAMP,
            revoked_by VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE sessions (
            session_hash VARCHAR PRIMARY KEY,
            user_name VARCHAR NOT NULL,
            via VARCHAR NOT NULL,
            client VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            end_reason VARCHAR
        )
        """
    )
    con.execute("CREATE SEQUENCE login_attempt_ids START 1")
    con.execute(
        """
        CREATE TABLE login_attempts (
            attempt_id BIGINT PRIMARY KEY,
            "at" TIMESTAMP NOT NULL,
            user_name VARCHAR NOT NULL,
            client VARCHAR NOT NULL,
            ok BOOLEAN NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE task_assignees (
            task_id BIGINT NOT NULL,
            user_name VARCHAR NOT NULL,
            assigned_at TIMESTAMP NOT NULL,
            assigned_by VARCHAR NOT NULL,
            PRIMARY KEY (task_id, user_name)
        )
        """
    )
