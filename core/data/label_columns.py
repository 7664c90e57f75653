"""A labels file in the user's own shape (``case_id,diagnosis``) mapped onto the annotation
table Loopline imports (``item_id, annotator, label``): which column names the item, which holds
the label, and who labeled (a fixed name or a column)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from core.data.formats import detect_format, read_table
from core.errors import InvalidInput, expected_one_of

DEFAULT_ANNOTATOR = "import"


def map_label_columns(
    path: Path,
    *,
    item_col: str,
    label_col: str,
    annotator: str | None = None,
    display_name: str | None = None,
    encoding: str = "utf-8",
) -> bytes:
    """The annotation CSV (item_id, annotator, label) from ``path``'s ``item_col`` and
    ``label_col``; ``annotator`` names a column of the file, else it is the annotator's name for
    every row (default ``import``). Rows without a label are left out; a row without an item is
    refused with its row number."""
    shown = display_name or path.name
    if not path.is_file():
        raise InvalidInput(
            f"No file at {path}.", hint="pass the path of a CSV, Parquet or JSONL file"
        )
    frame = read_table(path, detect_format(shown), name=shown, encoding=encoding).astype("string")
    frame.columns = [str(c) for c in frame.columns]
    names = list(frame.columns)
    for option, column in (("--item-col", item_col), ("--label-col", label_col)):
        if column not in names:
            raise InvalidInput(
                f"{shown}: {option}: {expected_one_of('column', column, names)}",
                hint="name the file's columns as its header spells them",
            )
    who = _annotators(frame, annotator)
    items = frame[item_col].fillna("").str.strip()
    labels = frame[label_col].fillna("").str.strip()
    blank = items == ""
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0]) + 2
        raise InvalidInput(
            f"{shown}: row {row}: the item column {item_col!r} is empty.",
            hint="every labeled row names the item it labels",
        )
    kept = labels != ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # read back by Loopline, not a spreadsheet
    writer.writerow(["item_id", "annotator", "label"])
    writer.writerows(zip(items[kept], who[kept], labels[kept], strict=True))
    return buffer.getvalue().encode("utf-8")


def _annotators(frame: pd.DataFrame, annotator: str | None) -> pd.Series:
    if annotator is not None and annotator in frame.columns:
        named = frame[annotator].fillna("").str.strip()
        return named.where(named != "", DEFAULT_ANNOTATOR)
    return pd.Series(annotator or DEFAULT_ANNOTATOR, index=frame.index, dtype="string")
