"""A CSV to a project without code: the drafted project file, a labels file in the user's own
shape, slices by period, bins and values, and the dataset exported back; from the draft to a
first build with no YAML written by hand."""

from __future__ import annotations

import io
import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from core.actor import Actor
from core.api import Client
from core.data.service import IngestRefused, ingest
from core.errors import InvalidInput
from core.projects.service import create_project, load_spec_text
from core.projects.slicing import bin_labels, slice_sql, slice_values
from core.projects.spec import SliceSpec
from core.store import Workspace

ADMIN = Actor("admin", "test")
WORDS = {
    "cardiac": ["chest", "pain", "palpitations", "pressure", "arm", "sweating"],
    "respiratory": ["cough", "breath", "wheezing", "fever", "sputum", "throat"],
    "other": ["headache", "rash", "knee", "back", "dizzy", "tired"],
}
WARDS = ("north", "south", "east")


def cases_csv(folder: Path, count: int = 150, seed: int = 5) -> tuple[Path, Path]:
    """``count`` admissions (case_id, admitted_at, ward, age, temperature, smoker, note) and a
    separate labels file ``case_id,diagnosis`` as a hospital system would export them."""
    rng = random.Random(seed)
    rows = ["case_id,admitted_at,ward,age,temperature,smoker,note"]
    labels = ["case_id,diagnosis"]
    for i in range(count):
        diagnosis = list(WORDS)[i % 3]
        other = list(WORDS)[(i + 1) % 3]
        words = rng.sample(WORDS[diagnosis], 3) + rng.sample(WORDS[other], 1)
        rng.shuffle(words)
        rows.append(
            f"C-{1000 + i},2026-0{1 + i % 2}-{1 + i % 27:02d},{WARDS[i % 3]},{20 + i % 60},"
            f"{36 + (i % 40) / 10:.1f},{'yes' if i % 4 == 0 else 'no'},"
            f"patient reports {' '.join(words)}"
        )
        labels.append(f"C-{1000 + i},{diagnosis}")
    data, labels_file = folder / "admissions.csv", folder / "diagnoses.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    labels_file.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return data, labels_file


def test_the_draft_infers_types_id_time_text_categories_classes_and_slices(
    tmp_path: Path,
) -> None:
    data, labels = cases_csv(tmp_path)
    from core.api.data import Data

    made = Data.draft(data, labels_path=labels, label_column="diagnosis")
    spec = made.spec
    assert spec.name == "admissions" and spec.kind == "text_classification"
    assert (spec.id_column, spec.time_column) == ("case_id", "admitted_at")
    assert [(c.name, c.type, c.required) for c in spec.columns] == [
        ("case_id", "string", True),
        ("admitted_at", "datetime", True),
        ("ward", "category", True),
        ("age", "integer", True),
        ("temperature", "number", True),
        ("smoker", "boolean", True),
        ("note", "text", True),
    ]
    assert spec.column("ward").values == ("east", "north", "south")
    assert spec.text_fields == ("note",)
    assert spec.labels.classes == ("cardiac", "other", "respiratory")
    assert [(s.name, s.column, s.derive) for s in spec.slices] == [
        ("ward", "ward", None),
        ("month", "admitted_at", "month"),
    ]
    assert "  - {name: ward, type: category, required: true, values: [east, north, south]}" in (
        made.text
    )
    assert "# 3 distinct values" in made.text
    assert load_spec_text(made.text) == spec  # the text is the spec


def test_from_draft_to_a_first_build_without_writing_yaml(tmp_path: Path) -> None:
    data, labels = cases_csv(tmp_path)
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    draft = client.data.draft(data, labels_path=labels, label_column="diagnosis")
    project_file = tmp_path / "admissions.yaml"
    project_file.write_text(draft.text, encoding="utf-8")  # the reviewed draft, unchanged
    project = client.projects.create(project_file)
    assert project.spec == draft.spec
    ingested = client.data.ingest("admissions", data)
    assert ingested.total_rows == 150
    mapped = client.data.map_label_columns(labels, item_col="case_id", label_col="diagnosis")
    assert mapped.decode().splitlines()[:2] == ["item_id,annotator,label", "C-1000,import,cardiac"]
    imported = client.labeling.import_labels("admissions", mapped, "labels.csv")
    assert (imported.items, imported.annotators) == (150, ("import",))
    client.labeling.freeze("admissions", [imported.task_id])
    build = client.builds.run("admissions", promote=True)
    assert build.status == "successful", [c.message for c in build.checks]
    run = client.runs.get(build.run_id)  # type: ignore[arg-type]
    assert {"ward = north", "ward = south", "ward = east"} <= set(run.slice_metrics)
    assert {"month = 2026-01", "month = 2026-02"} <= set(run.slice_metrics)


