"""A short look inside an artifact's files, for the app and `loopline show`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb

from core.accounts.access import readable
from core.artifacts.models import Artifact
from core.store import Workspace

TEXT_LIMIT = 20_000


@dataclass(frozen=True)
class Preview:
    role: str
    shape: str  # "table", "json", "text" or "binary"
    table: list[dict[str, Any]] | None = None
    columns: tuple[str, ...] = ()
    total_rows: int | None = None
    data: Any = None
    text: str | None = None
    size_bytes: int = 0


def preview(ws: Workspace, artifact: Artifact, limit: int = 50) -> list[Preview]:
    readable(ws, None, "data.read", artifact.project)
    out: list[Preview] = []
    for item in artifact.files:
        path = ws.blobs.path(item.blob_hash)
        if not path.is_file():
            out.append(
                Preview(item.role, "text", text="(the file is missing: run `loopline verify`)")
            )
            continue
        head = path.read_bytes()[:4]
        if head == b"PAR1":
            con = duckdb.connect()
            try:
                relation = con.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
                columns = tuple(relation.columns)
                total = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
                rows = con.execute(
                    f"SELECT * FROM read_parquet(?) LIMIT {int(limit)}", [str(path)]
                ).fetchall()
            finally:
                con.close()
            table = [dict(zip(columns, row, strict=True)) for row in rows]
            out.append(
                Preview(
                    item.role,
                    "table",
                    table,
                    columns,
                    int(total[0]) if total else None,
                    size_bytes=item.size_bytes,
                )
            )
            continue
        raw = path.read_bytes()[: TEXT_LIMIT + 1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append(Preview(item.role, "binary", size_bytes=item.size_bytes))
            continue
        if item.role.endswith(".json") and len(raw) <= TEXT_LIMIT:
            try:
                out.append(
                    Preview(item.role, "json", data=json.loads(text), size_bytes=item.size_bytes)
                )
                continue
            except json.JSONDecodeError:
                pass
        if len(raw) > TEXT_LIMIT:
            text = text[:TEXT_LIMIT] + "\n…"
        out.append(Preview(item.role, "text", text=text, size_bytes=item.size_bytes))
    return out
