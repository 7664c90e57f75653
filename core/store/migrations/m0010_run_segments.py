"""Runs logged from elsewhere: the pieces of runs a remote tracker sent, each kept once.

A tracker in a notebook buffers its runs and sends them to ``loopline server`` in batches; each
run carries a client-side uuid, and each piece of it sent (its parameters, metrics and history so
far, then the rest when it ends) a number, ``segment``. ``run_segments`` keeps which pieces were
written, so a batch sent again after a lost response writes nothing twice. No secondary indexes:
the table only grows, and is read by its key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE run_segments (
            run_uuid VARCHAR NOT NULL,
            segment INTEGER NOT NULL,
            run_id BIGINT NOT NULL,
            kept_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_uuid, segment)
        )
        """
    )
