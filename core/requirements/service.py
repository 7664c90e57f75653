"""Requirement sets in the store: versioned saves (import, edit, delete), reads and history.

Every save is one transaction: the new requirement versions, the set version (also registered as a
``requirements`` artifact holding the set's YAML), the audit rows and the recomputed statuses. A
file with one bad entry writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from core.accounts.access import readable
from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register
from core.errors import InvalidInput, NotFound
from core.projects.service import get_project, list_projects
from core.requirements.documents import (
    document_changed,
    insert_document,
    insert_schema,
    replace_document,
    requirement_document,
    requirement_schema,
    schema_changed,
)
from core.requirements.interchange import read_document, render, to_yaml
from core.requirements.models import (
    CHECK_FIELDS,
    LIST_FIELDS,
    Derivation,
    DocumentNode,
    Requirement,
    SaveResult,
)
from core.requirements.parse import parse_entry, validate_set
from core.requirements.reqif_map import read_mapping
from core.requirements.status import recompute
from core.store import Tx, Workspace, utcnow

COLUMN_NAMES = tuple(f.name for f in fields(Requirement))  # the table's columns, in this order
COLUMNS = ", ".join(COLUMN_NAMES)
_LIST = "array_to_string({0}, chr(31)) AS {0}"  # lists as text: 20x faster to fetch than LIST
READ_COLUMNS = ", ".join(_LIST.format(c) if c in LIST_FIELDS else c for c in COLUMN_NAMES)
_LISTS_AT = tuple(COLUMN_NAMES.index(c) for c in LIST_FIELDS)
_DERIVATION_AT = COLUMN_NAMES.index("derivation")
_ATTRIBUTES_AT = COLUMN_NAMES.index("attributes")
_RELATIONS_AT = COLUMN_NAMES.index("relations")
NATURAL_ORDER = (
    "ORDER BY level <> 'system', regexp_replace(requirement_id, '[0-9]+$', ''), "
    "TRY_CAST(regexp_extract(requirement_id, '([0-9]+)$', 1) AS BIGINT) NULLS FIRST, requirement_id"
)
CURRENT = (
    f"SELECT {READ_COLUMNS} FROM requirements WHERE project = ? "
    "QUALIFY row_number() OVER (PARTITION BY project, requirement_id ORDER BY version DESC) = 1 "
    + NATURAL_ORDER
)
SET_COLUMNS = "project, set_version, artifact_id, source, note, changed, created_at, created_by"
MAX_FILE = 20 << 20


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split("\x1f")) if value else ()
    return tuple(value or ())


def row_to_requirement(row: Sequence[Any]) -> Requirement:
    """A row of ``READ_COLUMNS`` (or ``COLUMNS``)."""
    values = list(row)
    for index in _LISTS_AT:
        values[index] = _names(values[index])
    derivation = values[_DERIVATION_AT]
    values[_DERIVATION_AT] = json.loads(derivation) if derivation else None
    attributes = values[_ATTRIBUTES_AT]
    values[_ATTRIBUTES_AT] = json.loads(attributes) if attributes else {}
    relations = values[_RELATIONS_AT]
    values[_RELATIONS_AT] = tuple(json.loads(relations)) if relations else ()
    return Requirement(*values)


def select_current(tx: Tx, project: str, *, include_deleted: bool = False) -> list[Requirement]:
    """Current versions, system requirements first, ids in natural order (SYS-2 before SYS-10)."""
    found = [row_to_requirement(r) for r in tx.rows(CURRENT, [project])]
    return [r for r in found if include_deleted or not r.deleted]


def list_requirements(
    ws: Workspace, project: str, *, level: str | None = None, include_deleted: bool = False
) -> list[Requirement]:
    """The current version of each requirement of a project: system requirements first."""
    get_project(ws, project)
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        found = select_current(tx, project, include_deleted=include_deleted)
    return [r for r in found if level is None or r.level == level]


def get_requirement(ws: Workspace, project: str, requirement_id: str) -> Requirement:
    with ws.store.read() as tx:
        found = {r.requirement_id: r for r in select_current(tx, project)}
    if requirement_id not in found:
        raise NotFound(
            f"No requirement {requirement_id!r} in {project!r}.",
            hint=f"list them with `loopline requirements list {project}`",
        )
    return found[requirement_id]


def save_requirements(
    ws: Workspace,
    project: str,
    items: Iterable[Requirement],
    actor: Actor,
    *,
    source: str = "edit",
    note: str = "",
    delete: Iterable[str] = (),
    delete_missing: bool = False,
    origin: str | None = None,
    document: Sequence[DocumentNode] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> SaveResult:
    """Save new versions of the requirements that changed (and tombstones for ``delete``); with
    ``delete_missing``, the given items are the whole set and the others are removed. A
    requirements tool's object already stored under another id keeps that id (matched by the
    tool's identifier). ``document``: the imported file's structure, kept with the new version;
    ``schema``: the tool's ReqIF definitions, likewise."""
    spec = get_project(ws, project).spec
    where = origin or project  # how error messages name what is being saved
    incoming = list(items)
    _check_project(incoming, project)
    with ws.store.transaction() as tx:
        every = {r.requirement_id: r for r in select_current(tx, project, include_deleted=True)}
        live = {k: r for k, r in every.items() if not r.deleted}
        incoming = by_tool_identity(incoming, live)
        given = _keep_tool_fields(_given_once(incoming, where), every)
        removing = _removing(live, given, project, delete, delete_missing)
        kept = {k: r for k, r in live.items() if k not in removing}
        validate_set({**kept, **given}.values(), spec, where)
        now = utcnow()
        changes = new_versions(every, given, removing, now)
        if not changes.rows:
            if (document and document_changed(tx, project, document)) or schema_changed(
                tx, project, schema
            ):
                _restructure(tx, actor, project, document, source, note, schema)
            return SaveResult(project, None, (), (), (), changes.unchanged)
        set_version = _next_set_version(tx, project)
        _insert_versions(tx, changes.rows, set_version, note, actor, now)
        if document:
            insert_document(tx, project, set_version, document)
        insert_schema(tx, project, set_version, schema)
        artifact_id = _snapshot(ws, tx, project, set_version, source, note, actor)
        _insert_set(
            tx, project, set_version, artifact_id, source, note, len(changes.rows), now, actor
        )
        _audit_save(tx, actor, project, set_version, source, note, changes, every, given)
        recompute(tx, project, cause=f"requirement set v{set_version} ({source})")
    return SaveResult(
        project,
        set_version,
        changes.created,
        changes.changed,
        changes.deleted,
        changes.unchanged,
        artifact_id,
    )


