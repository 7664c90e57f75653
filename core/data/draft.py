"""A project file drafted from a data file: column types, the id, the time, text and category
columns, the classes, and slices, inferred from the values, for the user to review.

The draft is YAML text with a comment on each guess; it parses as a valid project file (it is
checked with the same parser before it is returned), so the reviewed draft goes straight to
``loopline project create``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from core.data.formats import detect_format, read_table
from core.errors import InvalidInput, expected_one_of
from core.projects.service import load_spec_text
from core.projects.spec import ProjectSpec

MAX_CATEGORY_VALUES = 20  # a column with more distinct values is text, not a closed set
MAX_CLASSES = 50
MAX_SLICE_VALUES = 12  # a category column with at most this many values becomes a slice
TEXT_MEAN_LENGTH = 25  # free text: longer than this on average, or with spaces and mostly unique
LABEL_NAMES = ("label", "labels", "class", "target", "category", "diagnosis", "y")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE_FALSE = {"true", "false", "yes", "no", "t", "f", "y", "n"}
_DATE_LIKE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class ColumnGuess:
    name: str
    type: str
    required: bool
    values: tuple[str, ...] | None  # a category's values
    why: str  # the evidence, for the draft's comment


@dataclass(frozen=True)
class Draft:
    """A drafted project file: ``text`` (YAML with comments) and the spec it parses to."""

    text: str
    spec: ProjectSpec
    columns: tuple[ColumnGuess, ...]
    notes: tuple[str, ...]  # what the user should check before creating the project


def draft_project(
    path: Path,
    *,
    name: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    label_column: str | None = None,
    labels_path: Path | None = None,
    classes: tuple[str, ...] = (),
    display_name: str | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
) -> Draft:
    """Draft a project file from ``path`` (CSV, Parquet or JSONL). The classes come from
    ``classes``, else ``label_column`` of ``labels_path`` (a separate labels file), else of the
    data file itself (that column is then not a model input)."""
    shown = display_name or path.name
    if not path.is_file():
        raise InvalidInput(
            f"No file at {path}.", hint="pass the path of a CSV, Parquet or JSONL file"
        )
    frame = read_table(path, detect_format(shown, fmt), name=shown, encoding=encoding)
    frame.columns = [str(c) for c in frame.columns]
    text_frame = frame.astype("string")
    guesses = {c: guess_column(text_frame[c]) for c in text_frame.columns}
    chosen_id = _id_column(text_frame, guesses, id_column, shown)
    chosen_time = _time_column(guesses, time_column, shown)
    label_source, label_name = _label_source(text_frame, label_column, labels_path, classes)
    found = classes or _classes(
        label_source,
        label_name,
        labels_path or path,
        encoding,
        labels_path.name if labels_path else shown,
    )
    inputs = [c for c in guesses if c not in {chosen_id, chosen_time, label_name}]
    text_fields = [c for c in inputs if guesses[c].type == "text"]
    features = [
        c for c in inputs if guesses[c].type in ("integer", "number", "boolean", "category")
    ]
    if not text_fields and not features:
        raise InvalidInput(
            f"{shown}: no column can be a model input (text, number, boolean or category) "
            f"besides the id {chosen_id!r}.",
            hint="add the input columns to the file, or name the id with --id",
        )
    columns = [guesses[c] for c in guesses if c != label_name or labels_path is not None]
    data = _project_data(
        name or _slug(Path(shown).stem),
        columns,
        chosen_id,
        chosen_time,
        text_fields,
        features,
        found,
    )
    notes = _notes(columns, chosen_id, chosen_time, label_name, labels_path)
    text = _render(data, columns, shown, notes)
    spec = load_spec_text(text, "drafted project file")
    return Draft(text, spec, tuple(columns), tuple(notes))


def guess_column(values: pd.Series) -> ColumnGuess:
    """A column's type from its text values (blank cells are missing)."""
    name = str(values.name)
    cells = values.fillna("").str.strip()
    present = cells[cells != ""]
    required = len(present) == len(cells)
    if present.empty:
        return ColumnGuess(name, "string", False, None, "every cell is empty")
    distinct = present.unique()
    if all(_INTEGER.match(v) for v in distinct):
        return ColumnGuess(name, "integer", required, None, "whole numbers")
    if all(_NUMBER.match(v) for v in distinct):
        return ColumnGuess(name, "number", required, None, "numbers")
    if {v.lower() for v in distinct} <= _TRUE_FALSE and len(distinct) <= 4:
        return ColumnGuess(name, "boolean", required, None, "true/false values")
    if all(_DATE_LIKE.match(v) for v in distinct) and _parses_as_times(present):
        return ColumnGuess(name, "datetime", required, None, "ISO 8601 dates/times")
    mean_length = float(present.str.len().mean())
    unique_share = len(distinct) / len(present)
    if mean_length > TEXT_MEAN_LENGTH or (unique_share > 0.5 and present.str.contains(" ").any()):
        return ColumnGuess(
            name, "text", required, None, f"free text (mean {mean_length:.0f} characters)"
        )
    if len(distinct) <= MAX_CATEGORY_VALUES and len(distinct) < len(present):
        values_ = tuple(sorted(str(v) for v in distinct))
        return ColumnGuess(name, "category", required, values_, f"{len(distinct)} distinct values")
    return ColumnGuess(name, "string", required, None, f"{len(distinct)} distinct short values")


