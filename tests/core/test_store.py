"""The store: transactions, busy handling across processes, and schema migrations."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from core.errors import CoreError, SchemaError, WorkspaceBusy
from core.store import Workspace, engine
from core.store.connection import DB_FILE
from core.store.migrations import latest_version, migrations


def count(ws: Workspace, table: str) -> int:
    with ws.store.read() as tx:
        return int(tx.scalar(f"SELECT count(*) FROM {table}"))


def test_transaction_commits_and_rolls_back(ws: Workspace) -> None:
    with ws.store.transaction() as tx:
        tx.execute("INSERT INTO aliases VALUES ('p', 'a', 1, now()::TIMESTAMP, 'x')")
    with pytest.raises(RuntimeError), ws.store.transaction() as tx:
        tx.execute("INSERT INTO aliases VALUES ('p', 'b', 1, now()::TIMESTAMP, 'x')")
        raise RuntimeError("boom")
    assert count(ws, "aliases") == 1


def test_an_error_caught_inside_the_transaction_still_aborts_it(ws: Workspace) -> None:
    """DuckDB's COMMIT after a failed statement rolls back silently; ours raises instead."""
    with (
        pytest.raises(CoreError, match="The store refused the change"),
        ws.store.transaction() as tx,
    ):
        tx.execute("INSERT INTO aliases VALUES ('p', 'a', 1, now()::TIMESTAMP, 'x')")
        # a caller that swallows the error must not get a half-committed transaction
        with contextlib.suppress(CoreError):
            tx.execute("INSERT INTO aliases VALUES ('p', 'a', 2, now()::TIMESTAMP, 'x')")
    assert count(ws, "aliases") == 0


def test_nested_units_share_one_open_file(ws: Workspace) -> None:
    before = ws.store.opens
    with ws.store.read():
        for _ in range(5):
            count(ws, "artifacts")
    assert ws.store.opens == before + 1


def test_file_is_closed_between_units_of_work(ws: Workspace) -> None:
    count(ws, "artifacts")
    con = duckdb.connect(str(ws.root / DB_FILE))  # would fail if we still held it
    con.close()


def test_busy_workspace_names_the_holder_after_the_timeout(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(tmp_path / "ws" / DB_FILE)!r})
            print("held", flush=True)
            time.sleep(30)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        ws = Workspace.open(tmp_path / "ws", busy_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy) as caught:
            count(ws, "artifacts")
        assert time.monotonic() - started >= 0.3
        assert str(caught.value) == f"The workspace is busy (held by PID {holder.pid}); try again."
    finally:
        holder.kill()
        holder.wait()


def test_waits_for_a_short_holder_instead_of_failing(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(tmp_path / "ws" / DB_FILE)!r})
            print("held", flush=True)
            time.sleep(0.5)
            con.close()
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    ws = Workspace.open(tmp_path / "ws", busy_timeout=10)
    assert count(ws, "artifacts") == 0
    holder.wait()


def test_a_waiter_polls_the_side_lock_often_enough_to_start_soon_after_its_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A labeling call waiting behind a writer's batch starts within a few ms of its end (issue
    18): the waiter's pauses between two tries stay short however long it waits."""
    path = tmp_path / engine.LOCK_FILE
    holder, waiter = engine.FileLock(path), engine.FileLock(path)
    pauses: list[float] = []
    sleep = time.sleep

    def recorded(seconds: float) -> None:
        if threading.current_thread().name == "waiter":
            pauses.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(engine.time, "sleep", recorded)
    holder.acquire(1)
    got: list[float] = []
    thread = threading.Thread(
        target=lambda: (waiter.acquire(10), got.append(time.monotonic())), name="waiter"
    )
    thread.start()
    sleep(0.3)
    released = time.monotonic()
    holder.release()
    thread.join(10)
    waiter.release()
    assert got and got[0] >= released
    assert len(pauses) > 10
    assert max(pauses) <= 1.5 * engine.LOCK_POLL_MAX_SECONDS <= 0.003


def test_missing_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CoreError) as caught:
        Workspace.open(tmp_path / "nothing")
    assert str(caught.value) == f"No workspace at {tmp_path / 'nothing'}."
    assert "loopline init" in (caught.value.hint or "")


