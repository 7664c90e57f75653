"""Behavioural test results of builds, and one build number per project (issue 17).

- ``builds.number``: the build's number within its project (#1, #2 … of that project), the one
  the Builds page, the CLI, JUnit and exports show; rows written before are numbered in the order
  of their ids;
- ``behave_results``: one row per behavioural test run in a build (``loopline behave`` alone
  stores nothing): its kind, capability, pass rate with ``n`` and its Wilson interval, the
  threshold, the verdict, and as JSON (``failures``) its expectation in words and up to five
  failing examples. The
  ``run_id`` ties the figure to the build's run, where requirements with evidence ``build``
  look for it (metric ``behave_pass_rate``, slice ``test = NAME``).

No secondary indexes: the tables still change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def up(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE builds ADD COLUMN number INTEGER")
    con.execute(
        "UPDATE builds SET number = n.number FROM ("
        "SELECT build_id, CAST(row_number() OVER (PARTITION BY project ORDER BY build_id) "
        "AS INTEGER) AS number FROM builds) n WHERE builds.build_id = n.build_id"
    )
    con.execute(
        """
        CREATE TABLE behave_results (
            build_id BIGINT NOT NULL,
            project VARCHAR NOT NULL,
            run_id BIGINT,
            model_id BIGINT,
            suite VARCHAR NOT NULL,
            test_name VARCHAR NOT NULL,
            test_kind VARCHAR NOT NULL,
            capability VARCHAR NOT NULL,
            n INTEGER NOT NULL,
            passed_n INTEGER NOT NULL,
            pass_rate DOUBLE,
            lower DOUBLE,
            upper DOUBLE,
            threshold DOUBLE NOT NULL,
            passed BOOLEAN NOT NULL,
            failures JSON NOT NULL,
            created_at TIMESTAMP NOT NULL
        )
        """
    )
