"""Accounts: users, roles, project access, API tokens, login attempts and sessions."""

from __future__ import annotations

import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    pass
