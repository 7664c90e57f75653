"""Rules around builds on the small tickets project: one running build of a project at a time,
requirements without a check in a gate, the gate's verdicts with confidence, and a build's
promotion through the acceptance policy."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.api import Actor, Client, CoreError
from core.builds.owner import BuildOwner
from core.builds.service import open_build
from core.store import Workspace
from tests.conftest import shadow_stage_policy
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


def test_build_promote_goes_through_the_promotion_policy(labeled: Path, tmp_path: Path) -> None:
    client = _client(labeled, tmp_path)
    shadow_stage_policy(client.workspace.root, PROJECT)
    first = client.builds.run(PROJECT, promote=True)
    production = client.models.find_alias(PROJECT)
    assert production is not None and production.artifact_id == first.model_id  # the first model
    assert first.log.splitlines()[-1] == "promoted to production (the promotion policy is met)"
    second = client.builds.run(PROJECT, promote=True, params={"C": 0.3})
    assert (second.status, second.registered_model) == ("successful", True)
    production = client.models.find_alias(PROJECT)
    assert production is not None and production.artifact_id == first.model_id  # not moved
    assert second.log.splitlines()[-1] == (
        "not promoted: model:tickets@2 cannot enter production: 1 of 5 conditions unmet — "
        "min_served: 0 of 200 predictions served or shadowed (serve it with `loopline serve "
        "PROJECT --shadow` while in acceptance)"
    )
    history = client.models.promotion_history(PROJECT)
    assert [(h.artifact_id, h.build_id) for h in history] == [(first.model_id, first.build_id)]


MAIL = "channel = mail"  # protected in tickets.yaml


def _spec() -> Any:
    from core.projects.service import load_spec_text

    return load_spec_text((Path(__file__).parents[1] / "fixtures" / "tickets.yaml").read_text())


def _evaluation() -> Any:
    """90 of 100 right overall; the protected mail slice has 2 items, both right."""
    from core.ml.evaluate import Evaluation

    return Evaluation(
        overall={"accuracy": 0.9},
        slices={MAIL: {"accuracy": 1.0}},
        sizes={MAIL: 2},
        confusion=[[45, 5], [5, 45]],
        classes=["a", "b"],
        slice_confusion={MAIL: [[1, 0], [0, 1]]},
    )


OVERALL = "accuracy = 0.900 (n = 100, 95% CI 0.826–0.945) vs ≥ "
THIN = "accuracy on channel = mail = 1.000 (n = 2, 95% CI 0.342–1.000; fewer than the 30 needed to judge) vs ≥ 0.8: inconclusive"


@pytest.mark.parametrize(
    ("check", "passed", "message"),
    [
        ({"threshold": 0.8}, True, OVERALL + "0.8: met"),
        ({"threshold": 0.88}, True, OVERALL + "0.88: inconclusive (passes: not a protected slice)"),
        ({"threshold": 0.88, "inconclusive": "fail"}, False, OVERALL + "0.88: inconclusive (fails the build)"),
        ({"threshold": 0.95}, False, OVERALL + "0.95: violated"),
        ({"threshold": 0.8, "slice": MAIL}, False, THIN + " (fails the build: a protected slice)"),
        ({"threshold": 0.8, "slice": MAIL, "inconclusive": "pass"}, True, THIN + " (passes: inconclusive: pass)"),
    ],
)  # fmt: skip
def test_min_metric_judges_the_interval_as_the_matrix_does(
    check: dict[str, Any], passed: bool, message: str
) -> None:
    """A thin slice that reads inconclusive in the matrix is inconclusive in the gate too, not
    failed (or passed) on its point value; it fails the build on a protected slice by default."""
    from core.builds.gate import parse_gate

    entry = {"check": "min_metric", "metric": "accuracy", **check}
    (gate_check,) = parse_gate({"checks": [entry]}, "g.yaml")
    (result,) = gate_check.run(_evaluation(), None, _spec())
    assert (result.passed, result.message) == (passed, message)


def test_the_requirements_check_judges_each_slice_with_its_interval() -> None:
    from core.builds.gate import MeetsRequirements
    from core.requirements.rules import Rule

    rules = (Rule("ML-1", "accuracy", ">=", 0.88), Rule("ML-2", "accuracy", ">=", 0.5, (MAIL,)))
    results = MeetsRequirements(rules=rules, min_n={"ML-2": 1}).run(_evaluation(), None, _spec())
    assert [(r.passed, r.message) for r in results] == [
        (True, "ML-1: accuracy = 0.900 ≥ 0.880 (n = 100, 95% CI 0.826–0.945): inconclusive (passes: not a protected slice)"),
        (False, "ML-2: accuracy on channel = mail = 1.000 ≥ 0.500 (n = 2, 95% CI 0.342–1.000): inconclusive (fails the build: a protected slice)"),
    ]  # fmt: skip
    strict = MeetsRequirements(rules=rules, min_n={"ML-2": 1}, inconclusive="fail")
    assert [r.passed for r in strict.run(_evaluation(), None, _spec())] == [False, False]
    lenient = MeetsRequirements(rules=rules, min_n={"ML-2": 1}, inconclusive="pass")
    assert [r.passed for r in lenient.run(_evaluation(), None, _spec())] == [True, True]


def test_a_bad_inconclusive_option_is_refused_by_its_place() -> None:
    from core.builds.gate import parse_gate
    from core.errors import InvalidInput

    entry = {"check": "min_metric", "metric": "accuracy", "threshold": 0.8, "inconclusive": "warn"}
    with pytest.raises(InvalidInput) as refused:
        parse_gate({"checks": [entry]}, "g.yaml")
    assert str(refused.value) == (
        "g.yaml: checks[0]: Unknown inconclusive 'warn'. Expected one of: fail, pass, protected."
    )
