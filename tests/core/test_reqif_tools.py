"""ReqIF with the real tools (issue 16): StrictDoc and the `reqif` library write the files
Loopline imports, and read back (and validate against the ReqIF schema) the files it exports.

Both tools run in their own venv (tests/tools/.venv-reqif, built once from
tests/tools/requirements-reqif.txt like the MLflow test's; tests/core/reqif_support.py). Assertions are on structure: levels,
every parent link, every attribute with its type, the exact text, the document's sections and
text nodes; hostile files get a clear message and write nothing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.api import Client, InvalidInput
from core.requirements.reqif_read import unescape
from tests.core.reqif_support import PROJECT, attributes, new_client, run_tool, strictdoc
from tests.core.reqif_support import strictdoc_export as export

SDOC = """\
[DOCUMENT]
TITLE: Ticket routing

[[SECTION]]
TITLE: System requirements

[TEXT]
STATEMENT: >>>
What the help desk must do.

A second paragraph, with "quotes" & <angles>.
<<<

[REQUIREMENT]
UID: SYS-1
STATUS: Approved
TITLE: Tickets reach the right team
STATEMENT: >>>
Every ticket reaches the team that can solve it.
Wrongly routed tickets are rare.
<<<
RATIONALE: Clients wait less — déjà vu ≥ 2 days otherwise.

[REQUIREMENT]
UID: SYS-2
STATUS: Draft
TITLE: Mail tickets too
STATEMENT: Tickets sent by mail are routed as well.
RELATIONS:
- TYPE: Parent
  VALUE: SYS-1

[[/SECTION]]

[[SECTION]]
TITLE: ML requirements

[REQUIREMENT]
UID: ML-1
STATUS: Draft
TITLE: Routing accuracy
STATEMENT: The classifier routes 85 % of tickets right, mail included.
RELATIONS:
- TYPE: Parent
  VALUE: SYS-1
- TYPE: Parent
  VALUE: SYS-2

[[/SECTION]]
"""


@pytest.fixture(scope="module")
def strictdoc_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .sdoc above exported by StrictDoc as .reqif and as .reqifz."""
    folder = tmp_path_factory.mktemp("strictdoc")
    return {fmt: export(folder, SDOC, fmt)[fmt] for fmt in ("reqif", "reqifz")}


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return new_client(tmp_path / "ws")


@pytest.mark.parametrize("kind", ["reqif", "reqifz"])
def test_a_strictdoc_export_imports_with_its_structure_links_and_text(
    client: Client, strictdoc_export: dict[str, Path], kind: str
) -> None:
    result = client.requirements.import_file(strictdoc_export[kind], project=PROJECT)
    assert result.created == ("SYS-1", "SYS-2", "ML-1")  # sections and text are not requirements
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert {k: r.level for k, r in found.items()} == {
        "SYS-1": "system",
        "SYS-2": "system",
        "ML-1": "ml",
    }
    assert found["SYS-1"].parent is None and found["SYS-2"].parent == "SYS-1"
    assert found["ML-1"].derived_from == ("SYS-1", "SYS-2")  # both Parent relations
    assert found["SYS-1"].statement == (
        "Every ticket reaches the team that can solve it.\nWrongly routed tickets are rare."
    )
    assert attributes(found["SYS-1"])["RATIONALE"] == (
        "STRING",
        "Clients wait less — déjà vu ≥ 2 days otherwise.",
    )
    assert attributes(found["SYS-1"])["STATUS"] == ("STRING", "Approved")
    assert attributes(found["ML-1"])["STATUS"] == ("STRING", "Draft")
    assert found["ML-1"].check_text == "no check yet" and found["ML-1"].evidence == ()
    matrix = client.requirements.matrix(PROJECT)
    assert matrix.statuses["ML-1"].status == "no_evidence"
    nodes = [
        (n.depth, n.kind, n.title, n.text, n.requirement_id)
        for n in client.requirements.document(PROJECT)
    ]
    assert nodes == [
        (0, "section", "System requirements", "", None),
        (
            1,
            "text",
            "",
            'What the help desk must do.\n\nA second paragraph, with "quotes" & <angles>.',
            None,
        ),
        (1, "requirement", "Tickets reach the right team", found["SYS-1"].statement, "SYS-1"),
        (1, "requirement", "Mail tickets too", "Tickets sent by mail are routed as well.", "SYS-2"),
        (0, "section", "ML requirements", "", None),
        (
            1,
            "requirement",
            "Routing accuracy",
            "The classifier routes 85 % of tickets right, mail included.",
            "ML-1",
        ),
    ]


