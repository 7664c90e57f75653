"""The public API on a copy of the demo, part 2 of 3: every method of the builds, behave and
automation areas but a remote build's (tests/core/test_api.py checks that the three parts together
call every method;
three files so that both test workers share the work, each ~1/3 of the time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.api import Actor, Client
from tests.conftest import ROOT
from tests.core.api_calls import Recorder

PART = "builds"  # tests/core/api_calls.py: PARTS


@pytest.fixture
def demo(demo_copy: Path) -> Iterator[Client]:
    yield Client(demo_copy, Actor("admin", "test"))


def test_every_method_of_builds_behave_and_automation(demo: Client) -> None:
    call = Recorder(demo)
    project = "hw-triage"

    # builds (a build trains a model: ooo-replies' trains in seconds, hw-triage's in minutes)
    table = demo.runs.search(project, "status = 'finished'", ["run_id DESC"], 5)
    run_ids = [int(r) for r in table.frame["run_id"].head(2)]
    call("builds.slice_findings", run_ids)
    builds = call("builds.list", project)
    call("builds.get", builds[0].build_id)
    build = call("builds.run", "ooo-replies", trigger="api test")
    assert build.status in ("successful", "failed")
    assert 'classname="loopline.gate.ooo-replies"' in call("builds.junit_xml", build)
    assert call("builds.get_number", "ooo-replies", build.number).build_id == build.build_id
    suite = ROOT / "sample_data" / project / "behave.yaml"  # tests/core/test_behave*.py
    behaved = call("behave.run", project, suite=suite)  # on production
    assert (behaved.project, len(behaved.tests)) == (project, 7)

    # automation (tests/core/test_scheduler.py, test_notify.py and test_bisect.py have the rules)
    assert call("automation.schedules", project) == []
    hook = call("automation.add_webhook", project, "http://127.0.0.1:9/hook")
    assert [h.webhook_id for h in call("automation.webhooks", project)] == [hook.webhook_id]
    assert call("automation.test_webhook", hook.webhook_id).status == "failed"
    assert call("automation.deliver", retry_base_s=0.1).delivered == 0
    assert call("automation.scheduler_pass").fired == ()
    assert call("automation.deliveries", project)[-1].event == "webhook.test"
    assert not call("automation.remove_webhook", hook.webhook_id).active
    assert call("automation.bisect", "ooo-replies", "accuracy >= 0").first_bad is None

    call.assert_every_method_of(PART)
