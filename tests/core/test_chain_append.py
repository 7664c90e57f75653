"""Appending one audit row to the hash chain in one statement (issue 18): DuckDB's sha256 gives
the entry Python's ``row_hash`` gives, for any text; a row below the chain's head is refused
and nothing is written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.accounts.audit import record, record_many
from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register_many
from core.projects.service import create_project
from core.store import Workspace, chain

PROJECT_FILE = Path(__file__).resolve().parents[2] / "sample_data" / "hw-triage" / "project.yaml"

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


@pytest.mark.parametrize(
    ("known", "rest"),
    [
        (
            {
                "kind": "evaluation",
                "name": 'é ☃ "q" \\',
                "project": None,
                "metadata": {"b": [1.5, None, {"z": 1, "a": "\t"}], "a": 10**30, "n": float("nan")},
                "files": {"model.bin": ["ab" * 32, 12], "b": ["cd" * 32, 0]},
                "inputs": [["trained_on", 3]],
                "created_by": "Zoë",
            },
            {"artifact_id": 7, "version": 2, "created_at": datetime(2026, 12, 2, 15, 0, 0, 123)},
        ),
        ({}, {"audit_id": 1, "target": None}),
        ({"details": {}, "at": datetime(2026, 1, 1)}, {}),
    ],
)
def test_fields_hashed_in_advance_give_the_texts_of_the_whole_row(
    known: dict[str, Any], rest: dict[str, Any]
) -> None:
    """register_many and record_many hash the fields they know before the write lock: the texts
    completed under the lock are those of the whole row, so the chain checks as before."""
    whole = {**known, **rest}
    assert chain.partial(known).complete(rest) == chain.texts(whole)
    assert chain.texts(whole) == (
        chain.canonical(whole),
        chain.canonical(chain.field_digests(whole)),
    )
    with pytest.raises(ValueError, match="cannot be completed"):
        chain.partial(whole).complete(rest or {"x": 1, **whole})


def test_a_batch_registered_and_audited_checks_clean(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """register_many's rows (fields hashed before the lock) and record_many's (hashed once per
    project) chain exactly as rows read back from the store hash; no row is hashed whole."""
    create_project(ws, PROJECT_FILE, Actor("admin", "test"))
    news = [
        NewArtifact(
            kind="evaluation",
            name=f"eval-{i % 3}",
            project="hw-triage",
            files={"m.bin": f"é {i}".encode()},
            metadata={"slot": i, "text": 'ü "q"\n', "x": [1.25, None]},
        )
        for i in range(7)
    ]

    def whole(content: Any) -> chain.Texts:
        raise AssertionError(f"a row was hashed whole under the lock: {content}")

    with monkeypatch.context() as patched:
        patched.setattr(chain, "texts", whole)
        made = register_many(ws, news, ACTOR)
        register_many(ws, news[:2], ACTOR)
    with ws.store.read() as tx:
        for name in ("artifacts", "audit_log"):
            assert chain.check(tx, name) == []
        entries = dict(
            tx.rows(
                "SELECT row_id, row_hash FROM hash_chain WHERE chain = 'artifacts' "
                "AND row_id IN (SELECT unnest(?::BIGINT[]))",
                [[a.artifact_id for a in made]],
            )
        )
    assert len(entries) == len(made)