def test_a_doors_like_file_from_the_reqif_library_imports_and_reimports_in_place(
    client: Client, tmp_path: Path
) -> None:
    """Several object types, typed attributes, "derived from" relations, one specification per
    level; a re-import of an updated export updates in place and records what changed."""
    first = tmp_path / "module.reqif"
    assert run_tool("doors", str(first))["errors"] == []  # valid ReqIF, by the schema
    client.requirements.import_file(first, project=PROJECT)
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert {k: r.level for k, r in found.items()} == {
        "STK-101": "system",
        "STK-102": "system",
        "MLR-201": "ml",
    }
    assert found["MLR-201"].derived_from == ("STK-101", "STK-102")
    assert found["STK-102"].parent is None  # "see also" is not a derivation
    assert found["STK-101"].statement == (
        "Out-of-office replies are recognised.\n\nSecond paragraph,\nwith a line break."
    )
    assert found["MLR-201"].statement == "Precision & recall stay high <for every market>."
    assert attributes(found["MLR-201"]) == {
        "Absolute Number": ("INTEGER", 201),
        "Object Identifier": ("STRING", "MLR-201"),
        "ReqIF.Name": ("STRING", "Precision of the out-of-office class"),
        "ReqIF.Text": ("XHTML", "Precision & recall stay high <for every market>."),
        "Status": ("ENUMERATION", ["Approved"]),
        "Safety Relevant": ("BOOLEAN", True),
        "Due Date": ("DATE", "2026-05-01T00:00:00Z"),
        "Error Budget": ("REAL", 0.25),
    }
    assert found["MLR-201"].external_id == "ML-A" and found["MLR-201"].check_text == "no check yet"
    specs = {
        (n.specification, n.kind, n.requirement_id) for n in client.requirements.document(PROJECT)
    }
    assert ("ML Requirements", "requirement", "MLR-201") in specs
    assert ("Stakeholder Requirements", "section", None) in specs

    updated = tmp_path / "module-2.reqif"
    changes = {"SR-B": {"id": "STK-102b", "status": "EV-approved"}, "ML-A": {"budget": "0.2"}}
    run_tool("doors", str(updated), json.dumps(changes))
    result = client.requirements.import_file(updated, project=PROJECT)
    assert result.created == () and set(result.changed) == {"STK-102", "MLR-201"}
    again = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert set(again) == set(found)  # renamed in the tool, kept by its identifier
    assert attributes(again["STK-102"])["Status"] == ("ENUMERATION", ["Approved"])
    assert attributes(again["MLR-201"])["Error Budget"] == ("REAL", 0.2)
    latest = client.requirements.versions(PROJECT, "MLR-201")[0]
    assert latest.version == 2 and set(latest.changes) == {"attributes"}


