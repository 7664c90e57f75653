"""Round trips back to the requirements tool (issue 16): every derivation parent of every
requirement is kept, shown and exported, and Loopline's own exports carry back what a tool's
import brought: its attributes with their ReqIF types, its identifiers and its document's
structure (specifications, sections, text nodes).

StrictDoc and the `reqif` library write the inputs and read the outputs (tests/tools, their own
venv): a StrictDoc-written file imported and exported again reads in StrictDoc as the same
requirements, parents, attributes and sections; a DOORS-shaped file the `reqif` library wrote
reads back in it with the same objects, typed attributes, links and specifications.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.api import Client, InvalidInput
from core.requirements.reqif_read import unescape
from tests.core.reqif_support import (
    PROJECT,
    attributes,
    by_id,
    new_client,
    run_tool,
    strictdoc,
    strictdoc_export,
)

SDOC = """\
[DOCUMENT]
TITLE: Ticket routing

[[SECTION]]
TITLE: Stakeholder needs

[TEXT]
STATEMENT: >>>
What the help desk's clients ask for.

Both kinds of client count.
<<<

[REQUIREMENT]
UID: STK-1
STATUS: Approved
TITLE: Clients get answers fast
STATEMENT: A client's question is answered by the team that knows.
RATIONALE: Clients wait less — déjà vu ≥ 2 days otherwise.

[REQUIREMENT]
UID: STK-2
STATUS: Draft
TITLE: Mail clients count too
STATEMENT: >>>
Clients who write mail are served like those on the portal.
No second queue.
<<<

[[/SECTION]]

[[SECTION]]
TITLE: System requirements

[REQUIREMENT]
UID: SYS-1
STATUS: Approved
TITLE: Tickets reach the right team
STATEMENT: Every ticket, portal or mail, reaches the team that can solve it.
RELATIONS:
- TYPE: Parent
  VALUE: STK-1
- TYPE: Parent
  VALUE: STK-2

[[SECTION]]
TITLE: Routing details

[REQUIREMENT]
UID: SYS-2
STATUS: Draft
TITLE: Mail tickets are routed
STATEMENT: Tickets sent by mail are routed as well.
RELATIONS:
- TYPE: Parent
  VALUE: SYS-1

[[/SECTION]]

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


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return new_client(tmp_path / "ws")