@dataclass(frozen=True)
class Changes:
    """What a save writes: one new version per row (the item, its version, deleted or not, when its
    check last changed), and which ids are new, changed or deleted."""

    rows: tuple[tuple[Requirement, int, bool, Any], ...]
    created: tuple[str, ...]
    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int


def _check_project(items: Sequence[Requirement], project: str) -> None:
    for item in items:
        if item.project != project:
            raise InvalidInput(
                f"{item.requirement_id} belongs to {item.project!r}, not {project!r}."
            )


def _given_once(items: Sequence[Requirement], where: str) -> dict[str, Requirement]:
    """The items by id; an id given twice is refused."""
    given = {r.requirement_id: r for r in items}
    if len(given) != len(items):
        counts = Counter(r.requirement_id for r in items)
        twice = sorted(k for k, n in counts.items() if n > 1)
        verb = "appears" if len(twice) == 1 else "appear"
        raise InvalidInput(f"{where}: {', '.join(twice)} {verb} more than once.")
    return given


def by_tool_identity(
    items: Sequence[Requirement], live: Mapping[str, Requirement]
) -> list[Requirement]:
    """Items whose tool identifier names a stored requirement under another id take that id (a
    requirement renamed in the tool is updated in place), with the links that named it."""
    stored = {r.external_id: rid for rid, r in live.items() if r.external_id}
    renamed = {
        r.requirement_id: stored[r.external_id]
        for r in items
        if r.external_id in stored and stored[r.external_id] != r.requirement_id
    }
    if not renamed:
        return list(items)
    return [
        replace(
            r,
            requirement_id=renamed.get(r.requirement_id, r.requirement_id),
            parent=renamed.get(r.parent, r.parent) if r.parent else None,
            derived_from=tuple(renamed.get(d, d) for d in r.derived_from),
            relations=tuple(
                {**x, "target": renamed.get(x["target"], x["target"])} for x in r.relations
            ),
        )
        for r in items
    ]


