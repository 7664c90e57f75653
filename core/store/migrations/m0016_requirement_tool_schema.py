"""What a requirements tool's ReqIF export defines, kept for the way back (issue 16).

- ``requirements.relations`` (JSON): relations that are not derivations ("see also", "verifies",
  "conflicts with"), ``[{"type": <ReqIF relation type name>, "target": <requirement id>}]``;
- ``requirements.object_type``: the tool's SPEC-OBJECT-TYPE long name of the requirement
  ("Stakeholder Requirement"); ``requirement_documents.object_type`` the same for a section or
  text node;
- ``requirement_schemas``: the tool's definitions from the last import of a set version (JSON):
  every datatype (enumeration values with their identifiers and long names, string max lengths,
  integer and real ranges), every object type with its attribute definitions, every relation
  type and what it meant on import.

Columns and a table are added, nothing is dropped. No secondary indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE requirements ADD COLUMN relations JSON")
    con.execute("ALTER TABLE requirements ADD COLUMN object_type VARCHAR")
    con.execute("ALTER TABLE requirement_documents ADD COLUMN object_type VARCHAR")
    con.execute(
        """
        CREATE TABLE requirement_schemas (
            project VARCHAR NOT NULL,
            set_version INTEGER NOT NULL,
            definitions JSON NOT NULL,
            PRIMARY KEY (project, set_version)
        )
        """
    )
