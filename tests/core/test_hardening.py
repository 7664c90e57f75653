"""Hostile input: quotes, ';', comments, unicode and NUL through every filter and text field;
uploads (size, names, formats); exports that a spreadsheet opens; model files checked by hash.

Every outcome must be a clean round trip or a CoreError, the store's tables intact."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
from pathlib import Path

import pytest

from core.accounts.audit import AuditQuery
from core.accounts.auditlog import export_audit_csv, search_audit
from core.accounts.sessions import LoginRefused, login
from core.accounts.tokens import create_token, list_tokens
from core.accounts.users import create_user, get_user
from core.actor import Actor
from core.artifacts.service import get_artifact, list_artifacts
from core.data.service import ingest
from core.errors import CoreError, InvalidInput
from core.experiments.search import search_runs
from core.experiments.tracking import Tracker
from core.labeling.queue import item_history, next_item, save_annotation
from core.labeling.tasks import create_task, get_task, list_tasks
from core.projects.service import create_project
from core.safe_csv import safe_cell, to_csv
from core.store import Workspace
from tests.conftest import FIXTURES, ROOT

HOSTILE = [
    "'",
    '"',
    "\\",
    "'; DROP TABLE audit_log; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "1 OR 1=1",
    "/* comment */ x",
    "-- comment",
    "%_%",
    "ü€𝄞 日本語 مرحبا",
    "\u202eevil\u202c",
    '=HYPERLINK("http://example.com","x")',
    "@SUM(A1:A9)",
    "+1+1",
    "-2-2",
    "a\x00b",
    "x" * 3000,
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]
TESTER = Actor("tester", "test")  # conftest's ``actor``


def tables(ws: Workspace) -> dict[str, int]:
    """Every table and its row count: nothing dropped, nothing half-written. The counts come
    from one query (a statement per table made this most of the fuzz tests' time)."""
    with ws.store.read() as tx:
        names = [
            r[0]
            for r in tx.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY 1"
            )
        ]
        each = " UNION ALL ".join(
            f'SELECT {index} AS position, count(*) AS row_count FROM "{name}"'
            for index, name in enumerate(names)
        )
        counts = dict(tx.rows(each)) if names else {}
        return {name: int(counts[index]) for index, name in enumerate(names)}


def round_trip_or_refused(store: object, given: str) -> None:
    """Stored exactly as given, or (for NUL and such) refused as a CoreError before."""
    assert store == given or store is None


# -- workspaces ----------------------------------------------------------------------------------
# Each test gets a private copy of a workspace made once per module (a copy costs ~0.02 s of CPU;
# init, project and ingest ~0.5 s, for ~60 tests): ``ws`` empty, ``tickets_ws`` with the tickets
# project, ``loaded`` with its rows ingested too.


@pytest.fixture(scope="module")
def blank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty workspace, never opened by a test (they get copies)."""
    root = tmp_path_factory.mktemp("blank") / "ws"
    Workspace.init(root)
    return root


@pytest.fixture(scope="module")
def tickets_template(blank_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The empty workspace with the tickets project (tests/fixtures/tickets.yaml)."""
    root = tmp_path_factory.mktemp("tickets") / "ws"
    shutil.copytree(blank_template, root)
    create_project(Workspace.open(root), FIXTURES / "tickets.yaml", TESTER)
    return root


@pytest.fixture(scope="module")
def loaded_template(tickets_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tickets project with tests/fixtures/tickets.csv ingested."""
    root = tmp_path_factory.mktemp("loaded") / "ws"
    shutil.copytree(tickets_template, root)
    ingest(Workspace.open(root), "tickets", FIXTURES / "tickets.csv", TESTER)
    return root


def _copy_of(template: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


@pytest.fixture
def ws(blank_template: Path, tmp_path: Path) -> Workspace:
    """An empty workspace of this test's own (conftest's ``ws``, copied instead of made)."""
    return _copy_of(blank_template, tmp_path)


@pytest.fixture
def tickets_ws(tickets_template: Path, tmp_path: Path) -> Workspace:
    """A workspace of this test's own with the tickets project and no data."""
    return _copy_of(tickets_template, tmp_path)


