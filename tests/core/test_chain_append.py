"""Appending one audit row to the hash chain in one statement (issue 18): DuckDB's sha256 gives
the entry Python's ``row_hash`` gives, for any text; a row below the chain's head is refused
and nothing is written."""

from __future__ import annotations

import pytest

from core.accounts.audit import record, record_many
from core.actor import Actor
from core.store import Workspace, chain

ACTOR = Actor('Zoë ✓ "quoted" \\ back', "test")


def test_single_rows_and_batches_chain_as_python_hashes_them(ws: Workspace) -> None:
    with ws.store.transaction() as tx:
        record(tx, ACTOR, "annotate", target="task #1 item é\n☃", details={"note": "a\tb ü"})
        record_many(tx, ACTOR, "annotate.skip", [(None, "one"), (None, "two")])
        record(tx, ACTOR, "annotate", target=None, details={"n": 1.5, "none": None})
    with ws.store.read() as tx:
        assert chain.check(tx, "audit_log") == []
        entries = tx.rows(
            "SELECT row_id, prev_hash, row_hash FROM hash_chain WHERE chain = 'audit_log' "
            "ORDER BY row_id"
        )
        rows = chain.contents(tx, "audit_log")
    previous = chain.GENESIS
    assert len(entries) >= 4
    for row_id, prev_hash, own_hash in entries:
        assert prev_hash == previous
        assert own_hash == chain.row_hash(previous, rows[row_id])
        previous = own_hash


def test_a_row_below_the_head_is_refused_and_nothing_is_written(ws: Workspace) -> None:
    with ws.store.transaction() as tx:
        record(tx, ACTOR, "annotate", target="first")
    with ws.store.read() as tx:
        (head,) = tx.one("SELECT max(row_id) FROM hash_chain WHERE chain = 'audit_log'") or ()
        before = tx.scalar("SELECT count(*) FROM hash_chain")
        with pytest.raises(AssertionError) as refused:
            chain.append(tx, "audit_log", [head], {head: {"audit_id": head}})
        assert str(refused.value) == (
            f"audit_log row {head} was written after row {head}: a write outside the store's "
            "write lock"
        )
        assert tx.scalar("SELECT count(*) FROM hash_chain") == before
