"""Behavioural pass rates as requirement evidence, on the small tickets project with real builds:
metric ``behave_pass_rate``, slice ``test = NAME``, read from the build's ``behave_results`` (for
evidence ``production``: the latest build that tested the production model), judged with its
Wilson interval."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.api import Actor, Client, CoreError
from tests.core.small_project import PROJECT, label_tickets

ADMIN = Actor("admin", "test")
SUITE = """\
seed: 3
tests:
  - name: billing words route to billing
    type: mft
    capability: routing
    examples:
      template: {text: "please help {a} {b} {c}"}
      fill: {a: [invoice, refund], b: [payment, receipt], c: [charged, price]}
      count: 12
    expect: {label: billing}
  - name: a refund that mentions an error is billing
    type: mft
    capability: routing
    examples:
      template: {text: "please help refund {a} {b} {c}"}
      fill: {a: [crash, error], b: [broken, fails], c: [bug, freezes]}
      count: 10
    expect: {label: billing}
"""
GATE = (
    "checks:\n  - {check: min_metric, metric: accuracy, threshold: 0.5}\n"
    "  - {check: min_pass_rate, threshold: 0.0}\n"
)
REQUIREMENTS = """\
project: tickets
system:
  - {id: SYS-1, title: Tickets reach the right team, statement: Tickets reach their team.}
ml:
  - id: ML-1
    title: Billing words route to billing
    statement: The behavioural test of billing words passes.
    derived_from: [SYS-1]
    metric: behave_pass_rate
    slice: "test = billing words route to billing"
    threshold: 0.7
    min_n: 10
    evidence: {evidence}
  - id: ML-2
    title: Refunds with error words are billing
    statement: The behavioural test of refunds passes.
    derived_from: [SYS-1]
    metric: behave_pass_rate
    slice: "test = a refund that mentions an error is billing"
    threshold: 0.9
    min_n: 10
    evidence: {evidence}
"""


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("req-behave")
    client = Client(folder / "ws", ADMIN)
    client.init()
    client.projects.create(Path(__file__).parents[1] / "fixtures" / "tickets.yaml")
    label_tickets(client, folder)
    return folder / "ws"


def _client(labeled: Path, tmp_path: Path, evidence: str, suite: str = SUITE) -> Client:
    shutil.copytree(labeled, tmp_path / "ws")
    gates = tmp_path / "ws" / "gates"
    gates.mkdir()
    (gates / f"{PROJECT}.yaml").write_text(GATE, encoding="utf-8")
    (gates / f"{PROJECT}.behave.yaml").write_text(suite, encoding="utf-8")
    client = Client(tmp_path / "ws", ADMIN)
    file = tmp_path / "requirements.yaml"
    file.write_text(REQUIREMENTS.replace("{evidence}", evidence), encoding="utf-8")
    client.requirements.import_file(file)
    return client


def test_a_builds_pass_rates_are_the_evidence(labeled: Path, tmp_path: Path) -> None:
    client = _client(labeled, tmp_path, "build")
    build = client.builds.run(PROJECT)
    client.requirements.recompute(PROJECT, cause="test")
    met = client.requirements.evidence(PROJECT, "ML-1").status
    assert met is not None and (met.status, met.source, met.value, met.n) == (
        "met",
        "build",
        1.0,
        12,
    )
    assert met.interval_method == "wilson" and met.lower == pytest.approx(0.757, abs=1e-3)
    assert met.build_id == build.build_id and met.evidence_ref == "build #1"
    weak = client.requirements.evidence(PROJECT, "ML-2").status
    assert weak is not None and (weak.status, weak.value, weak.n) == ("violated", 0.3, 10)
    assert weak.slice == "test = a refund that mentions an error is billing"
    assert weak.upper == pytest.approx(0.603, abs=1e-3)  # wholly below 0.9
    system = client.requirements.evidence(PROJECT, "SYS-1").status
    assert system is not None and (system.status, system.via) == ("violated", "ML-2")


def test_production_reads_the_build_that_tested_the_production_model(
    labeled: Path, tmp_path: Path
) -> None:
    # the promotion policy lets in only a model whose behavioural tests all passed
    passing = SUITE[: SUITE.index("  - name: a refund")]
    client = _client(labeled, tmp_path, "production", passing)
    first = client.builds.run(PROJECT, promote=True)
    assert first.status == "successful", first.reason
    client.builds.run(PROJECT)  # a later build of another model, not promoted
    client.requirements.recompute(PROJECT, cause="test")
    status = client.requirements.evidence(PROJECT, "ML-1").status
    assert status is not None and (status.status, status.source, status.value) == (
        "met",
        "production",
        1.0,
    )
    assert status.model_id == first.model_id


def test_the_slice_names_a_test_and_other_slices_are_refused(labeled: Path, tmp_path: Path) -> None:
    client = Client(labeled, ADMIN)
    file = tmp_path / "requirements.yaml"
    text = REQUIREMENTS.replace("{evidence}", "build").replace(
        '"test = billing words route to billing"', '"channel = mail"'
    )
    file.write_text(text, encoding="utf-8")
    with pytest.raises(CoreError) as caught:
        client.requirements.import_file(file)
    assert caught.value.message == (
        "requirements.yaml: ML-1: Unknown slice 'channel'. Expected one of: test."
    )
    file.write_text(REQUIREMENTS.replace("{evidence}", "monitoring"), encoding="utf-8")
    with pytest.raises(CoreError) as caught:
        client.requirements.import_file(file)
    assert caught.value.message == (
        "requirements.yaml: ml[0] (ML-1).evidence: behave_pass_rate is recorded by build, "
        "production, not by "
        "monitoring."
    )
