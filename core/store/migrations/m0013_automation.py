"""Scheduled retraining and webhooks (issue 17).

- ``scheduler_leases``: which scheduler process may start a build of a project, until when (a
  lease in the store, renewed while its build runs, so two schedulers never build one project at
  once and a dead one's lease lapses);
- ``schedule_marks``: each schedule's and trigger's last firing (the due moment it answered, the
  build it started), so a schedule missed while no scheduler ran fires once when one comes back;
- ``webhooks``: each project's webhook endpoints (generic JSON or Slack), their events and secret;
- ``notify_cursors``: how far the notifier has read each source table of events;
- ``webhook_deliveries``: the outbox and delivery log: one row per (webhook, event), with its
  attempts, the next try and the receiver's last answer.

No secondary indexes: the tables still change (a delivery is queued once per (webhook, event
key) by the notifier's own check, in the transaction that queues it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE scheduler_leases (
            project VARCHAR PRIMARY KEY,
            holder VARCHAR NOT NULL,
            purpose VARCHAR NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            created_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE schedule_marks (
            project VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            due_at TIMESTAMP NOT NULL,
            build_id BIGINT,
            holder VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (project, name)
        )
        """
    )
    con.execute("CREATE SEQUENCE webhook_ids START 1")
    con.execute(
        """
        CREATE TABLE webhooks (
            webhook_id BIGINT PRIMARY KEY,
            project VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            events VARCHAR[] NOT NULL,
            secret VARCHAR NOT NULL,
            active BOOLEAN NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE notify_cursors (
            source VARCHAR PRIMARY KEY,
            last_key BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE webhook_delivery_ids START 1")
    con.execute(
        """
        CREATE TABLE webhook_deliveries (
            delivery_id BIGINT PRIMARY KEY,
            webhook_id BIGINT NOT NULL,
            event_key VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            project VARCHAR NOT NULL,
            payload JSON NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP,
            last_code INTEGER,
            last_error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            delivered_at TIMESTAMP
        )
        """
    )
