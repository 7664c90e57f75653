"""The hash chain that makes edits to the store's history evident.

Three chains, each in id order: ``artifacts`` (a registered artifact: its columns, its files
role → blob and size, its lineage inputs), ``alias_history`` (every move of an alias) and
``audit_log`` (every change). A row's entry in ``hash_chain`` holds the previous entry's hash and
its own, ``sha256(previous hash + "\\n" + canonical JSON of the row)``, plus a short digest of
each field, so a check can say which field changed. Rows are chained in the write transaction
that inserts them: the store's write lock (and the side lock across processes) makes "the
previous row" well defined.

What it cannot see: a rewrite of the whole chain from the edited row on, the newest rows deleted
together with their entries, or a replacement of the whole folder (docs/workspace.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

GENESIS = "0" * 64  # the "previous hash" of each chain's first row
LATE_RELATIONS = ("triggered_by",)  # lineage added after registration (monitoring): not hashed

COLUMNS: dict[str, tuple[str, ...]] = {
    "artifacts": (
        "artifact_id",
        "kind",
        "name",
        "version",
        "project",
        "content_hash",
        "metadata",
        "created_at",
        "created_by",
    ),
    "alias_history": (
        "entry_id",
        "project",
        "alias",
        "artifact_id",
        "previous_artifact_id",
        "at",
        "actor",
        "reason",
        "build_id",
    ),
    "audit_log": ("audit_id", "at", "actor", "via", "action", "project", "target", "details"),
}
CHAINS = tuple(COLUMNS)
_JSON = {"metadata", "details"}


class _Fetches(Protocol):
    def fetchall(self) -> list[tuple[Any, ...]]: ...


class Executes(Protocol):
    """A transaction (``Tx``) or, in a migration, the raw connection."""

    def execute(self, sql: str, params: Any = None, /) -> _Fetches: ...


@dataclass(frozen=True)
class Finding:
    """One break in a chain. ``problem``: ``edited`` (the row no longer matches its hash; ``fields``
    names what changed), ``deleted`` (its entry remains, the row is gone), ``unchained`` (a row
    with no entry), ``broken`` (its entry does not follow the entry before it)."""

    chain: str
    row_id: int
    problem: str
    fields: tuple[str, ...] = ()


# json.dumps with these options would build an encoder per call (~4 µs, most of a short value's
# text): one encoder, the same text
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def canonical(value: Any) -> str:
    return _ENCODER.encode(value)


def row_hash(previous: str, content: Mapping[str, Any]) -> str:
    return _chained_hash(previous, canonical(content))


def _chained_hash(previous: str, text: str) -> str:
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


def field_digests(content: Mapping[str, Any]) -> dict[str, str]:
    """A short digest per field (each file its own), to name what changed."""
    flat: dict[str, Any] = {k: v for k, v in content.items() if k != "files"}
    flat.update({f"file {role}": pair for role, pair in content.get("files", {}).items()})
    return {k: _digest(canonical(v)) for k, v in flat.items()}


class Texts(NamedTuple):
    """What the chain stores of a row's contents: ``canonical(content)`` (hashed after the
    previous entry's hash) and ``canonical(field_digests(content))`` (the entry's ``fields``)."""

    content: str
    fields: str


def texts(content: Mapping[str, Any]) -> Texts:
    return Texts(canonical(content), canonical(field_digests(content)))


@dataclass(frozen=True)
class Partial:
    """Some fields of a row's contents, already turned into their canonical text and digests
    (:func:`partial`): the rest (the ids, versions and times only the insert decides) is added by
    :meth:`complete`, so most of the hashing of a batch happens before the store's write lock.
    ``canonical`` of a dict is its members in key order, so both texts are put together from
    each field's member text."""

    members: Mapping[str, str]  # key -> '"key":<canonical value>'
    digests: Mapping[str, str]  # digest key (a file is "file <role>") -> '"key":"<digest>"'

    def complete(self, rest: Mapping[str, Any]) -> Texts:
        """The texts of the contents these fields and ``rest`` make together (= ``texts``)."""
        members = dict(self.members)
        digests = dict(self.digests)
        for key, value in rest.items():
            if key in members or key == "files":
                raise ValueError(f"{key!r} cannot be completed: a known field or the files")
            text = canonical(value)
            members[key] = f"{_key_text(key)}:{text}"
            digests[key] = f'{_key_text(key)}:"{_digest(text)}"'
        return Texts(_joined(members), _joined(digests))


