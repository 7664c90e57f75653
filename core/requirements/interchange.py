"""Requirement sets as YAML and CSV (ReqIF is in ``reqif.py``), and reading any of them by extension.

CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) are written with a leading ``'``; reading strips it again.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInput, expected_one_of
from core.requirements.models import (
    CONTENT_FIELDS,
    TOOL_FIELDS,
    DocumentNode,
    Requirement,
    file_name,
)
from core.requirements.parse import parse_document, parse_entry
from core.requirements.reqif import to_reqif
from core.requirements.reqif_map import NO_MAPPING, ReqifMapping
from core.requirements.reqif_read import ReqifDocument, read_reqif

# a requirements tool's identifier and attributes last (attributes as JSON: {name: {type, value}})
CSV_COLUMNS = ("project", "level", "id", *(file_name(f) for f in CONTENT_FIELDS), *TOOL_FIELDS)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_UNZIPPED = 50 << 20
MAX_RATIO = 200  # a .reqifz member that unpacks more than 200x is a zip bomb, not an export
MAX_MEMBERS = 10_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10x faster on big sets
_ALWAYS = ("title", "derived_from", "metric", "comparator", "evidence")  # written even when empty


def entry_of(item: Requirement) -> dict[str, Any]:
    """The mapping written to YAML for one requirement: only the fields that say something, one
    slice or evidence source as a single value, then what a requirements tool gave (its
    identifier, its attributes with their ReqIF types)."""
    out: dict[str, Any] = {"id": item.requirement_id}
    for key, value in item.entry().items():
        if key == "derived_from" and not item.is_ml and not value:
            continue  # a system requirement's several parents, when it has them
        if key in ("slices", "evidence") and len(value) == 1:
            key, value = ("slice" if key == "slices" else key), value[0]
        elif key == "tolerance":
            if not item.relative_to:
                continue
            value = value or 0.0
        elif key == "if_slice_absent" and value == "no_evidence":
            continue
        if key in _ALWAYS or value not in (None, "", []):
            out[key] = value
    out.update(tool_fields(item))
    return out


def tool_fields(item: Requirement) -> dict[str, Any]:
    """What a requirements tool gave, as YAML and CSV carry it (nothing when none did)."""
    out: dict[str, Any] = {}
    if item.external_id:
        out["external_id"] = item.external_id
    if item.attributes:
        out["attributes"] = {name: dict(given) for name, given in item.attributes.items()}
    if item.object_type:
        out["object_type"] = item.object_type
    if item.relations:
        out["relations"] = [dict(r) for r in item.relations]
    return out


def to_yaml(project: str, items: Iterable[Requirement]) -> str:
    chosen = list(items)
    document = {
        "project": project,
        "system": [entry_of(r) for r in chosen if r.level == "system"],
        "ml": [entry_of(r) for r in chosen if r.level == "ml"],
    }
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)


def from_yaml(text: str, source: str, project: str | None = None) -> tuple[str, list[Requirement]]:
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{source}: {where}: {problem}.", hint="fix the YAML syntax") from exc
    return parse_document(data, source, project)


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _plain(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.12g}"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def unsafe_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def to_csv(project: str, items: Iterable[Requirement]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        row = {
            "project": project,
            "level": item.level,
            "id": item.requirement_id,
            **item.entry(),
            **tool_fields(item),
        }
        for key in ("attributes", "relations"):  # in the tool's order (not sorted)
            if key in row:
                row[key] = json.dumps(row[key], ensure_ascii=False)
        writer.writerow([safe_cell(row.get(c)) for c in CSV_COLUMNS])
    return buffer.getvalue()


def from_csv(text: str, source: str, project: str | None = None) -> tuple[str, list[Requirement]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise InvalidInput(f"{source}: the file is empty.")
    missing = [c for c in ("level", "id", "title") if c not in header]
    unknown = [c for c in header if c and c not in CSV_COLUMNS]
    if missing or unknown:
        raise InvalidInput(
            f"{source}: "
            + (f"missing column(s) {', '.join(missing)}. " if missing else "")
            + (f"unknown column(s) {', '.join(unknown)}. " if unknown else "")
            + f"Expected: {', '.join(CSV_COLUMNS)}.",
            hint="export a set with `loopline requirements export --format csv` to see the layout",
        )
    projects: set[str] = set()
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for number, raw in enumerate(reader, start=2):
            row = {str(k).strip(): unsafe_cell((v or "").strip()) for k, v in raw.items() if k}
            if not any(row.values()):
                continue
            if row.get("project"):
                projects.add(row["project"])
            rows.append((number, row))
    except csv.Error as exc:
        raise InvalidInput(f"{source}: line {reader.line_num}: {exc}.") from exc
    chosen = _one_project(projects, project, source)
    items = []
    for number, row in rows:
        level = (row.pop("level", "") or "").lower()
        row.pop("project", None)
        entry = {k: v for k, v in row.items() if v != ""}
        items.append(parse_entry(entry, chosen, level, f"{source}: row {number}"))
    return chosen, items


def _one_project(found: set[str], given: str | None, source: str) -> str:
    if given:
        others = sorted(found - {given})
        if others:
            raise InvalidInput(
                f"{source}: the file has requirements of {', '.join(others)}, not only {given!r}."
            )
        return given
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise InvalidInput(
            f"{source}: which project? No row names one.", hint="pass --project NAME"
        )
    raise InvalidInput(
        f"{source}: the file mixes projects {', '.join(sorted(found))}.",
        hint="import one project at a time (--project NAME picks one)",
    )


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}: not UTF-8 text (byte {exc.start}).") from exc


def read_file(path: Path, project: str | None = None) -> tuple[str, list[Requirement]]:
    """Any supported file, by extension: .yaml/.yml, .csv, .reqif/.xml, .reqifz (zipped ReqIF)."""
    found = read_document(path, project)
    return found.project, found.requirements


def read_document(
    path: Path, project: str | None = None, mapping: ReqifMapping = NO_MAPPING
) -> ReqifDocument:
    """A file's project, requirements and (ReqIF) document structure; a mapping file applies to
    ReqIF only."""
    suffix = path.suffix.lower()
    if mapping is not NO_MAPPING and suffix not in (".reqif", ".xml", ".reqifz"):
        raise InvalidInput(
            f"{path.name}: a mapping file applies to ReqIF (.reqif, .reqifz) only.",
            hint="drop --mapping for YAML and CSV files",
        )
    if suffix in (".yaml", ".yml"):
        return ReqifDocument(*from_yaml(read_text(path), path.name, project), [])
    if suffix == ".csv":
        return ReqifDocument(*from_csv(read_text(path), path.name, project), [])
    if suffix in (".reqif", ".xml"):
        return read_reqif(path.read_bytes(), path.name, project, mapping)
    if suffix == ".reqifz":
        return read_reqif(unzip_reqif(path), path.name, project, mapping)
    raise InvalidInput(
        f"{path.name}: unknown file type {suffix or '(none)'!r}. Expected one of: .csv, .reqif, "
        ".reqifz, .xml, .yaml, .yml."
    )


def unzip_reqif(path: Path) -> bytes:
    """The one .reqif inside a .reqifz, read with its size bounded whatever the archive claims
    (a zip bomb is refused, not unpacked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InvalidInput(f"{path.name}: the archive holds {len(infos):,} files; refused.")
            members = [m for m in infos if m.filename.lower().endswith(".reqif")]
            if len(members) != 1:
                raise InvalidInput(
                    f"{path.name}: the archive holds {len(members)} .reqif files; expected one.",
                    hint="zip one ReqIF document (its attachments may sit beside it)",
                )
            return _bounded(archive, members[0], path.name)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{path.name}: not a zip archive ({exc}).") from exc


def _bounded(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str) -> bytes:
    limit = min(MAX_UNZIPPED, max(member.compress_size, 1) * MAX_RATIO)
    if member.file_size > limit:
        raise InvalidInput(
            f"{name}: {member.filename} unpacks to {member.file_size:,} bytes from "
            f"{member.compress_size:,}; refused (at most 50 MiB and {MAX_RATIO}x).",
        )
    out = bytearray()
    with archive.open(member) as stream:  # the header may lie: count what comes out
        while chunk := stream.read(1 << 16):
            out += chunk
            if len(out) > limit:
                raise InvalidInput(
                    f"{name}: {member.filename} unpacks to more than its header says; refused."
                )
    return bytes(out)


def render(
    project: str,
    items: Sequence[Requirement],
    fmt: str,
    document: Sequence[DocumentNode] = (),
    schema: Mapping[str, Any] | None = None,
) -> str:
    """A set in one of the export formats: yaml, csv or reqif (with ``document``, the imported
    document's structure, and ``schema``, the tool's definitions)."""
    if fmt == "yaml":
        return to_yaml(project, items)
    if fmt == "csv":
        return to_csv(project, items)
    if fmt == "reqif":
        return to_reqif(project, items, document=document, schema=schema)
    raise InvalidInput(expected_one_of("format", fmt, ("csv", "reqif", "yaml")))