def test_a_label_column_in_the_data_file_is_left_out_of_the_inputs(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_text(
        "loan_id,amount,term,region,label\n"
        + "".join(
            f"L{i},{1000 + i * 10},{12 + i % 3 * 12},r{i % 2},{'ok' if i % 3 else 'late'}\n"
            for i in range(30)
        ),
        encoding="utf-8",
    )
    from core.api.data import Data

    spec = Data.draft(path).spec
    assert spec.kind == "tabular_classification"
    assert spec.features == ("amount", "term", "region")
    assert "label" not in spec.column_names and spec.labels.classes == ("late", "ok")


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (
            "id,text\n1,a b c\n1,d e f\n",
            {"id_column": "id", "classes": ("a", "b")},
            "x.csv: column 'id' cannot be the id: its values repeat or are empty.",
        ),
        (
            "id,text\n1,a b c\n2,d e f\n",
            {"id_column": "key", "classes": ("a", "b")},
            "x.csv: --id: Unknown column 'key'. Expected one of: id, text.",
        ),
        (
            "id,when\n1,yesterday\n2,today\n",
            {"time_column": "when", "classes": ("a", "b")},
            "x.csv: column 'when' cannot be the time: its values are not ISO 8601 dates "
            "(2 distinct short values).",
        ),
        ("id,text\n1,a b c\n2,d e f\n", {}, "x.csv: no label column to take the classes from."),
        (
            "id,text,label\n1,a b c,yes\n2,d e f,yes\n",
            {},
            "x.csv: column 'label' has 1 distinct label(s); a project needs at least two classes.",
        ),
        (
            "id,when\n1,2026-01-01\n2,2026-01-02\n",
            {"classes": ("a", "b")},
            "x.csv: no column can be a model input (text, number, boolean or category) besides "
            "the id 'id'.",
        ),
        (
            "id,text\n1,a,b\n",
            {"classes": ("a", "b")},
            "x.csv: not a well-formed CSV file: row 2 has 3 fields; the header has 2.",
        ),
        ("", {"classes": ("a", "b")}, "x.csv: the file is empty."),
        (
            "id,text\n1,caf\xe9 au lait\n".encode("latin-1"),
            {"classes": ("a", "b")},
            "x.csv: the file is not utf-8 text (line 2, byte 13 is 0xe9).",
        ),
        (
            "id,text\n1,caf\xe9 au lait\n".encode("utf-16"),
            {"classes": ("a", "b")},
            "x.csv: the file is UTF-16 text, not utf-8.",
        ),
    ],
)
def test_a_draft_that_cannot_be_made_says_why(
    tmp_path: Path, content: str | bytes, options: dict[str, object], message: str
) -> None:
    from core.api.data import Data

    path = tmp_path / "x.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidInput) as caught:
        Data.draft(path, **options)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_spreadsheet_export_drafts_with_clean_names(tmp_path: Path) -> None:
    """A byte-order mark (Excel's 'CSV UTF-8') is no part of the first column's name; a UTF-16
    file (Excel's 'Unicode text') drafts the same once its encoding is named."""
    from core.api.data import Data

    text = "case_id,ward,note,label\nC-1,nord,café au lait,a\nC-2,süd,thé noir,b\n"
    expected = None
    for name, raw, encoding in (
        ("bom.csv", b"\xef\xbb\xbf" + text.encode(), "utf-8"),
        ("utf16.csv", text.encode("utf-16"), "utf-16"),
    ):
        path = tmp_path / name
        path.write_bytes(raw)
        spec = Data.draft(path, label_column="label", encoding=encoding, name="ward").spec
        assert spec.id_column == "case_id" and spec.column_names[0] == "case_id"
        assert (expected or spec.column_names) == spec.column_names
        expected = spec.column_names