def partial(fields: Mapping[str, Any]) -> Partial:
    members = {k: f"{_key_text(k)}:{canonical(v)}" for k, v in fields.items()}
    digests = {k: f'{_key_text(k)}:"{d}"' for k, d in field_digests(fields).items()}
    return Partial(members, digests)


@functools.lru_cache(maxsize=256)
def _key_text(key: str) -> str:
    return canonical(key)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _joined(members: Mapping[str, str]) -> str:
    return "{" + ",".join(members[k] for k in sorted(members)) + "}"


def contents(
    con: Executes, chain: str, ids: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """What is hashed of each row (all rows, or those with ``ids``), as stored."""
    columns = COLUMNS[chain]
    where, params = _where(columns[0], ids)
    names = ", ".join(f'"{c}"' for c in columns)
    found = {
        int(row[0]): from_row(chain, row)
        for row in con.execute(f"SELECT {names} FROM {chain}{where}", params).fetchall()
    }
    if chain == "artifacts":
        _add_files_and_inputs(con, found, ids)
    return found


def _where(column: str, ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    if len(ids) == 1:  # a point query: much cheaper than a join (a model check on each load)
        return f' WHERE "{column}" = ?', [int(ids[0])]
    return f' WHERE "{column}" IN (SELECT unnest(?::BIGINT[]))', [list(ids)]


def _add_files_and_inputs(
    con: Executes, found: dict[int, dict[str, Any]], ids: Sequence[int] | None
) -> None:
    """An artifact's files (role → blob, size) and lineage inputs, except late relations."""
    for content in found.values():
        content["files"], content["inputs"] = {}, []
    where, params = _where("artifact_id", ids)
    for artifact_id, role, blob_hash, size in con.execute(
        f"SELECT artifact_id, role, blob_hash, size_bytes FROM artifact_files{where}", params
    ).fetchall():
        if artifact_id in found:
            found[artifact_id]["files"][role] = [blob_hash, int(size)]
    where, params = _where("src_id", ids)
    for src, relation, dst in con.execute(
        f"SELECT src_id, relation, dst_id FROM edges{where} ORDER BY src_id, relation, dst_id",
        params,
    ).fetchall():
        if src in found and relation not in LATE_RELATIONS:
            found[src]["inputs"].append([relation, int(dst)])


def from_row(chain: str, row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``COLUMNS[chain]`` (as a SELECT or an INSERT … RETURNING gives it) as hashed."""
    return {c: json.loads(v) if c in _JSON else v for c, v in zip(COLUMNS[chain], row, strict=True)}


def append(
    con: Executes,
    chain: str,
    ids: Sequence[int],
    rows: Mapping[int, Mapping[str, Any] | Texts] | None = None,
) -> None:
    """Chain the rows ``ids``, just inserted in this write transaction, after the chain's head.
    ``rows``: their contents (or their ``Texts``, made mostly before the write lock) when the
    insert returned them (else they are read back)."""
    if not ids:
        return
    ordered = sorted(int(i) for i in ids)
    if len(ordered) == 1 and rows is not None:  # an audit row: one statement, not two
        _append_one(con, chain, ordered[0], _texts(rows[ordered[0]]))
        return
    head = con.execute(
        "SELECT row_id, row_hash FROM hash_chain WHERE chain = ? ORDER BY row_id DESC LIMIT 1",
        [chain],
    ).fetchall()
    previous = str(head[0][1]) if head else GENESIS
    if head and ordered[0] <= int(head[0][0]):
        raise AssertionError(
            f"{chain} row {ordered[0]} was written after row {head[0][0]}: a write outside the "
            "store's write lock"
        )
    found = rows if rows is not None else contents(con, chain, ordered)
    prevs, hashes, fields = [], [], []
    for row_id in ordered:
        text = _texts(found[row_id])
        prevs.append(previous)
        previous = _chained_hash(previous, text.content)
        hashes.append(previous)
        fields.append(text.fields)
    con.execute(
        "INSERT INTO hash_chain (chain, row_id, prev_hash, row_hash, fields) "
        "SELECT ?, unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::JSON[])",
        [chain, ordered, prevs, hashes, fields],
    )


# The head's hash and the new entry in one statement: DuckDB's sha256 of the same UTF-8 text
# is ``row_hash``'s; nothing is inserted when the head is not below the row (a bug: see below).
_APPEND_ONE = """
    INSERT INTO hash_chain (chain, row_id, prev_hash, row_hash, fields)
    SELECT ?, ?, head.previous, sha256(head.previous || chr(10) || ?), ?::JSON
    FROM (SELECT coalesce(arg_max(row_hash, row_id), ?) AS previous, max(row_id) AS last
          FROM hash_chain WHERE chain = ?) head
    WHERE head.last IS NULL OR head.last < ?
    RETURNING row_id
"""


def _texts(row: Mapping[str, Any] | Texts) -> Texts:
    return row if isinstance(row, Texts) else texts(row)


def _append_one(con: Executes, chain: str, row_id: int, text: Texts) -> None:
    """:func:`append` for one row whose contents the caller has."""
    added = con.execute(
        _APPEND_ONE,
        [
            chain,
            row_id,
            text.content,
            text.fields,
            GENESIS,
            chain,
            row_id,
        ],
    ).fetchall()
    if not added:
        head = con.execute("SELECT max(row_id) FROM hash_chain WHERE chain = ?", [chain]).fetchall()
        raise AssertionError(
            f"{chain} row {row_id} was written after row {head[0][0]}: a write outside the "
            "store's write lock"
        )


def rebuild(con: Executes, chain: str) -> int:
    """Chain every row of ``chain`` from the start (the migration that introduces the chain)."""
    ids = sorted(contents(con, chain))
    append(con, chain, ids)
    return len(ids)


def check(con: Executes, chain: str) -> list[Finding]:
    """Every break in ``chain``: edited, deleted and unchained rows, and entries that do not
    follow the one before them."""
    entries = con.execute(
        "SELECT row_id, prev_hash, row_hash, fields FROM hash_chain WHERE chain = ? ORDER BY row_id",
        [chain],
    ).fetchall()
    rows = contents(con, chain)
    findings: list[Finding] = []
    previous = GENESIS
    for row_id, prev_hash, own_hash, fields in entries:
        if prev_hash != previous:
            findings.append(Finding(chain, int(row_id), "broken"))
        findings.extend(_check_row(chain, int(row_id), prev_hash, own_hash, fields, rows))
        previous = own_hash
    chained = {int(e[0]) for e in entries}
    findings.extend(Finding(chain, i, "unchained") for i in sorted(set(rows) - chained))
    return sorted(findings, key=lambda f: (f.row_id, f.problem))


def check_row(con: Executes, chain: str, row_id: int) -> list[Finding]:
    """The checks of :func:`check` for one row and its neighbours in the chain (cheap: a model
    is checked this way each time it is promoted or loaded)."""
    entries = con.execute(
        """
        SELECT row_id, prev_hash, row_hash, fields FROM hash_chain
        WHERE chain = ? AND row_id IN (
            ?,
            (SELECT max(row_id) FROM hash_chain WHERE chain = ? AND row_id < ?),
            (SELECT min(row_id) FROM hash_chain WHERE chain = ? AND row_id > ?))
        ORDER BY row_id
        """,
        [chain, row_id, chain, row_id, chain, row_id],
    ).fetchall()
    mine = [e for e in entries if int(e[0]) == row_id]
    if not mine:
        return [Finding(chain, row_id, "unchained")]
    _, prev_hash, own_hash, fields = mine[0]
    before = [e for e in entries if int(e[0]) < row_id]
    after = [e for e in entries if int(e[0]) > row_id]
    findings = _check_row(
        chain, row_id, prev_hash, own_hash, fields, contents(con, chain, [row_id])
    )
    if (before and before[0][2] != prev_hash) or (not before and prev_hash != GENESIS):
        findings.append(Finding(chain, row_id, "broken"))
    if after and after[0][1] != own_hash:
        findings.append(Finding(chain, int(after[0][0]), "broken"))
    return findings


def _check_row(
    chain: str,
    row_id: int,
    prev_hash: str,
    own_hash: str,
    fields: str,
    rows: Mapping[int, Mapping[str, Any]],
) -> list[Finding]:
    content = rows.get(row_id)
    if content is None:
        return [Finding(chain, row_id, "deleted")]
    if row_hash(prev_hash, content) == own_hash:
        return []
    recorded = json.loads(fields)
    now = field_digests(content)
    changed = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    return [Finding(chain, row_id, "edited", tuple(changed))]