def _version_one_workspace(root: Path) -> None:
    """A workspace as Loopline's first schema wrote it, with rows in it."""
    root.mkdir(parents=True)
    (root / "objects").mkdir()
    con = duckdb.connect(str(root / DB_FILE))
    number, name, up = migrations()[0]
    up(con)
    con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    con.execute(
        "INSERT INTO artifacts VALUES (nextval('artifact_ids'), 'dataset', 'old', 1, 'old', "
        "'abc', '{\"rows\": 3}', now()::TIMESTAMP, 'someone')"
    )
    con.execute("INSERT INTO edges VALUES (1, 'derived_from', 1)")
    con.close()


def test_version_one_workspace_is_backed_up_and_migrated(tmp_path: Path) -> None:
    root = tmp_path / "old"
    _version_one_workspace(root)
    ws = Workspace.open(root)
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM schema_migrations") == latest_version()
        assert tx.rows("SELECT name, metadata->>'rows' FROM artifacts") == [("old", "3")]
        assert tx.scalar("SELECT count(*) FROM edges") == 1
        assert tx.scalar("SELECT count(*) FROM aliases") == 0  # a table from migration 2
        assert tx.scalar("SELECT nextval('artifact_ids')") == 2  # the sequence survived
    backup = root / f"{DB_FILE}.v1.bak"
    assert backup.is_file()
    con = duckdb.connect(str(backup), read_only=True)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (1,)
    con.close()


def test_newer_workspace_is_refused(ws: Workspace) -> None:
    with ws.store.transaction() as tx:
        tx.execute("INSERT INTO schema_migrations VALUES (999, 'm0999_future', now()::TIMESTAMP)")
    again = Workspace.open(ws.root)
    with pytest.raises(SchemaError) as caught:
        count(again, "artifacts")
    assert str(caught.value).startswith("This workspace was written by a newer Loopline")
    assert "upgrade Loopline" in (caught.value.hint or "")


def test_a_newer_schema_written_by_another_process_is_seen_at_the_next_open(
    ws: Workspace,
) -> None:
    """This process skips its schema check while the file is as it left it; another process's
    write changes the file, so the next open checks again."""
    assert count(ws, "aliases") == 0  # checked by this process
    assert count(Workspace.open(ws.root), "aliases") == 0  # unchanged: not checked again
    script = (
        'import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute("INSERT INTO '
        "schema_migrations VALUES (999, 'm0999_future', now()::TIMESTAMP)\"); con.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(ws.root / DB_FILE)], check=True)
    with pytest.raises(SchemaError, match="newer Loopline"):
        count(Workspace.open(ws.root), "artifacts")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / DB_FILE).write_bytes(b"this is not duckdb" * 100)
    with pytest.raises(SchemaError, match=r"is not a Loopline workspace file|Cannot open"):
        count(Workspace.open(root), "artifacts")


# -- one DuckDB instance per process, the file attached per unit of work ---------------------------


def test_two_handles_on_one_workspace_share_the_attached_file(ws: Workspace) -> None:
    other = Workspace.open(ws.root)
    with ws.store.read() as outer:
        with other.store.transaction() as tx:  # would wait forever on our own lock before
            tx.execute("INSERT INTO aliases VALUES ('p', 'a', 1, now()::TIMESTAMP, 'x')")
        assert outer.scalar("SELECT count(*) FROM aliases") == 1
    con = duckdb.connect(str(ws.root / DB_FILE))  # both are done: the file is free again
    con.close()


def test_a_second_workspace_is_migrated_while_the_first_is_open(
    ws: Workspace, tmp_path: Path
) -> None:
    with ws.store.read():
        second = Workspace.init(tmp_path / "second")
        assert count(second, "schema_migrations") == latest_version()
        with second.store.transaction() as tx:
            tx.execute("INSERT INTO aliases VALUES ('p', 'b', 1, now()::TIMESTAMP, 'x')")
        assert count(ws, "aliases") == 0  # each unit sees its own file
        assert count(second, "aliases") == 1