@pytest.fixture
def loaded(loaded_template: Path, tmp_path: Path) -> Workspace:
    """A workspace of this test's own with the tickets project and its rows."""
    return _copy_of(loaded_template, tmp_path)


# -- filters and text fields --------------------------------------------------------------------


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_the_run_filter_language_binds_every_value(loaded: Workspace, actor: Actor) -> None:
    with Tracker(loaded, actor) as tracker:
        for index, text in enumerate(HOSTILE[:-1]):
            with tracker.start_run("tickets", name=f"run {index}") as run:
                run.log_params({"model": text})
                run.set_tag("note", text)
    before = tables(loaded)
    for index, text in enumerate(HOSTILE[:-1]):
        if "\x00" in text:
            continue
        found = search_runs(loaded, "tickets", filter=f"params.model = {_quoted(text)}")
        assert list(found.frame["name"]) == [f"run {index}"], text
        found = search_runs(loaded, "tickets", filter=f"tags.note IN ({_quoted(text)}, 'x')")
        assert list(found.frame["name"]) == [f"run {index}"], text
    for text in HOSTILE:
        for query in (
            text,
            f"params.`{text}` = 'x'",
            f"metrics.`{text}` > 1",
            f"name LIKE {_quoted(text)}",
            f"status = 'finished' and {text}",
        ):
            with contextlib.suppress(InvalidInput):
                search_runs(loaded, "tickets", filter=query)
        for order in ([text], [f"params.{text} DESC"], [f"metrics.`{text}` ASC"]):
            with contextlib.suppress(InvalidInput):
                search_runs(loaded, "tickets", order_by=order)
        assert search_runs(loaded, text).total == 0  # a project named by hostile text: none
    assert tables(loaded) == before


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_labeling_texts_are_stored_as_given(loaded: Workspace, actor: Actor, text: str) -> None:
    try:
        task = create_task(loaded, "tickets", actor, name=text, instructions=text, overlap=1)
    except CoreError:
        assert "\x00" in text or len(text) > 200  # refused, not written
        return
    assert (get_task(loaded, task.task_id).name, get_task(loaded, task.task_id).instructions) == (
        text,
        text,
    )
    item = next_item(loaded, task.task_id, actor)
    assert item is not None
    try:
        save_annotation(loaded, task.task_id, item.item_id, actor, "billing", note=text)
    except CoreError:
        assert "\x00" in text or len(text) > 2000
        return
    (saved,) = item_history(loaded, task.task_id, item.item_id)
    assert saved.note == text
    assert list_tasks(loaded, text) == []


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_hostile_names_and_references_are_refused_cleanly(
    loaded: Workspace, actor: Actor, text: str, tmp_path: Path
) -> None:
    import yaml

    before = tables(loaded)
    spec = yaml.safe_load((FIXTURES / "tickets.yaml").read_text())
    spec["name"] = text
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(CoreError):
        create_project(loaded, path, actor)
    with pytest.raises(CoreError):
        get_artifact(loaded, text)
    assert list_artifacts(loaded, project=text) == []
    with pytest.raises(InvalidInput):
        create_user(loaded, actor, text, roles=["admin"])
    assert tables(loaded) == before


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_account_texts_and_the_audit_filters(ws: Workspace, text: str) -> None:
    root = Actor("root", "test")
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    try:
        create_user(ws, root, "eve", roles=["annotator"], display_name=text)
        assert get_user(ws, "eve").display_name == text.strip()
    except InvalidInput:
        assert "\x00" in text or len(text) > 200
    try:
        create_token(ws, root, "root", text)
        assert list_tokens(ws, root)[0].label == text.strip()
    except InvalidInput:
        assert "\x00" in text or len(text) > 100
    with pytest.raises(LoginRefused):
        login(ws, text, text, client=text)
    before = tables(ws)
    for field in ("actor", "action", "project", "text"):
        value = text.strip().lower() if field == "actor" else text  # sign-in names are lowercased
        try:
            entries, _ = search_audit(ws, root, AuditQuery(**{field: value}))
        except InvalidInput:
            assert len(text) > 500
            continue
        if field in ("actor", "text") and len(text) <= 200:  # the failed login is found
            assert any(e.action == "login.failed" for e in entries), field
    assert tables(ws) == before


# -- uploads -------------------------------------------------------------------------------------


