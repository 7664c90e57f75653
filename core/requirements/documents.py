"""The structure of an imported requirements document (headings, sections, text nodes and where
each requirement sits), kept per set version in ``requirement_documents``; the tool's ReqIF
definitions (``reqif_schema``) in ``requirement_schemas``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import astuple
from typing import Any

from core.accounts.access import readable
from core.projects.service import get_project
from core.requirements.models import DocumentNode
from core.requirements.reqif_schema import meaning
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
    """Does ``nodes`` differ from the structure last kept for ``project``? By what the nodes say
    and where they stand, not by the identifiers of headings and text nodes, which a tool may
    generate anew on each export (StrictDoc does)."""
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM requirement_documents WHERE project = ? AND set_version = "
        "(SELECT max(set_version) FROM requirement_documents WHERE project = ?) "
        "ORDER BY position",
        [project, project],
    )
    return [_meaning(tuple(row[2:])) for row in rows] != [_meaning(astuple(n)[2:]) for n in nodes]


def _meaning(node: tuple[Any, ...]) -> tuple[Any, ...]:
    """A node's (position, depth, kind, node_id, title, text, requirement_id, specification,
    tool) without its node_id."""
    return node[:3] + node[4:]


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


def insert_schema(tx: Tx, project: str, set_version: int, schema: Mapping[str, Any] | None) -> None:
    """The tool's definitions (``reqif_schema``) under the set version that imported them,
    replacing any kept with it."""
    if not schema:
        return
    tx.execute(
        "DELETE FROM requirement_schemas WHERE project = ? AND set_version = ?",
        [project, set_version],
    )
    tx.execute(
        "INSERT INTO requirement_schemas (project, set_version, definitions) VALUES (?, ?, ?)",
        [project, set_version, json.dumps(schema, ensure_ascii=False)],
    )


def schema_changed(tx: Tx, project: str, schema: Mapping[str, Any] | None) -> bool:
    """Does ``schema`` say something else than the tool's definitions last kept for ``project``
    (by meaning: identifiers a tool generates anew on each export aside)?"""
    return bool(schema) and meaning(_last_schema(tx, project)) != meaning(schema)


def _last_schema(tx: Tx, project: str) -> dict[str, Any] | None:
    found = tx.scalar(
        "SELECT definitions FROM requirement_schemas WHERE project = ? "
        "ORDER BY set_version DESC LIMIT 1",
        [project],
    )
    return dict(json.loads(found)) if found else None


def requirement_schema(ws: Workspace, project: str) -> dict[str, Any] | None:
    """The requirements tool's definitions from the last import that had them (None: none)."""
    get_project(ws, project)
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        return _last_schema(tx, project)