def test_a_mapping_file_names_levels_fields_and_relations(client: Client, tmp_path: Path) -> None:
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "object_types:\n  Stakeholder Requirement: system\n  ML Requirement: ml\n"
        "fields:\n  Absolute Number: id\nrelations:\n  see also: derived_from\n",
        encoding="utf-8",
    )
    client.requirements.import_file(module, project=PROJECT, mapping=mapping)
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert {k: r.level for k, r in found.items()} == {"101": "system", "102": "system", "201": "ml"}
    assert found["102"].parent == "101" and found["201"].derived_from == ("101", "102")
    mapping.write_text(
        "level_attribute: Status\nlevels: {Approved: system, Draft: system}\n"
        "relations: {see also: parent_of}\n",
        encoding="utf-8",
    )
    result = client.requirements.import_file(module, project=PROJECT, mapping=mapping)
    assert result.created == ()  # the same objects (by the tool's identifier) keep their ids
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert {k: r.level for k, r in found.items()} == {
        "101": "system",
        "102": "system",
        "201": "system",
    }
    assert found["101"].parent == "102"  # the "see also" source is the parent
    assert found["201"].parent == "101"  # now a system requirement: under its first link's target
    assert found["201"].parents == ("101", "102")  # and derived from both
    mapping.write_text("relation: {}\nrelations: {see also: sibling}\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        client.requirements.import_file(module, project=PROJECT, mapping=mapping)
    assert str(refused.value) == (
        "map.yaml: unknown key(s) relation. Expected some of: project, object_types, "
        "level_attribute, levels, fields, relations."
    )


def test_exports_are_read_by_strictdoc_and_the_reqif_library_and_valid(
    client: Client, strictdoc_export: dict[str, Path], tmp_path: Path
) -> None:
    client.requirements.import_file(strictdoc_export["reqif"], project=PROJECT)
    client.requirements.edit(PROJECT, "SYS-2", {"title": "Mail tickets\ntoo"})  # a two-line title
    for name, text in (
        ("set.reqif", client.requirements.export(PROJECT, "reqif")),
        ("trace.reqif", client.requirements.trace_export(PROJECT, "reqif")),
    ):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert run_tool("validate", str(path))["errors"] == []
        read = run_tool("read", str(path))
        ids = {
            o["values"]["ReqIF.ForeignID"]: o
            for o in read["objects"].values()
            if "ReqIF.ForeignID" in o["values"]  # not the sections and text
        }
        assert set(ids) == {"SYS-1", "SYS-2", "ML-1"}
        # escaped as StrictDoc writes (and decodes) every string: the set came from StrictDoc
        assert unescape(ids["SYS-1"]["values"]["ReqIF.Text"]) == (
            "Every ticket reaches the team that can solve it.\nWrongly routed tickets are rare."
        )
        assert ids["SYS-2"]["values"]["ReqIF.Name"] == "Mail tickets too"
        assert sorted(r[0] for r in read["relations"]) == ["Parent"] * 3  # StrictDoc's type
        assert all(v != "" for o in read["objects"].values() for v in o["values"].values())
        out = tmp_path / f"sdoc-{name}"
        strictdoc("convert", str(path), str(out))
        converted = next(out.rglob("*.sdoc")).read_text(encoding="utf-8")
        assert "UID: ML-1" in converted and "VALUE: SYS-2" in converted
        strictdoc("export", "--formats", "reqif-sdoc", "--output-dir", str(out / "again"), str(out))


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
HOSTILE = [
    (
        "xxe.reqif",
        HEAD + b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<REQ-IF>&x;</REQ-IF>',
        "xxe.reqif: refused: the file uses a DTD, entities or external references",
    ),
    (
        "laughs.reqif",
        HEAD
        + b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<REQ-IF>&c;</REQ-IF>',
        "laughs.reqif: refused: the file uses a DTD, entities or external references",
    ),
    (
        "cut.reqif",
        HEAD + b"<REQ-IF><CORE-CONTENT>",
        "cut.reqif: line 2, column 22: not well-formed XML (no element found).",
    ),
    (
        "latin1.reqif",
        HEAD + "<REQ-IF><THE-HEADER>déjà</THE-HEADER></REQ-IF>".encode("latin-1"),
        "latin1.reqif: line 2: byte 60 (0xe9) is not UTF-8, though the file declares UTF-8.",
    ),
]


@pytest.mark.parametrize(("name", "data", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_and_write_nothing(
    client: Client, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as refused:
        client.requirements.import_file(path, project=PROJECT)
    assert str(refused.value).startswith(message)
    assert (
        client.requirements.list(PROJECT) == [] and client.artifacts.list(kind="requirements") == []
    )


def test_hostile_archives_are_refused_and_write_nothing(client: Client, tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.reqifz", {"a.reqif": b"<REQ-IF>" + b" " * (30 << 20)})
    two = _zip(tmp_path / "two.reqifz", {"a.reqif": b"<REQ-IF/>", "b.reqif": b"<REQ-IF/>"})
    fake = tmp_path / "fake.reqifz"
    fake.write_bytes(b"PK\x03\x04 not really")
    cases = {
        bomb: "bomb.reqifz: a.reqif unpacks to 31,457,288 bytes from ",
        two: "two.reqifz: the archive holds 2 .reqif files; expected one.",
        fake: "fake.reqifz: not a zip archive (File is not a zip file).",
    }
    for path, message in cases.items():
        with pytest.raises(InvalidInput) as refused:
            client.requirements.import_file(path, project=PROJECT)
        assert str(refused.value).startswith(message), str(refused.value)
    assert client.requirements.list(PROJECT) == []
    assert client.artifacts.list(kind="requirements") == []


def test_a_reimport_that_only_moves_the_structure_keeps_the_new_structure(
    client: Client, strictdoc_export: dict[str, Path], tmp_path: Path
) -> None:
    """A heading renamed in the tool, no requirement changed: the document shows the new
    heading and the audit log says the structure changed. (The same export with its heading
    renamed: StrictDoc gives objects without a UID new random identifiers on every export.)"""
    client.requirements.import_file(strictdoc_export["reqif"], project=PROJECT)
    text = strictdoc_export["reqif"].read_text(encoding="utf-8")
    renamed = text.replace("ML requirements", "Machine-learning requirements")
    assert renamed != text
    (tmp_path / "renamed.reqif").write_text(renamed, encoding="utf-8")
    result = client.requirements.import_file(tmp_path / "renamed.reqif", project=PROJECT)
    assert (result.created, result.changed, result.deleted) == ((), (), ())
    titles = [n.title for n in client.requirements.document(PROJECT) if n.kind == "section"]
    assert titles == ["System requirements", "Machine-learning requirements"]
    with client.workspace.store.read() as tx:
        details = tx.scalar(
            "SELECT details FROM audit_log WHERE action = 'requirements.import' "
            "ORDER BY audit_id DESC LIMIT 1"
        )
    assert '"document": "restructured"' in str(details)