def test_an_upload_over_the_size_limit_is_refused(
    tickets_ws: Workspace, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_MAX_INGEST_BYTES", "100")
    before = tables(tickets_ws)
    with pytest.raises(
        InvalidInput, match=r"tickets.csv: the file is \d+ B; the ingest limit is 100 B"
    ):
        ingest(tickets_ws, "tickets", FIXTURES / "tickets.csv", actor)
    assert tables(tickets_ws) == before


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("data.exe", None),
        ("data.csv.exe", None),
        ("data", None),
        ("data.pkl", None),
        ("data.csv", "pickle"),
    ],
)
def test_only_declared_formats_are_read(
    tickets_ws: Workspace, actor: Actor, tmp_path: Path, name: str, declared: str | None
) -> None:
    path = tmp_path / "upload"
    path.write_bytes((FIXTURES / "tickets.csv").read_bytes())
    with pytest.raises(InvalidInput, match=r"Unknown (file type|format)"):
        ingest(tickets_ws, "tickets", path, actor, display_name=name, fmt=declared)


def test_file_names_are_never_used_as_paths(
    tickets_ws: Workspace, actor: Actor, tmp_path: Path
) -> None:
    upload = tmp_path / "in" / "upload.csv"
    upload.parent.mkdir()
    upload.write_bytes((FIXTURES / "tickets.csv").read_bytes())
    name = "../../../../tmp/evil/../escape.csv"
    result = ingest(tickets_ws, "tickets", upload, actor, display_name=name)
    assert result.data_source.metadata["file_name"] == name
    assert not (tmp_path / "escape.csv").exists() and not Path("/tmp/escape.csv").exists()
    stored = [p for p in tickets_ws.root.rglob("*") if p.is_file()]
    blobs = [p for p in stored if "objects" in p.parts]
    assert blobs and all(re.fullmatch(r"[0-9a-f]{64}", p.parent.name + p.name) for p in blobs)
    assert not any("escape" in p.name for p in stored)
    source = (ROOT / "app" / "components" / "upload.py").read_text()
    assert 'Path(tmp) / f"upload.{fmt}"' in source  # the app writes uploads under a fixed name


# -- exports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_safe_cells_neutralise_formulas(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("plain") == "plain" and safe_cell(-1) == -1 and safe_cell(None) is None
    rows = list(csv.reader(io.StringIO(to_csv(["h"], [[text]]).decode("utf-8-sig"), newline="")))
    assert rows == [["h"], ["'" + text]]


def test_the_audit_export_neutralises_formulas(ws: Workspace) -> None:
    create_user(ws, Actor("me", "test"), "root", roles=["admin"])
    attack = '=HYPERLINK("http://evil.example","click")'
    with pytest.raises(LoginRefused):
        login(ws, attack, "whatever", client="@SUM(1)")
    data = export_audit_csv(ws, Actor("root", "test"), AuditQuery(action="login.failed"))
    (header, row) = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[2] == "actor" and row[2] == "'" + attack.lower()
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_the_label_set_export_neutralises_formulas(
    tickets_ws: Workspace, actor: Actor, tmp_path: Path
) -> None:
    from core.labeling.freeze import freeze
    from core.labeling.interchange import export_label_set

    path = tmp_path / "t.csv"
    path.write_text(
        "ticket_id,opened_at,channel,text,priority,amount,vip\n"
        "=1+2,2026-03-01T10:00:00Z,mail,@SUM(A1),1,,\n"
        "-3,2026-03-02T10:00:00Z,chat,+cmd,1,,\n"
    )
    ingest(tickets_ws, "tickets", path, actor)
    task = create_task(tickets_ws, "tickets", actor, name="all", overlap=1)
    while (item := next_item(tickets_ws, task.task_id, actor)) is not None:
        save_annotation(tickets_ws, task.task_id, item.item_id, actor, "billing")
    frozen = freeze(tickets_ws, "tickets", actor, [task.task_id])
    rows = list(
        csv.reader(
            io.StringIO(export_label_set(tickets_ws, frozen.artifact.artifact_id, "csv").decode())
        )
    )
    assert sorted(r[0] for r in rows[1:]) == ["'-3", "'=1+2"]


