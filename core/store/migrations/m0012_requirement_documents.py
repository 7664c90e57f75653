"""Requirements as real requirements tools write them (issue 16).

- ``requirements`` gain ``external_id`` (the tool's identifier of the object: a re-import of an
  updated export updates in place by it) and ``attributes`` (JSON: every attribute the tool gave,
  ``{name: {"type": "INTEGER", "value": ...}}`` with its ReqIF type);
- ``requirement_documents``: the document structure of the last imported file (headings,
  sections and text nodes, and where each requirement sits), one row per node in document order,
  replaced by each import that carries a structure.

Columns and a table are added, nothing is dropped. No secondary indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE requirements ADD COLUMN external_id VARCHAR")
    con.execute("ALTER TABLE requirements ADD COLUMN attributes JSON")
    con.execute(
        """
        CREATE TABLE requirement_documents (
            project VARCHAR NOT NULL,
            set_version INTEGER NOT NULL,
            position INTEGER NOT NULL,
            depth INTEGER NOT NULL,
            kind VARCHAR NOT NULL,
            node_id VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            requirement_id VARCHAR,
            specification VARCHAR NOT NULL,
            PRIMARY KEY (project, set_version, position)
        )
        """
    )
