"""Property-based: generated malformed CSV, JSON Lines and Label Studio JSON fed to ingest and
label import. Always a CoreError (or a clean success), never a traceback, never a partial write."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.actor import Actor
from core.data.service import ingest
from core.errors import CoreError
from core.labeling.interchange import import_annotations, parse_label_studio, read_annotation_table
from core.projects.service import create_project
from core.store import Workspace
from tests.conftest import FIXTURES
from tests.core.test_hardening import tables

ACTOR = Actor("fuzzer", "test")
HEADER = "ticket_id,opened_at,channel,text,priority,amount,vip"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure is reproducible, never flaky
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("fuzz") / "ws")
    create_project(ws, FIXTURES / "tickets.yaml", ACTOR)
    ingest(ws, "tickets", FIXTURES / "tickets.csv", ACTOR)
    return ws


class Watched:
    """The fuzzed workspace and its tables' row counts as the previous example left them.

    Hypothesis runs a test's examples one after another and nothing else writes the workspace
    meanwhile, so the counts after one example are the counts before the next: they are taken
    once per example instead of before and after (counting was most of these tests' time)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.counts = tables(ws)

    def attempt(self, work: Callable[[], object]) -> None:
        """Run ``work``; a CoreError must leave every table as it was."""
        refused: CoreError | None = None
        try:
            work()
        except CoreError as error:
            refused = error
        finally:  # whatever happened (also a bug's traceback): the next example's "before"
            before, self.counts = self.counts, tables(self.ws)
        if refused is not None:
            assert str(refused), "a CoreError needs a message"
            assert self.counts == before, f"partial write after {refused!r}"


@pytest.fixture
def watched(workspace: Workspace) -> Watched:
    """Made once per test (not per example: hypothesis calls a test's fixtures once)."""
    return Watched(workspace)


cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            '"',
            '""',
            ",",
            "\n",
            "\r\n",
            "NA",
            "null",
            "2026-13-45T99:00:00Z",
            "1e309",
            "-0",
            "mail",
            "chat",
            "phone",
            "T-1",
            "=1+1",
            "\x00",
            "\ufeff",
            "true",
            "maybe",
            "99",
        ]
    ),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=9), min_size=0, max_size=6)
headers = st.one_of(
    st.just(HEADER),
    st.just(HEADER.upper()),
    st.just("ticket_id,ticket_id,text"),
    st.just(""),
    st.text(max_size=40),
)


def csv_bytes(header: str, body: list[list[str]], encoding: str) -> bytes:
    lines = [header, *(",".join(row) for row in body)]
    return "\n".join(lines).encode(encoding, "replace")


@FUZZ
@given(header=headers, body=rows, encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_malformed_csv_to_ingest(
    workspace: Workspace,
    watched: Watched,
    tmp_path_factory: pytest.TempPathFactory,
    header: str,
    body: list[list[str]],
    encoding: str,
) -> None:
    path = tmp_path_factory.mktemp("csv") / "upload.csv"
    path.write_bytes(csv_bytes(header, body, encoding))
    watched.attempt(lambda: ingest(workspace, "tickets", path, ACTOR, mode="append"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(
    st.sampled_from(
        ["ticket_id", "opened_at", "channel", "text", "priority", "amount", "vip", "x"]
    ),
    json_values,
    max_size=8,
)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(records.map(json.dumps), st.text(max_size=30), json_values.map(json.dumps)),
        max_size=5,
    )
)
def test_malformed_json_lines_to_ingest(
    workspace: Workspace,
    watched: Watched,
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "upload.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    watched.attempt(lambda: ingest(workspace, "tickets", path, ACTOR))


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Mostly the expected shape, sometimes any JSON value in its place."""
    return st.one_of(strategy, strategy, strategy, json_values)


results = st.lists(
    maybe(
        st.fixed_dictionaries(
            {
                "type": maybe(st.sampled_from(["choices", "labels", "x"])),
                "value": maybe(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "choices": maybe(
                                st.lists(
                                    st.sampled_from(["billing", "bug", "sales", "?"]), max_size=2
                                )
                            ),
                            "labels": maybe(st.lists(st.text(max_size=5), max_size=2)),
                            "start": maybe(st.integers(-5, 50)),
                            "end": maybe(st.integers(-5, 50)),
                        },
                    )
                ),
            }
        )
    ),
    max_size=3,
)
annotations = st.fixed_dictionaries(
    {"result": maybe(results)},
    optional={"completed_by": json_values, "was_cancelled": st.booleans()},
)
studio_tasks = st.lists(
    maybe(
        st.fixed_dictionaries(
            {
                "data": maybe(
                    st.fixed_dictionaries(
                        {"ticket_id": maybe(st.sampled_from(["T-1", "T-2", "T-9"]))}
                    )
                ),
                "annotations": maybe(st.lists(maybe(annotations), max_size=3)),
            }
        )
    ),
    max_size=4,
)


@FUZZ
@given(document=studio_tasks | json_values)
def test_malformed_label_studio_json_to_import(
    workspace: Workspace, watched: Watched, document: object
) -> None:
    raw = json.dumps(document).encode()

    def work() -> None:
        frame = parse_label_studio(raw, "ticket_id")
        import_annotations(workspace, "tickets", frame, ACTOR, source="label-studio")

    watched.attempt(work)


@FUZZ
@given(
    header=st.sampled_from(
        ["item_id,annotator,label", "item_id,annotator,label,spans,unsure,note", "label", ""]
    ),
    body=rows,
)
def test_malformed_annotation_csv_to_import(
    workspace: Workspace, watched: Watched, header: str, body: list[list[str]]
) -> None:
    raw = csv_bytes(header, body, "utf-8")

    def work() -> None:
        frame = read_annotation_table(raw, "verdicts.csv")
        import_annotations(workspace, "tickets", frame, ACTOR, source="verdicts")

    watched.attempt(work)


def test_the_fuzzed_workspace_is_still_sound(workspace: Workspace, tmp_path: Path) -> None:
    from core.artifacts.verify import verify_workspace

    report = verify_workspace(workspace)
    assert report.ok, report


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"data": {"ticket_id": "T-1"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["?"]}}]}]}]',
        b"item_id,annotator,label\nT-1,op,not-a-class\n",
    ],
    ids=["label-studio", "csv"],
)
def test_a_refused_import_leaves_no_task(workspace: Workspace, raw: bytes) -> None:
    before = tables(workspace)
    frame = (
        parse_label_studio(raw, "ticket_id")
        if raw.startswith(b"[")
        else read_annotation_table(raw, "verdicts.csv")
    )
    with pytest.raises(CoreError, match="nothing was imported"):
        import_annotations(workspace, "tickets", frame, ACTOR)
    assert tables(workspace) == before