@pytest.fixture(scope="module")
def sdoc_file(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .sdoc above and StrictDoc's own ReqIF export of it."""
    return strictdoc_export(tmp_path_factory.mktemp("strictdoc"), SDOC)


def test_a_system_requirement_keeps_every_parent(
    client: Client, sdoc_file: dict[str, Path], tmp_path: Path
) -> None:
    """SYS-1 refines two stakeholder requirements: both are kept (its place in the tree under
    the first), shown as what it is derived from, judged through it, and written back."""
    client.requirements.import_file(sdoc_file["reqif"], project=PROJECT)
    found = by_id(client)
    assert {k: r.level for k, r in found.items()} == {
        "STK-1": "system",
        "STK-2": "system",
        "SYS-1": "system",
        "SYS-2": "system",
        "ML-1": "ml",
    }
    assert (found["SYS-1"].parent, found["SYS-1"].parents) == ("STK-1", ("STK-1", "STK-2"))
    assert (found["SYS-2"].parent, found["SYS-2"].parents) == ("SYS-1", ("SYS-1",))
    assert found["ML-1"].derived_from == ("SYS-1", "SYS-2")
    shown = client.requirements.evidence(PROJECT, "SYS-1")
    assert [r.requirement_id for r, _ in shown.upstream] == ["STK-1", "STK-2"]
    assert [r.requirement_id for r, _ in shown.downstream] == ["ML-1"]
    matrix = client.requirements.matrix(PROJECT)
    assert matrix.coverage.system_without_ml == ()  # STK-2 is covered through SYS-1 too
    assert matrix.statuses["STK-2"].via == "ML-1"  # and judged through it
    assert [(row.requirement.requirement_id, row.depth) for row in matrix.rows][:3] == [
        ("STK-1", 0),
        ("SYS-1", 1),
        ("SYS-2", 2),
    ]

    exported = tmp_path / "set.reqif"
    exported.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    read = run_tool("read", str(exported))
    uid = {
        ident: o["values"]["ReqIF.ForeignID"]
        for ident, o in read["objects"].items()
        if "ReqIF.ForeignID" in o["values"]
    }
    links = sorted((uid[src], uid[dst]) for kind, src, dst in read["relations"])
    assert links == [
        ("ML-1", "SYS-1"),
        ("ML-1", "SYS-2"),
        ("SYS-1", "STK-1"),
        ("SYS-1", "STK-2"),
        ("SYS-2", "SYS-1"),
    ]
    entries = client.requirements.export(PROJECT, "yaml")
    assert "derived_from:\n  - STK-1\n  - STK-2" in entries
    for fmt in ("yaml", "csv", "reqif"):
        elsewhere = new_client(tmp_path / f"ws-{fmt}")
        target = tmp_path / f"again.{fmt}"
        target.write_text(client.requirements.export(PROJECT, fmt), encoding="utf-8")
        elsewhere.requirements.import_file(target, project=PROJECT)
        again = by_id(elsewhere)
        assert {k: r.parents for k, r in again.items()} == {
            k: r.parents for k, r in found.items()
        }, fmt
        assert {k: (r.external_id, r.attributes) for k, r in again.items()} == {
            k: (r.external_id, r.attributes) for k, r in found.items()
        }, fmt


def test_a_cycle_through_a_second_parent_is_refused(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "cycle.yaml"
    bad.write_text(
        "project: tickets\nsystem:\n  - {id: SYS-1, title: A, derived_from: [SYS-3, SYS-2]}\n"
        "  - {id: SYS-2, title: B, parent: SYS-3}\n  - {id: SYS-3, title: C}\n"
        "  - {id: SYS-4, title: D, parent: SYS-3, derived_from: [SYS-1]}\n"
        "  - {id: SYS-5, title: E, derived_from: [SYS-4, SYS-6]}\n"
        "  - {id: SYS-6, title: F, parent: SYS-5}\nml: []\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        client.requirements.import_file(bad)
    assert str(refused.value) == (
        "cycle.yaml: the parents of SYS-5 form a cycle: SYS-5 → SYS-6 → SYS-5."
    )
    assert client.requirements.list(PROJECT) == []


def _sdoc(*paths: Path) -> list[dict[str, Any]]:
    return list(run_tool("sdoc", *map(str, paths))["documents"])


def _outline(document: dict[str, Any]) -> list[tuple[int, str, str]]:
    """Sections by title, text nodes by text, requirements by UID (whatever their node type)."""
    out = []
    for node in document["nodes"]:
        fields = node["fields"]
        if node["type"] == "SECTION":
            out.append((node["depth"], "section", fields["TITLE"]))
        elif node["type"] == "TEXT":
            out.append((node["depth"], "text", fields["STATEMENT"]))
        else:
            out.append((node["depth"], "requirement", fields["UID"]))
    return out


def test_a_strictdoc_file_goes_back_to_strictdoc_the_same(
    client: Client, sdoc_file: dict[str, Path], tmp_path: Path
) -> None:
    """StrictDoc's export → import → Loopline's export → StrictDoc's importer: the same
    sections and text, requirements with the same fields (Loopline's own added), the same
    parents; the `reqif` library and the schema accept it; Loopline reads it back unchanged."""
    client.requirements.import_file(sdoc_file["reqif"], project=PROJECT)
    exported = tmp_path / "back.reqif"
    exported.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    assert run_tool("validate", str(exported))["errors"] == []
    read = run_tool("read", str(exported))
    rationale = next(
        o["values"]["RATIONALE"] for o in read["objects"].values() if "RATIONALE" in o["values"]
    )
    assert unescape(rationale) == "Clients wait less — déjà vu ≥ 2 days otherwise."
    assert rationale.isascii()  # escaped as StrictDoc escapes (and decodes) every string

    strictdoc("convert", str(exported), str(tmp_path / "sdoc"))
    [original] = _sdoc(sdoc_file["sdoc"])
    [back] = _sdoc(*sorted((tmp_path / "sdoc").rglob("*.sdoc")))
    assert back["title"] == original["title"] == "Ticket routing"
    assert _outline(back) == _outline(original)
    before = {n["fields"]["UID"]: n for n in original["nodes"] if "UID" in n["fields"]}
    after = {n["fields"]["UID"]: n for n in back["nodes"] if "UID" in n["fields"]}
    assert set(after) == set(before) == {"STK-1", "STK-2", "SYS-1", "SYS-2", "ML-1"}
    for uid, node in before.items():
        assert after[uid]["parents"] == node["parents"], uid
        kept = {k: v for k, v in after[uid]["fields"].items() if k in node["fields"]}
        assert kept == node["fields"], uid
    assert (
        after["STK-1"]["fields"]["RATIONALE"] == "Clients wait less — déjà vu ≥ 2 days otherwise."
    )
    assert after["STK-2"]["fields"]["STATEMENT"] == (
        "Clients who write mail are served like those on the portal.\nNo second queue."
    )

    same = client.requirements.import_file(exported, project=PROJECT)
    assert same.set_version is None  # read back as it went out: nothing changed
    elsewhere = new_client(tmp_path / "elsewhere")
    elsewhere.requirements.import_file(exported, project=PROJECT)
    theirs, ours = by_id(elsewhere), by_id(client)
    assert {k: r.content() for k, r in theirs.items()} == {k: r.content() for k, r in ours.items()}
    shape = [
        (n.depth, n.kind, n.title, n.text, n.requirement_id, n.specification, n.node_id)
        for n in client.requirements.document(PROJECT)
    ]
    assert [
        (n.depth, n.kind, n.title, n.text, n.requirement_id, n.specification, n.node_id)
        for n in elsewhere.requirements.document(PROJECT)
    ] == shape


def test_a_doors_file_goes_back_with_its_typed_attributes_and_specifications(
    client: Client, tmp_path: Path
) -> None:
    """The DOORS-shaped file (INTEGER, ENUMERATION, BOOLEAN, DATE, REAL, XHTML; a heading per
    specification) → import → export: the `reqif` library reads the same objects under the same
    identifiers, every attribute with its type and value, the same derivation links and
    specifications; a field changed in Loopline goes back in the tool's attribute."""
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module), json.dumps({"ML-A": {"name": "Précision ≥ 0.9 &amp; more"}}))
    client.requirements.import_file(module, project=PROJECT)
    exported = tmp_path / "back.reqif"
    exported.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    assert run_tool("validate", str(exported))["errors"] == []
    before, after = run_tool("read", str(module)), run_tool("read", str(exported))
    assert after["specifications"] == before["specifications"]
    assert set(after["objects"]) == set(before["objects"])
    for ident, found in before["objects"].items():
        kept = {k: v for k, v in after["objects"][ident]["typed"].items() if k in found["typed"]}
        assert kept == found["typed"], ident
    assert after["objects"]["ML-A"]["typed"]["Status"] == ["ENUMERATION", ["Approved"]]
    assert after["objects"]["ML-A"]["typed"]["ReqIF.Name"] == ["STRING", "Précision ≥ 0.9 & more"]
    derived = sorted(r[1:] for r in before["relations"] if r[0] == "derived from")
    assert sorted(r[1:] for r in after["relations"] if r[0] == "derived from") == derived

    client.requirements.edit(
        PROJECT,
        "MLR-201",
        {"title": "Precision of the OOO class", "metric": "accuracy", "threshold": 0.8},
    )
    client.requirements.edit(PROJECT, "STK-101", {"statement": "Replies are recognised.\n\nAll."})
    exported.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    changed = run_tool("read", str(exported))["objects"]
    assert changed["ML-A"]["typed"]["ReqIF.Name"] == ["STRING", "Precision of the OOO class"]
    assert changed["ML-A"]["typed"]["Loopline.Metric"] == ["STRING", "accuracy"]
    assert changed["SR-A"]["typed"]["ReqIF.Text"] == ["XHTML", "Replies are recognised.\nAll."]
    assert changed["SR-A"]["typed"]["Due Date"] == ["DATE", "2026-03-01T00:00:00Z"]
    again = client.requirements.import_file(exported, project=PROJECT)
    assert set(again.changed) == {"MLR-201", "STK-101"} and again.created == ()
    # the tool's attributes now say what Loopline changed; the fields are as they were
    assert set(client.requirements.versions(PROJECT, "MLR-201")[0].changes) == {"attributes"}
    assert by_id(client)["STK-101"].statement == "Replies are recognised.\n\nAll."


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_yaml_and_csv_carry_the_tools_attributes_and_identifiers(
    client: Client, tmp_path: Path, fmt: str
) -> None:
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module))
    client.requirements.import_file(module, project=PROJECT)
    target = tmp_path / f"set.{fmt}"
    target.write_text(client.requirements.export(PROJECT, fmt), encoding="utf-8")
    elsewhere = new_client(tmp_path / "elsewhere")
    elsewhere.requirements.import_file(target, project=PROJECT)
    theirs, ours = by_id(elsewhere), by_id(client)
    assert {k: r.content() for k, r in theirs.items()} == {k: r.content() for k, r in ours.items()}
    assert attributes(theirs["MLR-201"])["Error Budget"] == ("REAL", 0.25)
    assert attributes(theirs["STK-101"])["Safety Relevant"] == ("BOOLEAN", True)
    assert theirs["MLR-201"].external_id == "ML-A"


