"""Tamper evidence: rows of each kind edited by hand on a copy of a real workspace are named by
`loopline verify` (exit 1), and promote, rollback and serving refuse a damaged or spliced model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from core.artifacts.integrity import VERIFY_HINT
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.artifacts.verify import verify_workspace
from core.errors import Immutable
from core.experiments.service import train
from core.registry.service import find_alias, load_model, register_run_model
from core.releases.service import promote
from core.serving.service import ModelWatcher
from core.store import Workspace, chain
from core.store.blobs import sha256_file
from core.store.connection import DB_FILE
from tests.conftest import ROOT
from tests.core.test_requirements_support import TESTER

pytest_plugins = ["tests.core.test_requirements_support"]  # evidence_base

ROLE = "classifier.skops"  # differs between the two model versions (preprocess.skops is shared)


@pytest.fixture(scope="session")
def tamper_base(evidence_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tickets workspace with two model versions: v1 promoted first, then v2."""
    target = tmp_path_factory.mktemp("tamper") / "ws"
    shutil.copytree(evidence_base, target)
    ws = Workspace.open(target)
    second = train(ws, "tickets", TESTER, seed=5)
    two = register_run_model(ws, second.run_id, TESTER)
    promote(ws, "tickets", two.artifact_id, TESTER, reason="second model")
    return target