def test_hostile_column_names_stay_names_in_the_drafted_yaml(tmp_path: Path) -> None:
    """Names a YAML writer must quote (a comment sign, a flow bracket, a colon, a line break)
    come back exactly; a line break in the file name cannot end a comment."""
    names = ["id", "# not a comment", "{x: 1}", "a: b", "line\nbreak", "text"]
    frame = pd.DataFrame(
        {n: [f"v{i}" if n != "text" else f"some words {i}" for i in range(6)] for n in names}
    )
    frame["id"] = [f"K{i}" for i in range(6)]
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    from core.api.data import Data

    made = Data.draft(path, classes=("a", "b"), display_name="odd\nname: x.csv")
    assert load_spec_text(made.text).column_names == tuple(names)
    assert yaml.safe_load(made.text)["name"] == "odd-name-x"


def test_schema_errors_name_unexpected_columns_and_the_closest(
    ws: Workspace, actor: Actor, tmp_path: Path
) -> None:
    create_project(ws, Path(__file__).parents[1] / "fixtures" / "tickets.yaml", actor)
    path = tmp_path / "renamed.csv"
    path.write_text("Ticket-ID,opened_at,channel,body\nT-1,2026-01-01,mail,hi\n", encoding="utf-8")
    with pytest.raises(IngestRefused) as caught:
        ingest(ws, "tickets", path, actor)
    assert [str(p) for p in caught.value.problems] == [
        "ticket_id: required column is missing from the header; the header has columns the "
        "schema does not: 'Ticket-ID', 'body'; did you mean 'Ticket-ID'? "
        "(expected a column named 'ticket_id')",
        "text: required column is missing from the header; the header has columns the schema "
        "does not: 'Ticket-ID', 'body' (expected a column named 'text')",
    ]


def test_slices_by_period_bins_and_values_agree_in_pandas_and_sql() -> None:
    times = pd.Series(["2026-01-04T10:00:00Z", "2026-07-01", "2025-12-29", None])
    ages = pd.Series([5, 18, 64.5, None])
    expected = {
        "week": ["2026-W01", "2026-W27", "2026-W01", "(missing)"],
        "month": ["2026-01", "2026-07", "2025-12", "(missing)"],
        "quarter": ["2026-Q1", "2026-Q3", "2025-Q4", "(missing)"],
        "half": ["2026-H1", "2026-H2", "2025-H2", "(missing)"],
        "year": ["2026", "2026", "2025", "(missing)"],
    }
    con = duckdb.connect()
    frame = pd.DataFrame({"t": pd.to_datetime(times, utc=True, format="ISO8601"), "age": ages})
    for how, values in expected.items():
        spec = SliceSpec(how, "t", how)
        assert slice_values(frame["t"], spec).tolist() == values, how
        sql = con.execute(f"SELECT {slice_sql('t', spec)} FROM frame").fetchall()
        assert [r[0] for r in sql] == values, how
    bins = SliceSpec("age", "age", None, (18.0, 65.0))
    assert bin_labels(bins.bins or ()) == ["< 18", "18–65", "≥ 65"]
    assert slice_values(frame["age"], bins).tolist() == ["< 18", "18–65", "18–65", "(missing)"]
    sql = con.execute(f"SELECT {slice_sql('age', bins)} FROM frame").fetchall()
    assert [r[0] for r in sql] == ["< 18", "18–65", "18–65", "(missing)"]


@pytest.mark.parametrize(
    ("slice_", "message"),
    [
        (
            {"name": "w", "column": "channel", "derive": "week"},
            "project file: slices[0].derive: 'week' needs a datetime column; 'channel' is category.",
        ),
        (
            {"name": "p", "column": "priority", "bins": [3, 1]},
            "project file: slices[0].bins: bin edges must be finite and increasing, got [3, 1].",
        ),
        (
            {"name": "p", "column": "text", "bins": [1]},
            "project file: slices[0].bins: bins need a numeric column; 'text' is text.",
        ),
        (
            {"name": "p", "column": "priority", "bins": "1,2"},
            "project file: slices[0].bins: expected a list of numbers (the bin edges), got '1,2'.",
        ),
        (
            {"name": "p", "column": "opened_at", "derive": "month", "bins": [1]},
            "project file: slices[0].bins: a slice has bins or a derivation, not both.",
        ),
        (
            {"name": "p", "column": "priority", "bin": [1]},
            "project file: slices[0].bin: Unknown slice key 'bin'. Expected one of: bins, column, "
            "derive, name.",
        ),
    ],
)
def test_bad_slices_are_refused(slice_: dict[str, object], message: str) -> None:
    data = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "tickets.yaml").read_text())
    data["slices"] = [slice_]
    data["protected_slices"] = []
    with pytest.raises(InvalidInput) as caught:
        load_spec_text(yaml.safe_dump(data))
    assert str(caught.value) == message


