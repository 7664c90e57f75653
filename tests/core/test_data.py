"""Ingest: every bad input refused with a clear message and nothing written; hashes; reproduce."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from core.actor import Actor
from core.artifacts.lineage import lineage
from core.artifacts.service import count_by_kind, get_artifact
from core.data.service import IngestRefused, ingest, load_rows, quality_of, reproduce_dataset
from core.errors import InvalidInput
from core.projects.service import Project, create_project
from core.store import Workspace
from tests.conftest import FIXTURES

HEADER = "ticket_id,opened_at,channel,text,priority,amount,vip\n"
GOOD = (FIXTURES / "tickets.csv").read_text()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def nothing_written(ws: Workspace) -> None:
    assert count_by_kind(ws) == {"project": 1}
    assert len(list(ws.blobs.iter_digests())) == 1  # only the project file


def test_ingest_registers_source_dataset_and_report(
    ws: Workspace, tickets: Project, actor: Actor
) -> None:
    result = ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    assert (result.new_rows, result.total_rows, result.dataset.ref) == (4, 4, "dataset:tickets@1")
    rows = load_rows(ws, result.dataset)
    assert list(rows["ticket_id"]) == ["T-1", "T-2", "T-3", "T-4"]
    assert str(rows["opened_at"].iloc[3]) == "2026-03-03 15:45:00"  # converted to UTC
    assert rows["vip"].tolist()[:3] == [True, False, False] and pd.isna(rows["vip"].iloc[3])
    assert rows["text"].iloc[1] == 'The app crashes when I click "save"'
    relations = {
        (e.relation, lineage(ws, result.dataset.artifact_id).nodes[e.dst_id].kind)
        for e in lineage(ws, result.dataset.artifact_id).edges
        if e.src_id == result.dataset.artifact_id
    }
    assert relations == {
        ("derived_from", "data_source"),
        ("extracted_by", "code"),
        ("defined_by", "project"),
    }
    code = get_artifact(ws, "code:core.data.extract.extract_table")
    assert (
        len(code.metadata["commit"]) in (40, 7)
        and code.metadata["entry_point"] == "core.data.extract:extract_table"
    )
    report = quality_of(ws, result.dataset)
    amount = next(c for c in report["columns"] if c["column"] == "amount")
    assert (amount["missing"], amount["missing_rate"]) == (1, 0.25)


def test_append_replaces_rows_with_the_same_id_and_reports_new_categories(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    more = write(
        tmp_path,
        "more.csv",
        HEADER + "T-4,2026-03-04T10:00:00Z,chat,Refund again,3,10,no\n"
        "T-5,2026-03-05T10:00:00Z,phone,Buy more,1,5000,yes\n",
    )
    second = ingest(ws, "tickets", more, actor)
    assert (second.new_rows, second.total_rows, second.dataset.version) == (2, 5, 2)
    assert load_rows(ws, second.dataset).set_index("ticket_id").loc["T-4", "text"] == "Refund again"
    assert any("amount: 1 value outside the previous range" in f for f in second.flags)
    again = ingest(ws, "tickets", more, actor)
    assert again.unchanged and again.dataset.artifact_id == second.dataset.artifact_id


def test_same_rows_hash_the_same_in_any_format_order_and_encoding(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    first = ingest(ws, "tickets", FIXTURES / "tickets.csv", actor, mode="replace")
    lines = GOOD.splitlines(keepends=True)
    body = lines[1:]
    random.Random(1).shuffle(body)
    shuffled = write(
        tmp_path, "shuffled.csv", (lines[0] + "".join(body)).replace("My invoice", "Mé invoice")
    )
    latin = write(tmp_path, "latin.csv", shuffled.read_text().encode("latin-1"))
    utf8 = ingest(ws, "tickets", shuffled, actor, mode="replace")
    assert utf8.dataset.content_hash != first.dataset.content_hash
    assert ingest(ws, "tickets", latin, actor, mode="replace", encoding="latin-1").unchanged
    frame = pd.read_csv(shuffled, dtype=str, keep_default_na=False)
    records = [{k: v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]
    jsonl = write(
        tmp_path, "t.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    )
    assert ingest(ws, "tickets", jsonl, actor, mode="replace").unchanged
    typed = load_rows(ws, utf8.dataset).sample(frac=1, random_state=3)
    typed.to_parquet(tmp_path / "t.parquet", index=False)
    assert ingest(ws, "tickets", tmp_path / "t.parquet", actor, mode="replace").unchanged


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty.csv: the file is empty."),
        ("header.csv", HEADER, "header.csv: the file has a header but no rows."),
        (
            "data.xlsx",
            "x",
            "data.xlsx: Unknown file type '.xlsx'. Expected one of: .csv, .jsonl, .ndjson, .parquet.",
        ),
        (
            "bad.jsonl",
            '{"ticket_id": "T-1"}\n{oops}\n',
            "bad.jsonl: line 2 is not valid JSON (Expecting property name enclosed in double quotes at column 2).",
        ),
        ("list.jsonl", "[1, 2]\n", "list.jsonl: line 1 is a JSON list, not an object."),
        ("broken.parquet", "PAR1 not really", "broken.parquet: not a readable Parquet file"),
        (
            "ragged.csv",
            HEADER + "T-1,2026-03-01T10:00:00Z,mail,a,1,2,yes,EXTRA,MORE\n",
            "ragged.csv: not a well-formed CSV file",
        ),
        ("blank.csv", "\n\n", "blank.csv: the file has no header and no rows."),
        (
            "short.csv",
            HEADER + "T-1,2026-03-01T10:00:00Z,mail,a,1,2,yes,EXTRA\n",
            "short.csv: not a well-formed CSV file: row 2 has 8 fields; the header has 7.",
        ),
    ],
)
def test_unreadable_files_are_refused(
    ws: Workspace,
    tickets: Project,
    actor: Actor,
    tmp_path: Path,
    name: str,
    content: str,
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        ingest(ws, "tickets", write(tmp_path, name, content), actor)
    assert str(caught.value).startswith(message)
    nothing_written(ws)


def test_wrong_encoding_is_named(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    latin = write(
        tmp_path,
        "latin.csv",
        (HEADER + "T-1,2026-03-01T10:00:00Z,mail,Réclamation,1,2,yes\n").encode("latin-1"),
    )
    with pytest.raises(InvalidInput) as caught:
        ingest(ws, "tickets", latin, actor)
    assert str(caught.value) == "latin.csv: the file is not utf-8 text (line 2, byte 84 is 0xe9)."
    assert "--encoding" in (caught.value.hint or "")
    nothing_written(ws)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf16_file_is_named_and_read_when_its_encoding_is_given(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path, codec: str
) -> None:
    """Excel's "Unicode text" starts with a byte-order mark (ff fe, or fe ff big-endian)."""
    mark = b"\xfe\xff" if codec.endswith("be") else b""
    wide = write(tmp_path, "wide.csv", mark + GOOD.encode(codec))
    with pytest.raises(InvalidInput) as caught:
        ingest(ws, "tickets", wide, actor)
    assert str(caught.value) == "wide.csv: the file is UTF-16 text, not utf-8."
    assert (
        caught.value.hint == "pass --encoding utf-16 (it reads such files), or re-save it as UTF-8"
    )
    nothing_written(ws)
    read = ingest(ws, "tickets", wide, actor, encoding="utf-16")
    plain = ingest(ws, "tickets", write(tmp_path, "plain.csv", GOOD), actor)
    assert plain.unchanged and plain.dataset.content_hash == read.dataset.content_hash