def test_threads_on_one_workspace_keep_every_write(ws: Workspace) -> None:
    import threading

    def insert(index: int) -> None:
        for step in range(20):
            ws.store.write(
                lambda tx, name=f"p{index}-{step}": tx.execute(
                    "INSERT INTO aliases VALUES (?, 'a', 1, now()::TIMESTAMP, 'x')", [name]
                )
            )

    threads = [threading.Thread(target=insert, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(ws, "aliases") == 80


def _in_a_forked_child(work: Callable[[], None]) -> str:
    """Run ``work`` in a forked child; returns "ok" or the CoreError's text."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            work()
            result = "ok"
        except CoreError as error:
            result = str(error)
        except BaseException as error:  # reported to the parent
            result = f"crash: {error!r}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


def test_a_process_forked_between_units_opens_the_workspace_on_its_own(ws: Workspace) -> None:
    count(ws, "artifacts")  # the parent's instance exists when it forks

    def insert() -> None:
        with Workspace.open(ws.root).store.transaction() as tx:
            tx.execute("INSERT INTO aliases VALUES ('child', 'a', 1, now()::TIMESTAMP, 'x')")

    assert _in_a_forked_child(insert) == "ok"
    assert count(ws, "aliases") == 1  # and the parent goes on


def test_a_process_forked_inside_a_unit_says_it_cannot_open_the_workspace(ws: Workspace) -> None:
    with ws.store.read():
        text = _in_a_forked_child(lambda: count(Workspace.open(ws.root), "aliases"))
    assert text == "This process was forked while the workspace was open, so it cannot open it."
    assert count(ws, "aliases") == 0


def _version_seven_workspace(root: Path) -> None:
    """A workspace as schema version 7 wrote it (before the hash chain), with rows of each
    chained kind."""
    root.mkdir(parents=True)
    (root / "objects").mkdir()
    con = duckdb.connect(str(root / DB_FILE))
    for number, name, up in migrations()[:7]:
        up(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    for version in (1, 2):
        con.execute(
            "INSERT INTO artifacts (artifact_id, kind, name, version, project, content_hash, "
            "metadata, created_at, created_by) VALUES (nextval('artifact_ids'), 'model', 'old', ?, "
            "'old', ?, '{\"rows\": 3}', now()::TIMESTAMP, 'someone')",
            [version, f"hash{version}"],
        )
        con.execute(
            "INSERT INTO artifact_files (artifact_id, role, blob_hash, size_bytes) "
            "VALUES (?, 'model.json', ?, 3)",
            [version, f"{version:064d}"],
        )
    con.execute("INSERT INTO edges (src_id, relation, dst_id) VALUES (2, 'extends', 1)")
    con.execute(
        "INSERT INTO aliases (project, alias, artifact_id, updated_at, updated_by) "
        "VALUES ('old', 'production', 2, now()::TIMESTAMP, 'someone')"
    )
    con.execute(
        "INSERT INTO alias_history (entry_id, project, alias, artifact_id, previous_artifact_id, "
        "\"at\", actor, reason, build_id) VALUES (nextval('alias_history_ids'), 'old', "
        "'production', 2, NULL, now()::TIMESTAMP, 'someone', 'first', NULL)"
    )
    for action in ("register", "register", "promote"):
        con.execute(
            'INSERT INTO audit_log (audit_id, "at", actor, via, action, project, target, details) '
            "VALUES (nextval('audit_ids'), now()::TIMESTAMP, 'someone', 'cli', ?, 'old', NULL, "
            "'{}')",
            [action],
        )
    con.close()


def test_version_seven_workspace_gets_its_rows_chained(tmp_path: Path) -> None:
    from core.store import chain

    root = tmp_path / "old"
    _version_seven_workspace(root)
    ws = Workspace.open(root)
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM schema_migrations") == latest_version()
        entries = tx.rows(
            "SELECT chain, row_id, prev_hash, row_hash FROM hash_chain ORDER BY chain, row_id"
        )
        assert [(c, r) for c, r, _, _ in entries] == [
            ("alias_history", 1),
            ("artifacts", 1),
            ("artifacts", 2),
            ("audit_log", 1),
            ("audit_log", 2),
            ("audit_log", 3),
        ]
        first, second = chain.contents(tx, "artifacts").values()
        assert second["files"] == {"model.json": [f"{2:064d}", 3]}
        assert second["inputs"] == [["extends", 1]]
        assert entries[1][2:] == (chain.GENESIS, chain.row_hash(chain.GENESIS, first))
        assert entries[2][2:] == (entries[1][3], chain.row_hash(entries[1][3], second))
        assert [chain.check(tx, name) for name in chain.CHAINS] == [[], [], []]
    assert (root / f"{DB_FILE}.v7.bak").is_file()
    con = duckdb.connect(str(root / DB_FILE))
    con.execute("UPDATE artifacts SET content_hash = 'edited' WHERE artifact_id = 1")
    con.close()
    with ws.store.read() as tx:
        assert chain.check(tx, "artifacts") == [
            chain.Finding("artifacts", 1, "edited", ("content_hash",))
        ]