def _keep_tool_fields(
    given: Mapping[str, Requirement], every: Mapping[str, Requirement]
) -> dict[str, Requirement]:
    """A save that does not carry what a requirements tool gave (its identifier, attributes,
    object type and relations: an edit, a YAML file without them) keeps the stored ones."""
    out = {}
    for rid, item in given.items():
        before = every.get(rid)
        if item.attributes is None and before is not None:
            item = replace(
                item,
                external_id=before.external_id,
                attributes=before.attributes,
                object_type=before.object_type,
                relations=before.relations,
            )
        out[rid] = item
    return out


def _removing(
    live: Mapping[str, Requirement],
    given: Mapping[str, Requirement],
    project: str,
    delete: Iterable[str],
    delete_missing: bool,
) -> set[str]:
    """The ids to remove: those named, and (``delete_missing``) the live ones not given."""
    removing = set(delete) | (set(live) - set(given) if delete_missing else set())
    unknown = sorted(removing - set(live))
    if unknown:
        raise NotFound(f"No requirement {', '.join(unknown)} in {project!r} to remove.")
    return removing


def _same_content(before: Requirement, item: Requirement) -> bool:
    """Equal but for the tool's own identifier of the object: StrictDoc, for one, gives every
    object a new identifier on each export, so an unchanged document re-exported is no change
    (the id the requirement goes by, and the tool identifiers of renames, still match it)."""
    return {**before.content(), "external_id": None} == {**item.content(), "external_id": None}


def new_versions(
    every: Mapping[str, Requirement],
    given: Mapping[str, Requirement],
    removing: Iterable[str],
    now: Any,
) -> Changes:
    """A new version for each given item whose content differs from its current one (a deleted
    one comes back), a tombstone for each removed id; ``check_changed_at`` moves to ``now`` when
    a field of the check changed."""
    created: list[str] = []
    changed: list[str] = []
    rows: list[tuple[Requirement, int, bool, Any]] = []
    for rid, item in given.items():
        before = every.get(rid)
        if before is not None and not before.deleted and _same_content(before, item):
            continue
        check_at = None
        if before is not None:
            old, new = before.content(), item.content()
            moved = before.deleted or any(old[f] != new[f] for f in CHECK_FIELDS)
            check_at = now if moved else before.check_changed_at
        (changed if before is not None and not before.deleted else created).append(rid)
        rows.append((item, (before.version if before else 0) + 1, False, check_at))
    deleted = tuple(sorted(removing))
    for rid in deleted:
        before = every[rid]
        rows.append((before, before.version + 1, True, before.check_changed_at))
    unchanged = len(given) - len(created) - len(changed)
    return Changes(tuple(rows), tuple(created), tuple(changed), deleted, unchanged)


def _restructure(
    tx: Tx,
    actor: Actor,
    project: str,
    document: Sequence[DocumentNode] | None,
    source: str,
    note: str,
    schema: Mapping[str, Any] | None = None,
) -> None:
    """A re-import whose requirements are unchanged but whose document structure moved
    (a heading renamed, a section added): the structure is kept with the current set version,
    and the audit row says so."""
    set_version = _next_set_version(tx, project) - 1
    if document:
        replace_document(tx, project, set_version, document)
    insert_schema(tx, project, set_version, schema)
    record(
        tx,
        actor,
        "requirements.import",
        project=project,
        target=f"requirements:{project}@{set_version}",
        details={
            "set_version": set_version,
            "source": source,
            "document": "restructured",
            "note": note,
        },
    )


def _next_set_version(tx: Tx, project: str) -> int:
    return int(
        tx.scalar(
            "SELECT coalesce(max(set_version), 0) + 1 FROM requirement_sets WHERE project = ?",
            [project],
        )
    )


def _insert_set(
    tx: Tx,
    project: str,
    set_version: int,
    artifact_id: int,
    source: str,
    note: str,
    changed: int,
    now: Any,
    actor: Actor,
) -> None:
    tx.execute(
        f"INSERT INTO requirement_sets ({SET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [project, set_version, artifact_id, source, note, changed, now, actor.name],
    )