def _parses_as_times(present: pd.Series) -> bool:
    try:
        pd.to_datetime(present, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return False
    return True


def _id_column(
    frame: pd.DataFrame, guesses: dict[str, ColumnGuess], wanted: str | None, shown: str
) -> str:
    if wanted is not None:
        _known(wanted, frame.columns, shown, "--id")
        if not _unique(frame[wanted]):
            raise InvalidInput(
                f"{shown}: column {wanted!r} cannot be the id: its values repeat or are empty.",
                hint="name a column with one distinct value per row",
            )
        return wanted
    named = [c for c in frame.columns if c.lower() == "id" or c.lower().endswith(("_id", " id"))]
    for column in [*named, *frame.columns]:
        if guesses[column].type in ("string", "integer") and _unique(frame[column]):
            return str(column)
    raise InvalidInput(
        f"{shown}: no column has a distinct, non-empty value on every row to be the id.",
        hint="add an id column to the file, or name one with --id",
    )


def _unique(values: pd.Series) -> bool:
    cells = values.fillna("").str.strip()
    return bool((cells != "").all() and cells.is_unique)


def _time_column(guesses: dict[str, ColumnGuess], wanted: str | None, shown: str) -> str | None:
    if wanted is None:
        times = [c for c, g in guesses.items() if g.type == "datetime"]
        return times[0] if times else None
    _known(wanted, list(guesses), shown, "--time")
    if guesses[wanted].type != "datetime":
        raise InvalidInput(
            f"{shown}: column {wanted!r} cannot be the time: its values are not ISO 8601 "
            f"dates ({guesses[wanted].why}).",
            hint="write times as 2026-03-01 or 2026-03-01T10:00:00Z, or leave --time out",
        )
    return wanted


def _label_source(
    frame: pd.DataFrame,
    wanted: str | None,
    labels_path: Path | None,
    classes: tuple[str, ...],
) -> tuple[pd.DataFrame | None, str | None]:
    """Where the classes come from: (frame to read, column); the labels file is read later."""
    if classes or labels_path is not None:
        return None, wanted
    if wanted is not None:
        return frame, wanted
    named = [c for c in frame.columns if c.lower() in LABEL_NAMES]
    return frame, (named[0] if named else None)


def _classes(
    frame: pd.DataFrame | None,
    column: str | None,
    path: Path,
    encoding: str,
    shown: str,
) -> tuple[str, ...]:
    if frame is None:  # a separate labels file
        if not path.is_file():
            raise InvalidInput(f"No labels file at {path}.", hint="pass --labels FILE")
        frame = read_table(path, detect_format(path.name), name=shown, encoding=encoding)
        frame.columns = [str(c) for c in frame.columns]
        frame = frame.astype("string")
        if column is None:
            named = [c for c in frame.columns if c.lower() in LABEL_NAMES]
            column = named[0] if named else (frame.columns[-1] if frame.shape[1] == 2 else None)
    if column is None:
        raise InvalidInput(
            f"{shown}: no label column to take the classes from.",
            hint="name it with --label COL (in this file, or with --labels FILE in a separate "
            "labels file), or list the classes with --classes a,b",
        )
    _known(column, frame.columns, shown, "--label")
    cells = frame[column].fillna("").str.strip()
    found = tuple(sorted(str(v) for v in cells[cells != ""].unique()))
    if len(found) < 2:
        raise InvalidInput(
            f"{shown}: column {column!r} has {len(found)} distinct label(s); a project needs "
            "at least two classes.",
            hint="name the column that holds the labels with --label",
        )
    if len(found) > MAX_CLASSES:
        raise InvalidInput(
            f"{shown}: column {column!r} has {len(found)} distinct values; that is not a "
            f"label column (at most {MAX_CLASSES} classes).",
            hint="name the column that holds the labels with --label, or list --classes",
        )
    return found


def _known(column: str, columns: Any, shown: str, option: str) -> None:
    names = [str(c) for c in columns]
    if column not in names:
        raise InvalidInput(f"{shown}: {option}: {expected_one_of('column', column, names)}")


def _slug(stem: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:63]
    return slug if slug and slug[0].isalnum() else f"project-{slug}".strip("-")


def _project_data(
    name: str,
    columns: list[ColumnGuess],
    id_column: str,
    time_column: str | None,
    text_fields: list[str],
    features: list[str],
    classes: tuple[str, ...],
) -> dict[str, Any]:
    kind = "text_classification" if text_fields else "tabular_classification"
    data: dict[str, Any] = {"id": id_column}
    if time_column is not None:
        data["time"] = time_column
    data["columns"] = [_column_entry(c, c.name == id_column) for c in columns]
    if text_fields:
        data["text"] = text_fields
    if features and not text_fields:  # a text project reads its text; the rest are context
        data["features"] = features
    slices: list[dict[str, str]] = [
        {"name": c.name, "column": c.name}
        for c in columns
        if c.type == "category" and c.values and len(c.values) <= MAX_SLICE_VALUES
    ]
    if time_column is not None:
        slices.append({"name": "month", "column": time_column, "derive": "month"})
    out: dict[str, Any] = {
        "name": name,
        "title": name.replace("-", " ").capitalize(),
        "kind": kind,
        "data": data,
        "labels": {"classes": list(classes)},
    }
    if slices:
        out["slices"] = slices
    out["split"] = {"method": "hash", "key": id_column, "test_fraction": 0.25, "seed": 0}
    return out


def _column_entry(guess: ColumnGuess, is_id: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": guess.name, "type": guess.type}
    if guess.required or is_id:
        entry["required"] = True
    if guess.values is not None:
        entry["values"] = list(guess.values)
    return entry


def _notes(
    columns: list[ColumnGuess],
    id_column: str,
    time_column: str | None,
    label_column: str | None,
    labels_path: Path | None,
) -> list[str]:
    notes = [f"id: {id_column!r} (distinct on every row)"]
    notes.append(f"time: {time_column!r}" if time_column else "time: none (no date column found)")
    if label_column is not None and labels_path is None:
        notes.append(
            f"labels: the classes come from column {label_column!r}; it is left out of the "
            "columns (it is what the model predicts): import it with `loopline labels import`"
        )
    categories = [c.name for c in columns if c.type == "category"]
    if categories:
        notes.append(
            "category columns refuse values not listed; check the lists: " + ", ".join(categories)
        )
    return notes


class _Flow(dict[str, Any]):
    """A mapping written on one line (a column entry, a slice)."""


class _Dumper(yaml.SafeDumper):
    pass


def _flow_mapping(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _short_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, str | int | float | bool) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(_Flow, _flow_mapping)
_Dumper.add_representer(list, _short_list)


def _render(data: dict[str, Any], columns: list[ColumnGuess], shown: str, notes: list[str]) -> str:
    """YAML in the project file's order, a line per column with the evidence as a comment."""
    data = dict(data)
    data["data"] = dict(data["data"])
    data["data"]["columns"] = [_Flow(c) for c in data["data"]["columns"]]
    if "slices" in data:
        data["slices"] = [_Flow(s) for s in data["slices"]]
    data["split"] = _Flow(data["split"])
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    why = {c.name: c.why for c in columns}
    lines = []
    for line in body.splitlines():
        match = re.match(r"^  - \{name: (.+?), type: ", line)
        if match is not None:
            loaded = yaml.safe_load(match.group(1))
            if isinstance(loaded, str) and loaded in why:
                line = f"{line}  # {why[loaded]}"
        lines.append(line)
    header = [
        f"# Drafted by `loopline project draft` from {_one_line(shown)}.",
        "# Review every guess, then: loopline project create THIS_FILE",
        *(f"# - {_one_line(note)}" for note in notes),
    ]
    return "\n".join([*header, *lines]) + "\n"


def _one_line(text: str) -> str:
    """Text safe inside a YAML comment (a line break would end the comment)."""
    return re.sub(r"[\r\n\x85\u2028\u2029]+", " ", text)
