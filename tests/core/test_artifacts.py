"""Registering, versioning, immutability, lineage and verify."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.actor import Actor
from core.artifacts.lineage import lineage, lineage_tree_lines
from core.artifacts.models import NewArtifact
from core.artifacts.service import (
    count_by_kind,
    delete_artifact,
    find_artifact,
    get_artifact,
    list_artifacts,
    read_file,
    register,
    register_many,
    update_artifact,
)
from core.artifacts.verify import verify_workspace
from core.errors import Forbidden, Immutable, InvalidInput, NotFound
from core.store import Workspace


def test_versions_are_assigned_per_kind_and_name(ws: Workspace, actor: Actor) -> None:
    first = register(ws, NewArtifact("dataset", "emails", files={"rows": b"a"}), actor)
    second = register(ws, NewArtifact("dataset", "emails", files={"rows": b"b"}), actor)
    other = register(ws, NewArtifact("model", "emails"), actor)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert second.ref == "dataset:emails@2"
    assert second.created_by == "tester"
    assert get_artifact(ws, "dataset:emails").artifact_id == second.artifact_id
    assert get_artifact(ws, "dataset:emails@1").artifact_id == first.artifact_id
    assert get_artifact(ws, f"#{first.artifact_id}").ref == "dataset:emails@1"
    assert read_file(ws, first, "rows") == b"a"


def test_batch_registration_and_reuse(ws: Workspace, actor: Actor) -> None:
    source = register(ws, NewArtifact("data_source", "raw", files={"raw": b"1"}), actor)
    batch = [
        NewArtifact("model", f"m{i % 3}", inputs=[("trained_on", source.artifact_id)])
        for i in range(9)
    ]
    made = register_many(ws, batch, actor)
    assert [a.version for a in made] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    code = NewArtifact("code", "extract", metadata={"commit": "abc"})
    assert (
        register(ws, code, actor, reuse=True).artifact_id
        == register(ws, code, actor, reuse=True).artifact_id
    )
    assert count_by_kind(ws) == {"code": 1, "data_source": 1, "model": 9}


def test_bad_kind_relation_name_and_target_are_refused(ws: Workspace, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as caught:
        register(ws, NewArtifact("modle", "x"), actor)
    assert str(caught.value).startswith(
        "Unknown artifact kind 'modle'. Expected one of: build, code,"
    )
    with pytest.raises(InvalidInput, match="Unknown relation 'made_of'"):
        register(ws, NewArtifact("model", "x", inputs=[("made_of", 1)]), actor)
    with pytest.raises(InvalidInput, match="Invalid artifact name"):
        register(ws, NewArtifact("model", "../etc/passwd"), actor)
    with pytest.raises(NotFound, match=r"Cannot link to artifact\(s\) \[999\]"):
        register(ws, NewArtifact("model", "x", inputs=[("trained_on", 999)]), actor)
    assert list_artifacts(ws) == []  # nothing half-written


def test_registered_artifacts_cannot_change(ws: Workspace, actor: Actor) -> None:
    made = register(ws, NewArtifact("dataset", "emails"), actor)
    with pytest.raises(Immutable) as caught:
        delete_artifact(ws, made.artifact_id, actor)
    assert (
        str(caught.value) == "dataset:emails@1 is registered and immutable; it cannot be deleted."
    )
    with pytest.raises(Immutable, match="cannot be changed"):
        update_artifact(ws, made.artifact_id, actor, metadata={"x": 1})
    assert get_artifact(ws, made.artifact_id) == made


def test_damaged_file_is_refused_on_read(ws: Workspace, actor: Actor) -> None:
    made = register(ws, NewArtifact("model", "m", files={"model.json": b"{}"}), actor)
    path = ws.blobs.path(made.files[0].blob_hash)
    path.chmod(0o644)
    path.write_bytes(b"{'evil': 1}")
    with pytest.raises(Immutable, match="is damaged"):
        read_file(ws, made, "model.json")


def test_unknown_references(ws: Workspace) -> None:
    with pytest.raises(NotFound, match="No artifact '42'"):
        get_artifact(ws, 42)
    assert find_artifact(ws, "model:none") is None
    with pytest.raises(NotFound) as caught:
        get_artifact(ws, "model:hw-triage@7")
    assert caught.value.hint == "`loopline models hw-triage` lists its model versions"
    with pytest.raises(InvalidInput, match="Cannot read artifact reference"):
        get_artifact(ws, "'; DROP TABLE artifacts; --")


def _chain(ws: Workspace, actor: Actor) -> dict[str, int]:
    source = register(ws, NewArtifact("data_source", "raw"), actor).artifact_id
    code = register(ws, NewArtifact("code", "extract"), actor).artifact_id
    dataset = register(
        ws,
        NewArtifact("dataset", "d", inputs=[("derived_from", source), ("extracted_by", code)]),
        actor,
    ).artifact_id
    labels = register(
        ws, NewArtifact("label_set", "d", inputs=[("annotates", dataset)]), actor
    ).artifact_id
    model = register(
        ws,
        NewArtifact("model", "m", inputs=[("trained_on", dataset), ("labeled_with", labels)]),
        actor,
    ).artifact_id
    return {"source": source, "code": code, "dataset": dataset, "labels": labels, "model": model}


def test_lineage_up_and_down(ws: Workspace, actor: Actor) -> None:
    ids = _chain(ws, actor)
    up = lineage(ws, ids["model"], "up")
    assert set(up.nodes) == set(ids.values())
    assert up.depth[ids["source"]] == 2
    assert lineage_tree_lines(up) == [
        f"#{ids['model']} model:m@1",
        f"    trained_on → #{ids['dataset']} dataset:d@1",
        f"        derived_from → #{ids['source']} data_source:raw@1",
        f"        extracted_by → #{ids['code']} code:extract@1",
        f"    labeled_with → #{ids['labels']} label_set:d@1",
        f"        annotates → #{ids['dataset']} dataset:d@1  (shown above)",
    ]
    down = lineage(ws, ids["source"], "down")
    assert set(down.nodes) == {ids["source"], ids["dataset"], ids["labels"], ids["model"]}
    assert lineage(ws, ids["model"], "up", max_depth=1).depth.keys() == {
        ids["model"],
        ids["dataset"],
        ids["labels"],
    }
    with pytest.raises(InvalidInput, match="Unknown lineage direction 'sideways'"):
        lineage(ws, ids["model"], "sideways")


def test_verify_finds_changed_and_missing_blobs_and_dangling_edges(
    ws: Workspace, actor: Actor
) -> None:
    ids = _chain(ws, actor)
    made = register(ws, NewArtifact("report", "r", files={"report.json": b"{}"}), actor)
    assert verify_workspace(ws).ok
    path = ws.blobs.path(made.files[0].blob_hash)
    path.chmod(0o644)
    path.write_bytes(b"changed by hand")
    report = verify_workspace(ws)
    assert not report.ok
    assert [p.what for p in report.problems if p.severity == "error"] == [
        f"#{made.artifact_id} report:r@1"
    ]
    path.unlink()
    assert "missing" in verify_workspace(ws).problems[0].detail
    with ws.store.transaction() as tx:
        tx.execute("INSERT INTO edges VALUES (?, 'derived_from', 12345)", [ids["model"]])
    whats = [p.what for p in verify_workspace(ws).problems]
    assert f"edge #{ids['model']} derived_from #12345" in whats


def test_prune_deletes_only_old_unreferenced_blobs(ws: Workspace, actor: Actor) -> None:
    import os
    import time

    from core.accounts.users import create_user
    from core.artifacts.verify import prune_blobs, verify_workspace
    from core.errors import Forbidden

    kept = register(ws, NewArtifact("report", "kept", files={"a.txt": b"referenced"}), actor)
    old, recent = ws.blobs.put_bytes(b"left by a refused registration"), ws.blobs.put_bytes(b"new")
    hours_ago = time.time() - 7200
    os.utime(ws.blobs.path(old), (hours_ago, hours_ago))
    assert prune_blobs(ws, actor, dry_run=True).removed == 1 and ws.blobs.exists(old)
    done = prune_blobs(ws, actor)
    assert (done.removed, done.recent, done.freed_bytes) == (1, 1, 30)
    assert not ws.blobs.exists(old) and ws.blobs.exists(recent)
    assert read_file(ws, kept, "a.txt") == b"referenced"
    assert verify_workspace(ws).ok
    # a blob reused by a new registration counts as touched, so an old copy survives a prune
    os.utime(ws.blobs.path(recent), (hours_ago, hours_ago))
    assert ws.blobs.put_bytes(b"new") == recent
    assert prune_blobs(ws, actor).removed == 0
    with ws.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM audit_log WHERE action = 'blobs.prune'") == 1
    # with accounts, only an admin prunes
    create_user(ws, Actor("bootstrap", "test"), "root", roles=["admin"], password="x" * 12)
    create_user(ws, Actor("root", "test"), "dana", roles=["data_scientist"], password="x" * 12)
    os.utime(ws.blobs.path(recent), (hours_ago, hours_ago))
    with pytest.raises(Forbidden):
        prune_blobs(ws, Actor("dana", "test"), older_than=timedelta(minutes=1))
    assert ws.blobs.exists(recent)  # the refusal rolled nothing forward


def blob_files(ws: Workspace) -> list[str]:
    return sorted(
        str(p.relative_to(ws.blobs.root)) for p in ws.blobs.root.rglob("*") if p.is_file()
    )


def test_a_refused_registration_writes_no_blob(ws: Workspace) -> None:
    """Issue 12, item 9: the right to register (and the caller's own action, e.g. freeze or
    requirements.edit) is checked before any file is stored, so a refusal leaves no orphan."""
    from core.accounts.users import create_user

    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    create_user(ws, Actor("root", "test"), "ann", roles=["annotator"])
    create_user(ws, Actor("root", "test"), "dan", roles=["data_scientist"])
    before = blob_files(ws)
    new = NewArtifact("label_set", "x", project="x", files={"labels.parquet": b"refused"})
    with pytest.raises(Forbidden, match=r"^ann \(annotator\) may not register artifacts in x; "):
        register(ws, new, Actor("ann", "app"))
    with pytest.raises(
        Forbidden, match=r"^dan \(data_scientist\) may not edit requirements in x; "
    ):
        register(ws, new, Actor("dan", "app"), checks=("requirements.edit",))
    assert blob_files(ws) == before
    assert register(ws, new, Actor("dan", "app")).files[0].size_bytes == 7
    assert len(blob_files(ws)) == len(before) + 1


def test_each_registration_is_chained_and_an_edit_is_named(ws: Workspace, actor: Actor) -> None:
    from core.store import chain

    first = register(ws, NewArtifact("dataset", "emails", files={"rows": b"a"}), actor)
    register(ws, NewArtifact("dataset", "emails", files={"rows": b"b"}), actor)
    assert verify_workspace(ws).ok
    with ws.store.transaction() as tx:
        tx.execute(
            "UPDATE artifacts SET created_by = 'mallory' WHERE artifact_id = ?", [first.artifact_id]
        )
    with ws.store.read() as tx:
        assert chain.check(tx, "artifacts") == [
            chain.Finding("artifacts", first.artifact_id, "edited", ("created_by",))
        ]
    found = [p for p in verify_workspace(ws).problems if p.what.startswith("artifact #")]
    assert [(p.what, p.detail) for p in found] == [
        (
            f"artifact #{first.artifact_id} dataset:emails@1",
            "row hash does not match its content: created_by changed after registration",
        )
    ]