# -- model files ---------------------------------------------------------------------------------


def test_a_tampered_file_is_refused_before_it_is_read(ws: Workspace, actor: Actor) -> None:
    from core.artifacts.models import NewArtifact
    from core.artifacts.service import read_file, register

    artifact = register(
        ws, NewArtifact("params", "weights", files={"model.bin": b"\x00" * 64}), actor
    )
    blob = ws.blobs.path(artifact.file("model.bin").blob_hash)
    blob.chmod(0o644)
    blob.write_bytes(b"\x01" * 64)
    with pytest.raises(CoreError, match="is damaged"):
        read_file(ws, artifact, "model.bin")


def test_models_never_unpickle() -> None:
    """Loopline's model files are skops zips and XGBoost UBJSON; nothing in core unpickles."""
    banned = re.compile(
        r"\b(pickle\.loads?|joblib\.load|cloudpickle|dill\.loads?|torch\.load|numpy\.load\([^)]*allow_pickle=True)"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "core").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if banned.search(line)
    ]
    assert not offenders, offenders


def test_untrusted_types_in_a_model_file_are_refused() -> None:
    import fractions

    import skops.io as sio

    from core.ml.serialize import load_sklearn

    data = sio.dumps({"weights": fractions.Fraction(1, 3)})
    with pytest.raises(
        CoreError, match="The model file holds types Loopline does not load: fractions.Fraction"
    ):
        load_sklearn(data)


def test_a_model_file_that_would_call_eval_is_refused() -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from core.ml.serialize import load_sklearn

    with pytest.raises(CoreError, match="builtins.eval"):
        load_sklearn(sio.dumps(FunctionTransformer(func=eval)))


def test_the_label_set_export_keeps_a_carriage_return_inside_its_cell(
    tickets_ws: Workspace, actor: Actor, tmp_path: Path
) -> None:
    from core.labeling.freeze import freeze
    from core.labeling.interchange import export_label_set

    path = tmp_path / "t.csv"
    path.write_bytes(
        b"ticket_id,opened_at,channel,text,priority,amount,vip\r\n"
        b'"T\r1",2026-03-01T10:00:00Z,mail,hello,1,,\r\n'
        b'"T\n2",2026-03-02T10:00:00Z,chat,there,1,,\r\n'
    )
    ingest(tickets_ws, "tickets", path, actor)
    task = create_task(tickets_ws, "tickets", actor, name="all", overlap=1)
    while (item := next_item(tickets_ws, task.task_id, actor)) is not None:
        save_annotation(tickets_ws, task.task_id, item.item_id, actor, "billing")
    frozen = freeze(tickets_ws, "tickets", actor, [task.task_id])
    data = export_label_set(tickets_ws, frozen.artifact.artifact_id, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert len(rows) == 3 and sorted(r[0] for r in rows[1:]) == ["T\n2", "T\r1"]


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        ('"annotations": {"result": []}', "task 0 (item T-1): 'annotations' is not a list"),
        ('"annotations": [3]', "task 0 (item T-1), annotation 0: not an object"),
        ('"annotations": [{"result": {"a": 1}}]', "annotation 0: 'result' is not a list"),
        ('"annotations": [{"result": ["x"]}]', "annotation 0, result 0: not an object"),
        (
            '"annotations": [{"result": [{"type": "choices", "value": [1]}]}]',
            "task 0 (item T-1), annotation 0, result 0: 'value' is not an object",
        ),
        (
            '"annotations": [{"result": [{"type": "choices", "value": {"choices": 5}}]}]',
            "result 0: 'value.choices' is not a list",
        ),
        (
            '"annotations": [{"result": [{"type": "labels", "value": {"labels": ["x"], '
            '"start": 1e400, "end": 2}}]}]',
            "result 0: a span without whole-number 'start' and 'end'",
        ),
    ],
)
def test_a_malformed_label_studio_record_is_named(annotation: str, problem: str) -> None:
    from core.labeling.interchange import parse_label_studio

    raw = f'[{{"data": {{"ticket_id": "T-1"}}, {annotation}}}]'.encode()
    with pytest.raises(InvalidInput, match="nothing was imported") as refused:
        parse_label_studio(raw, "ticket_id")
    assert problem in str(refused.value)