BAD_ATTRIBUTES = [
    (
        "{Status: {type: ENUM, value: [Approved]}}",
        "set.yaml: system[0] (SYS-1).attributes.Status.type: Unknown type 'ENUM'. Expected one "
        "of: BOOLEAN, DATE, ENUMERATION, INTEGER, REAL, STRING, XHTML.",
    ),
    (
        "{Absolute Number: {type: INTEGER, value: '12'}}",
        "set.yaml: system[0] (SYS-1).attributes.Absolute Number.value: expected INTEGER (int), "
        "got '12'.",
    ),
    (
        "{Status: Approved}",
        "set.yaml: system[0] (SYS-1).attributes.Status: expected {type: ..., value: ...}, got "
        "'Approved'.",
    ),
]


@pytest.mark.parametrize(("given", "message"), BAD_ATTRIBUTES)
def test_attributes_of_the_wrong_shape_are_refused(
    client: Client, tmp_path: Path, given: str, message: str
) -> None:
    bad = tmp_path / "set.yaml"
    bad.write_text(
        f"project: tickets\nsystem:\n  - {{id: SYS-1, title: A, attributes: {given}}}\nml: []\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        client.requirements.import_file(bad)
    assert str(refused.value).startswith(message), str(refused.value)
    assert client.requirements.list(PROJECT) == []


def test_show_prints_every_parent(
    client: Client, sdoc_file: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main

    client.requirements.import_file(sdoc_file["reqif"], project=PROJECT)
    capsys.readouterr()
    code = main(["-w", str(client.workspace.root), "requirements", "show", PROJECT, "SYS-1"])
    out = capsys.readouterr().out
    assert code == 0 and "  part of STK-1; derived from: STK-1, STK-2" in out, out
    main(["-w", str(client.workspace.root), "requirements", "show", PROJECT, "SYS-2"])
    assert "  part of SYS-1\n" in capsys.readouterr().out


def test_refinements_other_relations_and_object_types_go_back_to_the_tool(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DOORS-shaped file with an ML requirement refining another (derived from it), relations
    that are not derivations ("see also", "conflicts with") and three object types → import →
    export → the `reqif` library: every relation under its own type between the same objects,
    the refinement nested under its parent, each object under its tool's type name; YAML and
    CSV carry the relations and types; reading the export back changes nothing."""
    module = tmp_path / "module.reqif"
    run_tool("doors", str(module), "{}", "refined")
    client.requirements.import_file(module, project=PROJECT)
    found = by_id(client)
    assert found["MLR-202"].derived_from == ("MLR-201",)
    assert found["MLR-202"].relations == ({"type": "conflicts with", "target": "STK-102"},)
    assert found["STK-102"].relations == ({"type": "see also", "target": "STK-101"},)
    assert {k: r.object_type for k, r in found.items()} == {
        "STK-101": "Stakeholder Requirement",
        "STK-102": "Stakeholder Requirement",
        "MLR-201": "ML Requirement",
        "MLR-202": "ML Requirement",
    }
    assert client.requirements.matrix(PROJECT).statuses["MLR-201"].via == "MLR-202"
    related = client.requirements.evidence(PROJECT, "STK-102").related  # both ways
    assert [(kind, way, r.requirement_id) for kind, way, r in related] == [
        ("see also", "to", "STK-101"),
        ("conflicts with", "from", "MLR-202"),
    ]
    from core.cli import main

    capsys.readouterr()
    main(["-w", str(client.workspace.root), "requirements", "show", PROJECT, "MLR-202"])
    shown = capsys.readouterr().out
    assert "  derived from: MLR-201\n" in shown and "  conflicts with: STK-102\n" in shown, shown

    exported = tmp_path / "back.reqif"
    exported.write_text(client.requirements.export(PROJECT, "reqif"), encoding="utf-8")
    assert run_tool("validate", str(exported))["errors"] == []
    before, after = run_tool("read", str(module)), run_tool("read", str(exported))
    assert sorted(after["relations"]) == sorted(before["relations"])
    assert after["specifications"] == before["specifications"]
    requirements = {"SR-A", "SR-B", "ML-A", "ML-B"}  # (headings still go back as SECTION)
    assert {i: after["objects"][i]["type"] for i in requirements} == {
        i: before["objects"][i]["type"] for i in requirements
    }
    again = client.requirements.import_file(exported, project=PROJECT)
    assert again.set_version is None, again.summary
    for fmt in ("yaml", "csv"):
        elsewhere = new_client(tmp_path / f"ws-{fmt}")
        target = tmp_path / f"set.{fmt}"
        target.write_text(client.requirements.export(PROJECT, fmt), encoding="utf-8")
        elsewhere.requirements.import_file(target, project=PROJECT)
        assert {k: r.content() for k, r in by_id(elsewhere).items()} == {
            k: r.content() for k, r in found.items()
        }, fmt


def test_relations_of_the_wrong_shape_are_refused(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "set.yaml"
    bad.write_text(
        "project: tickets\nsystem:\n  - {id: SYS-1, title: A, relations: [{type: see also}]}\n"
        "ml: []\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        client.requirements.import_file(bad)
    assert str(refused.value) == (
        "set.yaml: system[0] (SYS-1).relations[0]: expected {type: <relation type>, target: "
        "<requirement id>}, got {'type': 'see also'}."
    )
    assert client.requirements.list(PROJECT) == []