def test_bad_text_past_the_first_megabyte_is_named(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    row = "T-{},2026-03-01T10:00:00Z,mail,{},1,2,yes\n"
    good = "".join(row.format(i, "x" * 200) for i in range(6000)).encode()  # 1.4 MB of UTF-8
    bad = write(
        tmp_path, "late.csv", HEADER.encode() + good + row.format(9999, "é").encode("latin-1")
    )
    with pytest.raises(InvalidInput) as caught:
        ingest(ws, "tickets", bad, actor)
    assert str(caught.value) == (
        "late.csv: the file is not utf-8 text past its start (invalid continuation byte)."
    )
    nothing_written(ws)


def test_line_breaks_inside_quotes_survive_a_large_file(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    """Arrow's fast reader splits a file into blocks at line breaks; a quoted one must not cut a
    row (the file is larger than a block, so some breaks fall near block ends)."""
    texts = [f"line {i}\nsecond line, with a comma {'x' * (i % 400)}" for i in range(6000)]
    body = "".join(
        f'T-{i:05d},2026-03-01T10:00:00Z,mail,"{t}",1,2,yes\n' for i, t in enumerate(texts)
    )
    result = ingest(ws, "tickets", write(tmp_path, "long.csv", HEADER + body), actor)
    rows = load_rows(ws, result.dataset)
    assert result.total_rows == 6000 and rows["text"].tolist() == texts


def test_checks_read_the_same_whatever_the_path(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    """Cells the fast checks decline (spaces around a number, -0, a date without a zone next to
    one with a zone, an offset) are read the careful way, to the same values."""
    body = (
        "T-1,2026-03-01T10:00:00Z,mail,a,1, 2.5 ,yes\n"
        "T-2,2026-03-01 11:00,chat,b,2,-0,no\n"
        "T-3,2026-03-01T12:00:00+01:00, phone ,c,3,-0.0,TRUE\n"
    )
    rows = load_rows(
        ws, ingest(ws, "tickets", write(tmp_path, "m.csv", HEADER + body), actor).dataset
    )
    assert [str(t) for t in rows["opened_at"]] == [
        "2026-03-01 10:00:00",
        "2026-03-01 11:00:00",
        "2026-03-01 11:00:00",
    ]
    assert rows["amount"].tolist() == [2.5, 0.0, 0.0] and rows["priority"].tolist() == [1, 2, 3]
    assert rows["channel"].tolist() == ["mail", "chat", "phone"]


def test_a_two_gigabyte_file_is_refused_before_reading(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(2 << 30)  # sparse: 2 GiB without using the disk
    with pytest.raises(InvalidInput) as caught:
        ingest(ws, "tickets", huge, actor)
    assert str(caught.value) == "huge.csv: the file is 2.0 GiB; the ingest limit is 1.0 GiB."
    nothing_written(ws)


def test_schema_problems_are_listed_by_row_and_column(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    bad = write(
        tmp_path,
        "bad.csv",
        HEADER
        + "T-1,yesterday,fax,,9,nan,maybe\n"
        + "T-1,2026-01-01,mail,x,1.5,inf,yes\n"
        + "T-3,2026-01-01,mail,x,two,-3,yes\n",
    )
    with pytest.raises(IngestRefused) as caught:
        ingest(ws, "tickets", bad, actor)
    refused = caught.value
    assert str(refused) == "bad.csv: refused, 11 problems; nothing was written."
    assert [str(p) for p in refused.problems] == [
        "row 2, opened_at: 'yesterday' is not a date/time (expected ISO 8601, e.g. 2026-05-03T09:14:00Z)",
        "row 2, channel: value 'fax' is not an allowed category (expected one of: mail, chat, phone)",
        "row 2, text: empty value in a required column (expected a value)",
        "row 2, priority: 9 is above the allowed range (expected 1 ≤ value ≤ 5)",
        "row 2, amount: 'nan' is not a finite number (expected a finite number; leave the cell empty for a missing value)",
        "row 2, vip: 'maybe' is not a yes/no value (expected true/false, yes/no or 1/0)",
        "row 3, priority: '1.5' is not a whole number (expected a whole number)",
        "row 3, amount: 'inf' is not a finite number (expected a finite number; leave the cell empty for a missing value)",
        "row 3, ticket_id: duplicate id 'T-1' (first on row 2) (expected a unique id per row)",
        "row 4, priority: 'two' is not a number (expected a whole number)",
        "row 4, amount: -3 is below the allowed range (expected 0 ≤ value ≤ ∞)",
    ]
    nothing_written(ws)


def test_problem_list_is_capped_but_counted(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    rows = "".join(f"T-{i},2026-01-01,mail,x,{i % 3 + 7},1,yes\n" for i in range(500))
    with pytest.raises(IngestRefused) as caught:
        ingest(ws, "tickets", write(tmp_path, "many.csv", HEADER + rows), actor)
    assert caught.value.count == 500 and len(caught.value.problems) == 50
    assert str(caught.value) == "many.csv: refused, 500 problems (showing 50); nothing was written."


def test_missing_required_column_and_extra_columns(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    with pytest.raises(IngestRefused) as caught:
        ingest(
            ws,
            "tickets",
            write(tmp_path, "m.csv", "ticket_id,opened_at,channel\nT-1,2026-01-01,mail\n"),
            actor,
        )
    assert [str(p) for p in caught.value.problems] == [
        "text: required column is missing from the header (expected a column named 'text')"
    ]
    extra = write(
        tmp_path, "e.csv", "ticket_id,opened_at,channel,text,colour\nT-1,2026-01-01,mail,hi,red\n"
    )
    result = ingest(ws, "tickets", extra, actor)
    assert "columns not in the project schema were dropped: colour" in result.flags
    assert "column 'priority' is not in the file; it is left empty" in result.flags


def test_reproduce_reports_identical_then_different(
    ws: Workspace, actor: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = (
        FIXTURES / "tickets.yaml"
    ).read_text() + "extractor: tests.core.extractor_plugin:extract\n"
    create_project(ws, write(tmp_path, "tickets.yaml", spec), actor)
    first = ingest(ws, "tickets", FIXTURES / "tickets.csv", actor)
    second = ingest(
        ws,
        "tickets",
        write(tmp_path, "more.csv", HEADER + "T-9,2026-04-01,chat,new one,1,1,no\n"),
        actor,
    )
    assert reproduce_dataset(ws, first.dataset.ref).identical
    assert reproduce_dataset(ws, second.dataset.ref).identical  # replays v1 and the appended file
    monkeypatch.setenv("LOOPLINE_TEST_SHOUT", "1")
    changed = reproduce_dataset(ws, second.dataset.ref)
    assert not changed.identical
    assert changed.recorded_hash == second.dataset.content_hash != changed.reproduced_hash
    with pytest.raises(InvalidInput, match="is a project; `reproduce` here takes a dataset"):
        reproduce_dataset(ws, "project:tickets")


def test_a_semicolon_separated_export_is_read_and_a_decimal_comma_is_named(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    """German and French spreadsheets export `id;text;amount` with decimal commas."""
    rows = pd.read_csv(FIXTURES / "tickets.csv", dtype=str, keep_default_na=False)
    semicolons = tmp_path / "export.csv"
    rows.to_csv(semicolons, sep=";", index=False)
    plain = ingest(ws, "tickets", FIXTURES / "tickets.csv", actor, mode="replace")
    assert ingest(ws, "tickets", semicolons, actor, mode="replace").dataset.content_hash == (
        plain.dataset.content_hash
    )
    rows.loc[0, "amount"] = "120,5"
    rows.to_csv(semicolons, sep=";", index=False)
    with pytest.raises(IngestRefused) as caught:
        ingest(ws, "tickets", semicolons, actor, mode="replace")
    assert [str(p) for p in caught.value.problems] == [
        "row 2, amount: '120,5' has a decimal comma (expected a number with a decimal point "
        "(1.5, not 1,5))"
    ]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["T-1", "T-2", "T-2", "T-3"], ["row 4, ticket_id: duplicate id 'T-2' (first on row 3)"]),
        (
            ["T-3", "T-1", "T-3", "T-1"],
            [
                "row 4, ticket_id: duplicate id 'T-3' (first on row 2)",
                "row 5, ticket_id: duplicate id 'T-1' (first on row 3)",
            ],
        ),
        (["T-3", "T-1", "T-2"], []),
        (["T-1", "T-10", "T-2"], []),
    ],
)
def test_repeated_ids_are_found_whether_the_file_is_in_id_order_or_not(
    tickets: Project, tmp_path: Path, ids: list[str], expected: list[str]
) -> None:
    from core.data.extract import extract_table

    body = "".join(f"{i},2026-03-01T10:00:00Z,mail,a,1,2,yes\n" for i in ids)
    checked = extract_table(
        write(tmp_path, "t.csv", HEADER + body), tickets.spec, fmt="csv", name="t"
    )
    assert [str(p).split(" (expected")[0] for p in checked.problems] == expected


def test_times_in_utc_and_with_offsets_read_to_the_same_instants(
    tickets: Project, tmp_path: Path
) -> None:
    from core.data.extract import extract_table

    def opened(stamps: list[str]) -> list[str]:
        body = "".join(f"T-{n},{s},mail,a,1,2,yes\n" for n, s in enumerate(stamps))
        path = write(tmp_path, "t.csv", HEADER + body)
        checked = extract_table(path, tickets.spec, fmt="csv", name="t")
        assert checked.ok, checked.problems
        return [str(t) for t in checked.frame["opened_at"]]

    assert opened(["2026-03-01T10:00:00Z", "2026-03-01T09:30:00.5Z"]) == [
        "2026-03-01 10:00:00",
        "2026-03-01 09:30:00.500000",
    ]
    assert opened(["2026-03-01T10:00:00Z", "2026-03-01T12:00:00+02:00"]) == [
        "2026-03-01 10:00:00",
        "2026-03-01 10:00:00",
    ]


def test_a_version_is_stored_for_reading_one_item_by_id(
    ws: Workspace, tickets: Project, actor: Actor, tmp_path: Path
) -> None:
    """Rows in id order in row groups whose id min/max do not overlap, so a read of one id opens
    one group; the blob on disk is the one its hash names."""
    import hashlib
    import itertools

    import pyarrow.parquet as pq

    from core.data.service import dataset_rows_path
    from core.labeling.tasks import item_fields
    from tests.core.small_project import tickets_csv

    dataset = ingest(ws, "tickets", tickets_csv(tmp_path / "t.csv", 70_000), actor).dataset
    path = dataset_rows_path(ws, dataset)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dataset.file("rows").blob_hash
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 70_000 and meta.num_row_groups > 1
    ranges = [
        (meta.row_group(g).column(0).statistics.min, meta.row_group(g).column(0).statistics.max)
        for g in range(meta.num_row_groups)
    ]
    assert all(low <= high < later for (low, high), (later, _) in itertools.pairwise(ranges))
    wanted = ["T-1000", "T-40000", "T-70999"]
    rows = item_fields(ws, dataset, wanted, "ticket_id")
    assert sorted(rows) == sorted(wanted)
    assert rows["T-40000"]["channel"] == ["mail", "chat", "phone"][39000 % 3]
    assert load_rows(ws, dataset)["ticket_id"].is_monotonic_increasing
