"""The structure of an imported requirements document (headings, sections, text nodes and where
each requirement sits), kept per set version in ``requirement_documents``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from core.accounts.access import readable
from core.projects.service import get_project
from core.requirements.models import DocumentNode
from core.store import Tx, Workspace

COLUMNS = (
    "project, set_version, position, depth, kind, node_id, title, text, requirement_id, "
    "specification, tool"
)


def insert_document(tx: Tx, project: str, set_version: int, nodes: Sequence[DocumentNode]) -> None:
    """The document's nodes, in order, under the set version that imported them."""
    rows = [(project, set_version, *astuple(n)[2:]) for n in nodes]
    tx.executemany(
        f"INSERT INTO requirement_documents ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def document_changed(tx: Tx, project: str, nodes: Sequence[DocumentNode]) -> bool:
    """Does ``nodes`` differ from the structure last kept for ``project``?"""
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM requirement_documents WHERE project = ? AND set_version = "
        "(SELECT max(set_version) FROM requirement_documents WHERE project = ?) "
        "ORDER BY position",
        [project, project],
    )
    return [tuple(row[2:]) for row in rows] != [astuple(n)[2:] for n in nodes]


def replace_document(tx: Tx, project: str, set_version: int, nodes: Sequence[DocumentNode]) -> None:
    """The structure kept with ``set_version`` replaced by ``nodes``."""
    tx.execute(
        "DELETE FROM requirement_documents WHERE project = ? AND set_version = ?",
        [project, set_version],
    )
    insert_document(tx, project, set_version, nodes)


def requirement_document(ws: Workspace, project: str) -> list[DocumentNode]:
    """The structure of the last imported document that had one (empty when none did)."""
    get_project(ws, project)
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        rows = tx.rows(
            f"SELECT {COLUMNS} FROM requirement_documents WHERE project = ? AND set_version = "
            "(SELECT max(set_version) FROM requirement_documents WHERE project = ?) "
            "ORDER BY position",
            [project, project],
        )
    return [DocumentNode(*row) for row in rows]