def test_slices_by_quarter_and_bins_parse_and_keep_old_hashes() -> None:
    base = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "tickets.yaml").read_text())
    before = load_spec_text(yaml.safe_dump(base)).to_dict()
    assert "bins" not in before["slices"][0]  # a file without bins hashes as it did
    base["slices"] += [
        {"name": "quarter", "column": "opened_at", "derive": "quarter"},
        {"name": "priority band", "column": "priority", "bins": [2, 4]},
    ]
    spec = load_spec_text(yaml.safe_dump(base))
    assert spec.slices[-1].bins == (2.0, 4.0) and spec.slices[-2].derive == "quarter"
    assert spec.to_dict()["slices"][-1]["bins"] == [2.0, 4.0]


def test_export_writes_formula_safe_csv_and_parquet(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    path = tmp_path / "t.csv"
    path.write_text(
        "ticket_id,opened_at,channel,text,priority,amount,vip\n"
        'T-2,2026-03-02T10:00:00Z,chat,"=HYPERLINK(""http://x"")",2,,false\n'
        'T-1,2026-03-01T10:00:00Z,mail,"hello, world",1,2.5,true\n',
        encoding="utf-8",
    )
    client.data.ingest("tickets", path)
    text = client.data.export("dataset:tickets").decode("utf-8-sig")
    assert text.splitlines() == [
        "ticket_id,opened_at,channel,text,priority,amount,vip",
        'T-1,2026-03-01T10:00:00,mail,"hello, world",1,2.5,true',
        'T-2,2026-03-02T10:00:00,chat,"\'=HYPERLINK(""http://x"")",2,,false',
    ]
    back = pd.read_parquet(io.BytesIO(client.data.export("dataset:tickets", "parquet")))
    assert back["ticket_id"].tolist() == ["T-1", "T-2"] and back["vip"].tolist() == [True, False]
    with pytest.raises(InvalidInput) as caught:
        client.data.export("dataset:tickets", "xlsx")
    assert str(caught.value) == "Unknown export format 'xlsx'. Expected one of: csv, parquet."
    project = client.projects.get("tickets").spec_artifact_id
    with pytest.raises(InvalidInput) as caught:
        client.data.export(project)
    assert str(caught.value).endswith("is a project, not a dataset version.")


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (
            "case_id,diagnosis\nC-1,x\n",
            {"item_col": "id", "label_col": "diagnosis"},
            "l.csv: --item-col: Unknown column 'id'. Expected one of: case_id, diagnosis.",
        ),
        (
            "case_id,diagnosis\nC-1,x\n,y\n",
            {"item_col": "case_id", "label_col": "diagnosis"},
            "l.csv: row 3: the item column 'case_id' is empty.",
        ),
    ],
)
def test_label_column_mapping_refusals(
    tmp_path: Path, content: str, options: dict[str, str], message: str
) -> None:
    from core.api.data import Data

    path = tmp_path / "l.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        Data.map_label_columns(path, **options)
    assert str(caught.value) == message


def test_label_columns_take_an_annotator_column_or_name(tmp_path: Path) -> None:
    from core.api.data import Data

    path = tmp_path / "l.csv"
    path.write_text("case_id,dx,doctor\nC-1,-1,ann\nC-2,,bob\nC-3,x,\n", encoding="utf-8")
    by_column = Data.map_label_columns(path, item_col="case_id", label_col="dx", annotator="doctor")
    assert by_column.decode().splitlines() == [
        "item_id,annotator,label",
        "C-1,ann,-1",  # a label that looks like a formula stays itself
        "C-3,import,x",
    ]
    named = Data.map_label_columns(path, item_col="case_id", label_col="dx", annotator="dr-who")
    assert named.decode().splitlines()[1] == "C-1,dr-who,-1"