def _audit_save(
    tx: Tx,
    actor: Actor,
    project: str,
    set_version: int,
    source: str,
    note: str,
    changes: Changes,
    every: Mapping[str, Requirement],
    given: Mapping[str, Requirement],
) -> None:
    """One audit row: import, edit (with the fields each changed requirement changed) or delete."""
    details: dict[str, Any] = {
        "set_version": set_version,
        "source": source,
        "created": list(changes.created),
        "changed": list(changes.changed),
        "deleted": list(changes.deleted),
        "note": note,
    }
    if changes.changed:
        details["fields"] = {
            rid: sorted(_diff(every[rid].content(), given[rid].content()))
            for rid in changes.changed
        }
    action = "requirements.import" if source != "edit" else "requirements.edit"
    if not given and changes.deleted:
        action = "requirements.delete"
    record(
        tx,
        actor,
        action,
        project=project,
        target=f"requirements:{project}@{set_version}",
        details=details,
    )


def _insert_versions(
    tx: Tx,
    rows: Sequence[tuple[Requirement, int, bool, Any]],
    set_version: int,
    note: str,
    actor: Actor,
    now: Any,
) -> None:
    """Every new version in one statement (one INSERT per row costs ms each on a big set)."""
    columns: dict[str, list[Any]] = {name: [] for name in COLUMN_NAMES}
    stored = COLUMN_NAMES[: COLUMN_NAMES.index("version")]  # what the item holds; then ours
    for item, version, deleted, check_at in rows:
        values = [getattr(item, name) for name in stored]
        for index in _LISTS_AT:
            values[index] = list(values[index])
        derivation = item.derivation
        values[_DERIVATION_AT] = json.dumps(dict(derivation)) if derivation else None
        attributes = item.attributes
        values[_ATTRIBUTES_AT] = json.dumps(_plain_attributes(attributes)) if attributes else None
        relations = [dict(r) for r in item.relations]
        values[_RELATIONS_AT] = json.dumps(relations) if relations else None
        values += [version, set_version, deleted, check_at, note, now, actor.name]
        for name, value in zip(columns, values, strict=True):
            columns[name].append(value)
    types = {
        "derived_from": "VARCHAR[][]",
        "slices": "VARCHAR[][]",
        "evidence": "VARCHAR[][]",
        "tolerance": "DOUBLE[]",
        "threshold": "DOUBLE[]",
        "window_days": "INTEGER[]",
        "min_n": "INTEGER[]",
        "fail_when_inconclusive": "BOOLEAN[]",
        "derivation": "JSON[]",
        "attributes": "JSON[]",
        "relations": "JSON[]",
        "version": "INTEGER[]",
        "set_version": "INTEGER[]",
        "deleted": "BOOLEAN[]",
        "check_changed_at": "TIMESTAMP[]",
        "created_at": "TIMESTAMP[]",
    }
    selects = ", ".join(f"unnest(?::{types.get(name, 'VARCHAR[]')})" for name in columns)
    tx.execute(f"INSERT INTO requirements ({COLUMNS}) SELECT {selects}", list(columns.values()))


def _plain_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: dict(value) for name, value in attributes.items()}


def _snapshot(
    ws: Workspace, tx: Tx, project: str, set_version: int, source: str, note: str, actor: Actor
) -> int:
    """The set as it now stands, registered as ``requirements:<project>@N`` (same transaction)."""
    current = select_current(tx, project)
    previous = tx.scalar(
        "SELECT artifact_id FROM requirement_sets WHERE project = ? ORDER BY set_version DESC LIMIT 1",
        [project],
    )
    artifact = register(
        ws,
        NewArtifact(
            "requirements",
            project,
            project=project,
            files={"requirements.yaml": to_yaml(project, current).encode()},
            inputs=[("extends", int(previous))] if previous else [],
            metadata={
                "set_version": set_version,
                "source": source,
                "note": note,
                "system": sum(r.level == "system" for r in current),
                "ml": sum(r.level == "ml" for r in current),
            },
        ),
        actor,
        checks=["requirements.edit"],  # edit, import and delete: refused with their own roles
    )
    return artifact.artifact_id


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)}


