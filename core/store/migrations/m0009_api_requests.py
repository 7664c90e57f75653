"""The server's kept responses: a retried write with the same request id is answered, not redone.

``loopline server`` keeps the response of every write under (user, ``X-Request-Id``): the remote
client sends one id per logical call and reuses it on retries, so a retry after a lost response
returns the kept answer instead of running the write again. A row is ``running`` while the first
attempt runs, then ``done`` with the HTTP status, the media type and the body. No secondary
indexes: the table still changes (DuckDB refuses some ALTERs on indexed tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE api_requests (
            user_name VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            status INTEGER,
            media_type VARCHAR,
            response BLOB,
            created_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            PRIMARY KEY (user_name, request_id)
        )
        """
    )
