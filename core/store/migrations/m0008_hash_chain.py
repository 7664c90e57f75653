"""The hash chain: every artifact row, alias move and audit row, chained by hash.

``hash_chain`` holds one entry per chained row: which chain (``artifacts``, ``alias_history``,
``audit_log``), the row's id, the previous entry's hash, the row's own hash (over its content and
the previous hash) and a short digest per field (to name what changed). The rows already in the
workspace are chained here, in id order; from now on each write chains its rows in its own
transaction (``core/store/chain.py``). The chained tables themselves are not altered.
"""

from __future__ import annotations

import duckdb

from core.store.chain import CHAINS, rebuild


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE hash_chain (
            chain VARCHAR NOT NULL,
            row_id BIGINT NOT NULL,
            prev_hash VARCHAR NOT NULL,
            row_hash VARCHAR NOT NULL,
            fields JSON NOT NULL,
            PRIMARY KEY (chain, row_id)
        )
        """
    )
    for chain in CHAINS:
        rebuild(con, chain)