def edit_requirement(
    ws: Workspace,
    project: str,
    requirement_id: str,
    changes: Mapping[str, Any],
    actor: Actor,
    *,
    note: str = "",
) -> SaveResult:
    """Change some fields of one requirement (or create it when ``changes`` hold a whole entry)."""
    with ws.store.read() as tx:
        found = {r.requirement_id: r for r in select_current(tx, project)}
    current = found.get(requirement_id)
    if current is None:
        level = str(changes.get("level", "ml" if changes.get("metric") else "system"))
        entry = {"id": requirement_id, **{k: v for k, v in changes.items() if k != "level"}}
    else:
        level = current.level
        entry = {"id": requirement_id, **_entry(current), **dict(changes)}
        entry.pop("level", None)
    item = parse_entry(entry, project, level, f"{project}/{requirement_id}")
    return save_requirements(ws, project, [item], actor, source="edit", note=note)


def create_derived_requirement(
    ws: Workspace,
    project: str,
    requirement_id: str,
    derivation: Derivation,
    actor: Actor,
    *,
    derived_from: str | Sequence[str],
    evidence: str = "production",
    title: str | None = None,
    note: str = "derived",
) -> SaveResult:
    """Save an ML requirement whose threshold ``derivation`` computed (the CLI's ``derive
    --create``, the page's derivation helper). The derivation's inputs are kept with it, so its
    steps show and a change of the inputs recomputes the threshold. An existing id gets these
    fields as a new version."""
    named = derived_from if isinstance(derived_from, str) else ", ".join(derived_from)
    entry = {
        "level": "ml",
        "title": title or f"{derivation.metric} derived from {named}",
        "derived_from": derived_from if isinstance(derived_from, str) else list(derived_from),
        "metric": derivation.metric,
        "comparator": derivation.comparator,
        "evidence": evidence,
        "derivation": {"kind": derivation.kind, **derivation.inputs},
    }
    return edit_requirement(ws, project, requirement_id, entry, actor, note=note)


def _entry(item: Requirement) -> dict[str, Any]:
    """A requirement as the mapping :func:`parse_entry` reads (empty fields left out)."""
    return {k: v for k, v in item.entry().items() if v not in (None, [], "")}


def delete_requirements(
    ws: Workspace, project: str, ids: Iterable[str], actor: Actor, *, note: str = ""
) -> SaveResult:
    return save_requirements(ws, project, [], actor, source="edit", note=note, delete=ids)


def import_requirements(
    ws: Workspace,
    path: str | Path,
    actor: Actor,
    *,
    project: str | None = None,
    delete_missing: bool = False,
    note: str = "",
    mapping: str | Path | None = None,
) -> SaveResult:
    """Import a YAML, CSV or ReqIF file (by its extension) as a new version of a project's set;
    ``mapping``: a YAML file saying how a requirements tool's ReqIF reads (``reqif_map``)."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(
            f"No requirements file at {file}.", hint="pass the path of a .yaml, .csv or .reqif file"
        )
    if file.stat().st_size > MAX_FILE:
        raise InvalidInput(f"{file.name}: larger than 20 MiB; split it.")
    found = read_document(file, project, read_mapping(mapping))
    return save_requirements(
        ws,
        found.project,
        found.requirements,
        actor,
        source=f"import {file.name}",
        note=note or f"imported from {file.name}",
        delete_missing=delete_missing,
        origin=file.name,
        document=found.nodes,
        schema=found.schema,
    )


def export_requirements(ws: Workspace, project: str | None, fmt: str) -> str:
    """A project's current set in an export format (yaml, csv or reqif: with the structure of
    the document last imported); without a project, the workspace's only one."""
    if project:
        chosen = get_project(ws, project).name
    else:
        names = [p.name for p in list_projects(ws)]
        if len(names) != 1:
            raise InvalidInput(
                "Which project? "
                + (f"This workspace has {', '.join(names)}." if names else "There is none."),
                hint="pass --project NAME",
            )
        chosen = names[0]
    document = requirement_document(ws, chosen) if fmt == "reqif" else []
    schema = requirement_schema(ws, chosen) if fmt == "reqif" else None
    return render(chosen, list_requirements(ws, chosen), fmt, document, schema)


def with_project(items: Iterable[Requirement], project: str) -> list[Requirement]:
    return [replace(r, project=project) for r in items]
