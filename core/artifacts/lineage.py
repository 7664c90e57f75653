"""Lineage: everything an artifact was made from, or everything made from it, in one query each."""

from __future__ import annotations

from core.accounts.access import readable
from core.artifacts.models import Edge, Lineage
from core.artifacts.service import get_artifact, select_artifacts
from core.errors import InvalidInput, expected_one_of
from core.store import Workspace

MAX_DEPTH = 100


def lineage(
    ws: Workspace, ref: int | str, direction: str = "up", max_depth: int = MAX_DEPTH
) -> Lineage:
    """Upstream (``up``: what it was made from) or downstream (``down``) in one recursive query."""
    if direction not in ("up", "down"):
        raise InvalidInput(expected_one_of("lineage direction", direction, ("up", "down")))
    if max_depth < 0:
        raise InvalidInput(
            f"A lineage depth must be 0 or more, got {max_depth}.",
            hint="give --depth 1 for the direct inputs (or outputs) only",
        )
    near, far = ("src_id", "dst_id") if direction == "up" else ("dst_id", "src_id")
    with ws.store.read() as tx:
        root = get_artifact(ws, ref)  # same unit of work: the file is opened once
        readable(tx, None, "data.read", root.project)
        depth = dict(
            tx.rows(
                f"""
            WITH RECURSIVE walk(artifact_id, depth) AS (
                SELECT ?::BIGINT, 0
                UNION
                SELECT e.{far}, w.depth + 1 FROM edges e JOIN walk w ON e.{near} = w.artifact_id
                WHERE w.depth < ?
            )
            SELECT artifact_id, min(depth) FROM walk GROUP BY artifact_id
            """,
                [root.artifact_id, max_depth],
            )
        )
        ids = list(depth)
        edges = tuple(
            Edge(*row)
            for row in tx.rows(
                "SELECT src_id, relation, dst_id FROM edges WHERE src_id IN (SELECT unnest(?::BIGINT[])) "
                "AND dst_id IN (SELECT unnest(?::BIGINT[])) ORDER BY src_id, relation, dst_id",
                [ids, ids],
            )
        )
        nodes = {
            a.artifact_id: a
            for a in select_artifacts(
                tx, "WHERE artifact_id IN (SELECT unnest(?::BIGINT[]))", [ids]
            )
        }
    return Lineage(root.artifact_id, direction, nodes, edges, depth, max_depth)


def lineage_tree_lines(graph: Lineage) -> list[str]:
    """The lineage as an indented tree, at most ``graph.max_depth`` steps deep; a node reached
    twice is printed once."""
    lines: list[str] = []
    seen: set[int] = set()

    def visit(artifact_id: int, level: int, relation: str | None) -> None:
        node = graph.nodes[artifact_id]
        tag = f"{relation} → " if relation else ""
        again = artifact_id in seen
        prefix = "    " * level
        lines.append(f"{prefix}{tag}{node.label}" + ("  (shown above)" if again else ""))
        seen.add(artifact_id)
        if again or level >= graph.max_depth:
            return
        for rel, child in graph.children(artifact_id):
            visit(child, level + 1, rel)

    visit(graph.root_id, 0, None)
    return lines
