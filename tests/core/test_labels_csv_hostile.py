"""Hostile labels files on the CSV path (`labels import`, with or without --item-col): wrong
encodings (UTF-16, latin-1), a byte-order mark, ragged rows, names the project does not know.
Each refusal names what is wrong and writes nothing; a BOM and a named encoding are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.api import Client
from core.errors import CoreError
from tests.core.test_project_draft import ADMIN, cases_csv

HEADER = "item_id,annotator,label\n"


@pytest.fixture
def admissions(tmp_path: Path) -> Client:
    """A project drafted from the admissions CSV, created and ingested (12 cases)."""
    data, labels = cases_csv(tmp_path, count=12)
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    draft = client.data.draft(data, labels_path=labels, label_column="diagnosis")
    (tmp_path / "admissions.yaml").write_text(draft.text, encoding="utf-8")
    client.projects.create(tmp_path / "admissions.yaml")
    client.data.ingest("admissions", data)
    return client


def _rows(client: Client) -> dict[str, int]:
    ws = client.workspace
    with ws.store.read() as tx:
        names = [r[0] for r in tx.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return {n: int(tx.scalar(f'SELECT count(*) FROM "{n}"')) for n in names}


REFUSED: dict[str, tuple[bytes, str]] = {
    "utf-16": (
        (HEADER + "C-1000,ana,cardiac\n").encode("utf-16"),
        "v.csv: the file is UTF-16 text, not UTF-8.",
    ),
    "latin-1": (
        (HEADER + "C-1000,josé,cardiac\n").encode("latin-1"),
        "v.csv: the file is not UTF-8 text (line 2, byte 34 is 0xe9).",
    ),
    "ragged-row": (
        (HEADER + "C-1000,ana,cardiac\nC-1001,ana,other,extra\n").encode(),
        "v.csv: not a readable CSV file (Error tokenizing data. C error: Expected 3 fields in "
        "line 3, saw 4).",
    ),
    "columns-of-its-own": (
        b"case_id,diagnosis\nC-1000,cardiac\n",
        "v.csv: missing column(s) ['item_id', 'annotator', 'label']; expected item_id, "
        "annotator, label[, spans, unsure, note]. The file has: case_id, diagnosis.",
    ),
    "unknown-item": (
        (HEADER + "C-1000,ana,cardiac\nC-9999,ana,cardiac\n").encode(),
        "1 of 2 annotations are invalid; nothing was imported: record 2: item 'C-9999' is not "
        "in task #1",
    ),
    "unknown-class": (
        (HEADER + "C-1000,ana,Cardiac\n").encode(),
        "1 of 1 annotations are invalid; nothing was imported: record 1 (item C-1000): ",
    ),
    "spans-not-json": (
        b'item_id,annotator,label,spans\nC-1000,ana,cardiac,"[{""start"": 1"\n',
        "v.csv: row 2: spans is not a JSON list of {type, start, end} (",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_hostile_labels_file_is_refused_and_writes_nothing(admissions: Client, case: str) -> None:
    raw, message = REFUSED[case]
    before = _rows(admissions)
    with pytest.raises(CoreError) as refused:
        admissions.labeling.import_labels("admissions", raw, "v.csv")
    assert str(refused.value).startswith(message), str(refused.value)
    assert _rows(admissions) == before


def test_a_byte_order_mark_is_read(admissions: Client) -> None:
    raw = b"\xef\xbb\xbf" + (HEADER + "C-1000,ana,cardiac\nC-1001,bo,respiratory\n").encode()
    done = admissions.labeling.import_labels("admissions", raw, "v.csv")
    assert (done.annotations, done.annotators) == (2, ("ana", "bo"))


def test_own_columns_in_another_encoding(admissions: Client, tmp_path: Path) -> None:
    """UTF-16 (Excel's 'Unicode text') and latin-1 are refused as UTF-8, read when named."""
    text = "case_id,diagnosis,arzt\nC-1000,cardiac,José\nC-1001,other,Zoë\n"
    before = _rows(admissions)
    for encoding, message, hint in (
        (
            "utf-16",
            "l.csv: the file is UTF-16 text, not utf-8.",
            "pass --encoding utf-16 (it reads such files), or re-save it as UTF-8",
        ),
        (
            "latin-1",
            "l.csv: the file is not utf-8 text (line 2, byte 41 is 0xe9).",
            "re-save it as UTF-8, or pass --encoding (e.g. latin-1, cp1252)",
        ),
    ):
        path = tmp_path / "l.csv"
        path.write_bytes(text.encode(encoding))
        columns = {"item_col": "case_id", "label_col": "diagnosis", "annotator": "arzt"}
        with pytest.raises(CoreError) as refused:
            admissions.data.map_label_columns(path, **columns)
        assert str(refused.value) == message
        assert refused.value.hint == hint
        assert _rows(admissions) == before
        table = admissions.data.map_label_columns(path, **columns, encoding=encoding)
        assert table.decode().splitlines() == [
            "item_id,annotator,label",
            "C-1000,José,cardiac",
            "C-1001,Zoë,other",
        ]
    done = admissions.labeling.import_labels("admissions", table, "labels.csv")
    assert done.annotators == ("José", "Zoë")
