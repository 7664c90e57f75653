"""The data-quality report and the dataset hash, as ingest makes them, against plain readings.

The report's duplicate count compares only the rows whose most varied column repeats; these tests
hold it equal to pandas' all-rows comparison on files with repeats, gaps and -0. The dataset hash
is pinned to the figures the code before the ingest speed-up (commit 9306680) gave for the same
files, so a dataset ingested then is found unchanged when its file comes again."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.actor import Actor
from core.data.extract import extract_table
from core.data.quality import quality_report
from core.data.service import ingest
from core.projects.service import Project
from core.store import Workspace
from tests.conftest import FIXTURES
from tests.core.small_project import tickets_csv

HEADER = "ticket_id,opened_at,channel,text,priority,amount,vip"


def messy_tickets(
    path: Path, rows: int, seed: int, *, key_text: bool, repeats: float = 0.2
) -> Path:
    """Tickets whose content repeats: few texts (or a unique one per row with ``key_text``),
    empty optional cells, -0 and 0 amounts, a share of earlier rows' content under new ids."""
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(rows):
        if lines[1:] and rng.random() < repeats:  # an earlier row's content under a new id
            earlier = rng.choice(lines[1:]).split(",", 1)[1]
            lines.append(f"T-{i},{earlier}")
            continue
        text = f"text {i}" if key_text else rng.choice(["refund please", "it crashed", "a quote"])
        amount = rng.choice(["", "0", "-0", "-0.0", "1.5", "2"])
        lines.append(
            f"T-{i},2026-03-0{1 + rng.randrange(3)}T10:00:00Z,{rng.choice(['mail', 'chat'])},"
            f"{text},{rng.choice(['', '1', '2'])},{amount},{rng.choice(['', 'yes', 'no'])}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("key_text", "repeats"), [(False, 0.2), (True, 0.2), (True, 0.0)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_report_counts_as_pandas_does(
    tickets: Project, tmp_path: Path, seed: int, key_text: bool, repeats: float
) -> None:
    path = messy_tickets(tmp_path / "t.csv", 400, seed, key_text=key_text, repeats=repeats)
    checked = extract_table(path, tickets.spec, fmt="csv", name="t.csv")
    assert checked.ok, checked.problems
    rows = checked.frame
    report = quality_report(rows, tickets.spec, None)
    content = [c.name for c in tickets.spec.columns if c.name != tickets.spec.id_column]
    expected = int(rows.duplicated(subset=content).sum())
    assert report["duplicate_content_rows"] == expected
    assert expected > 0 if repeats else expected == 0
    assert [c["distinct"] for c in report["columns"]] == [
        rows[c.name].nunique() for c in tickets.spec.columns
    ]
    assert [c["missing"] for c in report["columns"]] == [
        int(rows[c.name].isna().sum()) for c in tickets.spec.columns
    ]


def test_against_a_previous_version_new_values_and_replaced_ids_are_counted(
    tickets: Project, tmp_path: Path
) -> None:
    before = extract_table(
        messy_tickets(tmp_path / "a.csv", 50, 4, key_text=False), tickets.spec, fmt="csv", name="a"
    ).frame
    after = extract_table(
        tickets_csv(tmp_path / "b.csv", 60, 9), tickets.spec, fmt="csv", name="b"
    ).frame
    after.loc[0, "ticket_id"] = "T-3"  # one id the previous version has
    report = quality_report(after, tickets.spec, before)
    assert report["ids_already_in_previous_version"] == 1
    channel = next(c for c in report["columns"] if c["column"] == "channel")
    assert channel["new_categories"] == ["phone"]
    assert channel["new_category_rows"] == int((after["channel"] == "phone").sum())


@pytest.mark.parametrize(
    ("make", "rows", "pinned"),
    [
        (
            lambda folder: FIXTURES / "tickets.csv",
            4,
            "7cd65ab7a559ec51d7bfa27e0a0a21ed79b50d30bebeb148f5eea281903c9d54",
        ),
        (
            lambda folder: tickets_csv(folder / "t.csv", 300, 5),
            300,
            "1dbdd36d61c854c40696cce7d4e76162c327273f29ad9536857b1b8cbf735e55",
        ),
    ],
)
def test_a_dataset_ingested_before_hashes_the_same_and_is_found_unchanged(
    ws: Workspace,
    tickets: Project,
    actor: Actor,
    tmp_path: Path,
    make: object,
    rows: int,
    pinned: str,
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    first = ingest(ws, "tickets", path, actor)
    assert (first.total_rows, first.dataset.version, first.dataset.content_hash) == (
        rows,
        1,
        pinned,
    )
    again = ingest(ws, "tickets", path, actor)
    assert again.unchanged and (again.dataset.version, again.new_rows) == (1, 0)


def _text(values: list[str | None]) -> pd.Series:
    """Text as the checks make it: Arrow strings, in more than one chunk as a CSV read gives."""
    half = len(values) // 2
    chunks = pa.chunked_array([values[:half], values[half:]], pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(chunks))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_distinct_counts_are_pandas_counts_on_every_column_type(
    tickets: Project, seed: int
) -> None:
    """Counted by sorting (numbers, times, text in order) or hashing: the same as ``nunique``,
    with missing values, -0 and 0, integers too large for a float, ties in sorted text."""
    rng = np.random.default_rng(seed)
    n = 5_000
    big = 2**60 + rng.integers(0, 50, n)  # neighbours a float64 could not tell apart
    ids = sorted(f"T-{v:05d}" for v in rng.integers(0, 3_000, n))  # in order, with ties
    frame = pd.DataFrame(
        {
            "ticket_id": _text([None if i % 97 == 0 else v for i, v in enumerate(ids)]),
            "opened_at": pd.Series(
                np.datetime64("2026-03-01T00:00:00", "us")
                + rng.integers(0, 400, n).astype("timedelta64[s]")
            )
            .astype("datetime64[us]")
            .mask(rng.random(n) < 0.1),
            "channel": _text(list(rng.choice(["mail", "chat", "phone"], n))),
            "text": _text([None if v == 0 else f"text {v}" for v in rng.integers(0, 700, n)]),
            "priority": pd.Series(big).astype("Int64").mask(rng.random(n) < 0.2),
            "amount": pd.Series(rng.choice([0.0, -0.0, 1.5, np.nan, 2.25], n)),
            "vip": pd.Series(rng.choice([True, False], n))
            .astype("boolean")
            .mask(rng.random(n) < 0.3),
        }
    )
    report = quality_report(frame, tickets.spec, None)
    assert {c["column"]: c["distinct"] for c in report["columns"]} == {
        name: frame[name].nunique(dropna=True) for name in frame.columns
    }
    assert report["columns"][4]["distinct"] > 40  # the large integers stayed apart
