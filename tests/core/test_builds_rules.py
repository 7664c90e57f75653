"""Rules around builds on the small tickets project: one running build of a project at a time,
requirements without a check in a gate, the gate's verdicts with confidence, and a build's
promotion through the acceptance policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.api import Actor, Client, CoreError
from core.builds.owner import BuildOwner
from core.builds.service import open_build
from core.store import Workspace
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
LENIENT = "checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n"


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder)
    return folder / "ws"


def _client(labeled: Path, tmp_path: Path, gate: str = LENIENT) -> Client:
    shutil.copytree(labeled, tmp_path / "ws")
    gates = tmp_path / "ws" / "gates"
    gates.mkdir()
    (gates / f"{PROJECT}.yaml").write_text(gate, encoding="utf-8")
    return Client(tmp_path / "ws", ADMIN)


def _running(root: Path, owners: list[BuildOwner]) -> int:
    """A build of the project left running, its lock held by ``owners``' last entry."""

    def hold(build_id: int) -> str:
        owners.append(BuildOwner.take(root, build_id))
        return owners[-1].path.name

    attempt = open_build(Workspace.open(root), PROJECT, ADMIN, "test", hold, lambda _: None)
    return attempt.number


def test_a_second_build_is_refused_while_one_runs_with_a_live_owner(
    labeled: Path, tmp_path: Path
) -> None:
    client = _client(labeled, tmp_path)
    owners: list[BuildOwner] = []
    number = _running(tmp_path / "ws", owners)
    with pytest.raises(CoreError) as refused:
        client.builds.run(PROJECT)
    assert str(refused.value).startswith(
        f"Build #{number} of 'tickets' is still running (started by admin at "
    )
    assert str(refused.value).endswith("UTC): one build of a project runs at a time.")
    assert (
        refused.value.hint
        == "wait for it to end (`loopline builds tickets` shows it), then build again"
    )
    assert [b.status for b in client.builds.list(PROJECT)] == ["running"]  # nothing written
    owners[0].release()  # its process is gone: the reaper closes it, the next build runs
    build = client.builds.run(PROJECT)
    assert (build.status, build.label) == ("successful", "#2")
    assert [b.status for b in client.builds.list(PROJECT)] == ["successful", "aborted"]


def _unchecked_requirement(client: Client, tmp_path: Path) -> None:
    """ML-1 imported from a requirements tool without a metric: "no check yet"."""
    from tests.core.test_requirements_interchange import DOORS

    lines = [
        line.replace('THE-VALUE="accuracy"', 'THE-VALUE="model team"').replace(
            "a-metric<", "a-who<"
        )
        for line in DOORS.decode().splitlines()
        if "a-thr</ATTRIBUTE" not in line
    ]
    export = tmp_path / "module.reqif"
    export.write_text("\n".join(lines), encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("level_attribute: Created By\nlevels: {model team: ml}\n", encoding="utf-8")
    client.requirements.import_file(export, project=PROJECT, mapping=mapping)
    found = {r.requirement_id: r for r in client.requirements.list(PROJECT)}
    assert found["ML-1"].level == "ml" and not found["ML-1"].has_check


def test_a_gate_naming_a_requirement_without_a_check_aborts_the_build(
    labeled: Path, tmp_path: Path
) -> None:
    client = _client(labeled, tmp_path, LENIENT + "  - {check: requirements, ids: [ML-1]}\n")
    _unchecked_requirement(client, tmp_path)
    build = client.builds.run(PROJECT)
    assert (build.status, build.reason) == (
        "aborted",
        "The gate names requirement(s) ML-1 of 'tickets', which have no check yet (no metric "
        "and comparator): a build cannot judge them.",
    )
    assert build.hint == (
        "give each a metric, comparator and threshold in the requirements file, or leave it out "
        "of the gate's requirements ids"
    )


def test_a_requirement_without_a_check_is_skipped_by_the_gates_requirements_check(
    labeled: Path, tmp_path: Path
) -> None:
    client = _client(labeled, tmp_path, LENIENT + "  - {check: requirements}\n")
    _unchecked_requirement(client, tmp_path)
    build = client.builds.run(PROJECT)
    assert build.status == "successful", build.reason
    requirement = [c for c in build.checks if c.kind == "requirement"]
    assert [c.message for c in requirement] == ["no ML requirement is checked on builds"]
