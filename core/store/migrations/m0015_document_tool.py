"""The requirements tool an imported document came from (issue 16).

- ``requirement_documents.tool``: the tool the file's header names (``strictdoc``, ``DOORS 9.7``,
  …; NULL for rows written before and for files that name none), so an export back to the tool
  writes what that tool reads: StrictDoc decodes every string value as an escaped one
  (``\\xe9``), so a set it wrote is exported with its string values escaped the same way.

A column is added, nothing is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE requirement_documents ADD COLUMN tool VARCHAR")