@dataclass(frozen=True)
class Setup:
    ws: Workspace
    one: Artifact  # model:tickets@1, production before
    two: Artifact  # model:tickets@2, production now

    @property
    def root(self) -> Path:
        return self.ws.root

    def sql(self, statement: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        """Edit the database by hand, as anyone who can write the folder could."""
        con = duckdb.connect(str(self.root / DB_FILE))
        try:
            return (
                con.execute(statement, params).fetchall()
                if params
                else con.execute(statement).fetchall()
            )
        finally:
            con.close()

    def flip_byte(self, artifact: Artifact, role: str = ROLE) -> str:
        """One byte of the model file changed in objects/; returns its new hash."""
        path = self.ws.blobs.path(artifact.file(role).blob_hash)
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return sha256_file(path)


@pytest.fixture
def setup(tamper_base: Path, tmp_path: Path) -> Setup:
    target = tmp_path / "ws"
    shutil.copytree(tamper_base, target)
    ws = Workspace.open(target)
    return Setup(ws, get_artifact(ws, "model:tickets@1"), get_artifact(ws, "model:tickets@2"))


def lines(ws: Workspace) -> list[str]:
    return [f"{p.severity}: {p.what}: {p.detail}" for p in verify_workspace(ws).problems]


def cli_verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "-w", str(root), "verify"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def audit_row(s: Setup, action: str, *, newest: bool = False) -> tuple[int, str]:
    """An audit row of ``action`` (the first, or the newest) and how verify names it."""
    row = s.sql(
        "SELECT audit_id, 'audit row #' || audit_id || ' (' || action || coalesce(' ' || target, '')"
        " || ' by ' || actor || ', ' || strftime(\"at\", '%Y-%m-%d %H:%M') || ')' FROM audit_log "
        f"WHERE action = ? ORDER BY audit_id {'DESC' if newest else ''} LIMIT 1",
        [action],
    )[0]
    return int(row[0]), str(row[1])  # type: ignore[call-overload]


def test_an_untouched_workspace_verifies_and_every_row_is_chained(setup: Setup) -> None:
    report = verify_workspace(setup.ws)
    assert report.ok, report.problems
    counts = dict(setup.sql("SELECT chain, count(*) FROM hash_chain GROUP BY chain"))
    assert counts == {
        "artifacts": setup.sql("SELECT count(*) FROM artifacts")[0][0],
        "alias_history": 2,
        "audit_log": setup.sql("SELECT count(*) FROM audit_log")[0][0],
    }
    assert cli_verify(setup.root).returncode == 0


# Each case edits the database or objects/ by hand and returns the line verify must print.
def zero_content_hash(s: Setup) -> str:
    dataset = get_artifact(s.ws, "dataset:tickets@1")
    s.sql(
        "UPDATE artifacts SET content_hash = repeat('0', 64) WHERE artifact_id = ?",
        [dataset.artifact_id],
    )
    return (
        f"error: artifact #{dataset.artifact_id} dataset:tickets@1: row hash does not match its "
        "content: content_hash changed after registration"
    )


def repoint_file(s: Setup) -> str:
    old = s.one.file(ROLE).blob_hash
    s.sql(
        "UPDATE artifact_files SET blob_hash = ? WHERE artifact_id = ? AND role = ?",
        [old, s.two.artifact_id, ROLE],
    )
    return (
        f"error: artifact #{s.two.artifact_id} model:tickets@2: row hash does not match its "
        f"content: file '{ROLE}' (now blob {old[:12]}…, the file of model:tickets@1) changed "
        "after registration"
    )


def edit_metadata(s: Setup) -> str:
    s.sql(
        'UPDATE artifacts SET metadata = json_merge_patch(metadata, \'{"classes": ["bug"]}\') '
        "WHERE artifact_id = ?",
        [s.one.artifact_id],
    )
    return (
        f"error: artifact #{s.one.artifact_id} model:tickets@1: row hash does not match its "
        "content: metadata changed after registration"
    )


def edit_audit_row(s: Setup) -> str:
    audit_id, _ = audit_row(s, "promote")
    s.sql("UPDATE audit_log SET actor = 'mallory' WHERE audit_id = ?", [audit_id])
    _, name = audit_row(s, "promote")
    return f"error: {name}: row hash does not match its content: actor changed after it was written"


def delete_audit_row(s: Setup) -> str:
    audit_id, _ = audit_row(s, "freeze")
    s.sql("DELETE FROM audit_log WHERE audit_id = ?", [audit_id])
    return f"error: audit row #{audit_id}: deleted from the database (its hash-chain entry remains)"


def delete_audit_row_and_its_entry(s: Setup) -> str:
    audit_id, _ = audit_row(s, "freeze")
    s.sql("DELETE FROM audit_log WHERE audit_id = ?", [audit_id])
    s.sql("DELETE FROM hash_chain WHERE chain = 'audit_log' AND row_id = ?", [audit_id])
    following = s.sql("SELECT min(audit_id) FROM audit_log WHERE audit_id > ?", [audit_id])[0][0]
    name = s.sql(
        "SELECT 'audit row #' || audit_id || ' (' || action || coalesce(' ' || target, '') || ' by '"
        " || actor || ', ' || strftime(\"at\", '%Y-%m-%d %H:%M') || ')' FROM audit_log "
        "WHERE audit_id = ?",
        [following],
    )[0][0]
    return (
        f"error: {name}: the hash chain breaks before it: the row chained before it is missing "
        "or was rewritten (rows deleted from the middle, or a chain entry edited)"
    )


def move_alias_by_hand(s: Setup) -> str:
    s.sql(
        "UPDATE aliases SET artifact_id = ? WHERE project = 'tickets' AND alias = 'production'",
        [s.one.artifact_id],
    )
    entry = s.sql("SELECT max(entry_id) FROM alias_history")[0][0]
    return (
        f"error: alias tickets/production: points at #{s.one.artifact_id}, but its last recorded "
        f"move (#{entry}) set it to #{s.two.artifact_id}: moved without a promotion"
    )


def flip_model_byte(s: Setup) -> str:
    actual = s.flip_byte(s.two)
    return (
        f"error: model #{s.two.artifact_id} model:tickets@2, promoted as tickets/production: "
        f"file '{ROLE}' does not match its hash (content changed (now hashes to {actual[:12]}…)); "
        "promote, rollback and serve refuse it"
    )


def flip_old_model_byte(s: Setup) -> str:
    actual = s.flip_byte(s.one)
    return (
        f"error: model #{s.one.artifact_id} model:tickets@1, promoted as tickets/production "
        f"(before): file '{ROLE}' does not match its hash (content changed (now hashes to "
        f"{actual[:12]}…)); promote, rollback and serve refuse it"
    )


CASES: dict[str, Callable[[Setup], str]] = {
    "content hash zeroed": zero_content_hash,
    "file row re-pointed": repoint_file,
    "metadata edited": edit_metadata,
    "audit row edited": edit_audit_row,
    "audit row deleted": delete_audit_row,
    "audit row and its entry deleted": delete_audit_row_and_its_entry,
    "alias moved without history": move_alias_by_hand,
    "production model byte flipped": flip_model_byte,
    "former production model byte flipped": flip_old_model_byte,
}


@pytest.mark.parametrize("tamper", CASES.values(), ids=CASES.keys())
def test_verify_names_each_edit(setup: Setup, tamper: Callable[[Setup], str]) -> None:
    expected = tamper(setup)
    assert expected in lines(setup.ws)
    done = cli_verify(setup.root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stdout.splitlines()
    assert done.stdout.splitlines()[-1].startswith("FAILED")


def test_deleting_the_newest_rows_with_their_entries_is_not_seen(setup: Setup) -> None:
    """The documented limit: the tail of a chain can be cut without a trace in the database."""
    newest, _ = audit_row(setup, "promote", newest=True)
    setup.sql("DELETE FROM audit_log WHERE audit_id >= ?", [newest])
    setup.sql("DELETE FROM hash_chain WHERE chain = 'audit_log' AND row_id >= ?", [newest])
    assert verify_workspace(setup.ws).ok


def refusal(doing: str, model: Artifact, reason: str) -> str:
    return f"Refusing to {doing} {model.ref} (#{model.artifact_id}): {reason}."


def test_a_damaged_model_is_refused_by_rollback_promote_and_serving(setup: Setup) -> None:
    actual = setup.flip_byte(setup.one)
    reason = f"its file '{ROLE}' does not match its hash (content changed (now hashes to {actual[:12]}…))"
    with pytest.raises(Immutable) as caught:
        promote(setup.ws, "tickets", setup.one.artifact_id, TESTER, reason="roll back")
    assert str(caught.value) == refusal("promote", setup.one, reason)
    assert caught.value.hint == VERIFY_HINT
    with pytest.raises(Immutable) as caught:
        load_model(setup.ws, setup.one)
    assert str(caught.value) == refusal("load", setup.one, reason)
    production = find_alias(setup.ws, "tickets")
    assert production is not None and production.artifact_id == setup.two.artifact_id  # unmoved


def test_a_spliced_model_is_refused_by_promote_load_and_a_starting_service(setup: Setup) -> None:
    old = setup.one.file(ROLE).blob_hash
    setup.sql(
        "UPDATE artifact_files SET blob_hash = ? WHERE artifact_id = ? AND role = ?",
        [old, setup.two.artifact_id, ROLE],
    )
    spliced = get_artifact(setup.ws, setup.two.artifact_id)
    reason = (
        f"its registry row does not match its hash (file '{ROLE}' (now blob {old[:12]}…, the file "
        "of model:tickets@1) changed after registration)"
    )
    with pytest.raises(Immutable) as caught:
        load_model(setup.ws, spliced)
    assert str(caught.value) == refusal("load", spliced, reason)
    with pytest.raises(Immutable) as caught:
        ModelWatcher(setup.ws, "tickets")  # what `loopline serve` starts with
    assert str(caught.value) == refusal("load", spliced, reason)
    promote(setup.ws, "tickets", setup.one.artifact_id, TESTER, reason="roll back")  # intact
    with pytest.raises(Immutable) as caught:
        promote(setup.ws, "tickets", spliced.artifact_id, TESTER, reason="again")
    assert str(caught.value) == refusal("promote", spliced, reason)
    assert caught.value.hint == VERIFY_HINT


def test_a_model_row_chained_again_by_hand_breaks_the_chain_after_it(setup: Setup) -> None:
    """Recomputing only the edited row's own entry is not enough: the next entry disagrees."""
    model = setup.one.artifact_id
    setup.sql("UPDATE artifacts SET content_hash = 'x' WHERE artifact_id = ?", [model])
    con = duckdb.connect(str(setup.root / DB_FILE))
    try:
        prev = con.execute(
            "SELECT prev_hash FROM hash_chain WHERE chain = 'artifacts' AND row_id = ?", [model]
        ).fetchall()[0][0]
        content = chain.contents(con, "artifacts", [model])[model]
        con.execute(
            "UPDATE hash_chain SET row_hash = ?, fields = ? WHERE chain = 'artifacts' AND row_id = ?",
            [chain.row_hash(prev, content), chain.canonical(chain.field_digests(content)), model],
        )
    finally:
        con.close()
    following = setup.sql("SELECT min(artifact_id) FROM artifacts WHERE artifact_id > ?", [model])
    name = setup.sql(
        "SELECT kind || ':' || name || '@' || version FROM artifacts WHERE artifact_id = ?",
        [following[0][0]],
    )[0][0]
    assert [line for line in lines(setup.ws) if "breaks" in line] == [
        f"error: artifact #{following[0][0]} {name}: the hash chain breaks before it: the row "
        "chained before it is missing or was rewritten (rows deleted from the middle, or a chain "
        "entry edited)"
    ]
    with pytest.raises(Immutable) as caught:
        promote(setup.ws, "tickets", model, TESTER, reason="roll back")
    assert str(caught.value) == refusal(
        "promote",
        setup.one,
        "the hash chain around its registry row is broken (rows deleted or rewritten)",
    )
