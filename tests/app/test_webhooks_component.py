"""The Builds page's automation section (app/components/webhooks.py): schedules with their last
firing, webhooks, and the delivery log with a warning for deliveries that failed for good."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.api import Actor, Client
from tests.conftest import ROOT

TICKETS = ROOT / "tests" / "fixtures" / "tickets.yaml"


def section(root: str) -> None:
    from app.components.webhooks import automation_section
    from core.api import Actor, Client

    automation_section(Client(root, Actor("admin", "test")), "tickets")


def test_the_section_shows_schedules_webhooks_and_failed_deliveries(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", Actor("admin", "test"))
    client.init()
    client.projects.create(TICKETS)
    empty = AppTest.from_function(section, args=(str(client.location),), default_timeout=60).run()
    assert not empty.exception
    assert [c.value for c in empty.caption][:2] == [
        "No schedules or triggers: add a `retraining` section to the project file and run "
        "`loopline scheduler` (or `loopline server`).",
        "No webhooks: an admin adds one with `loopline webhooks add PROJECT URL`.",
    ]
    (tmp_path / "tickets.yaml").write_text(
        TICKETS.read_text(encoding="utf-8")
        + "retraining:\n  schedules:\n    - {name: nightly, cron: '0 2 * * *'}\n",
        encoding="utf-8",
    )
    client.projects.create(tmp_path / "tickets.yaml", update=True)
    hook = client.automation.add_webhook("tickets", "http://127.0.0.1:9/hook")
    client.automation.test_webhook(hook.webhook_id)  # nobody listens on port 9
    shown = AppTest.from_function(section, args=(str(client.location),), default_timeout=60).run()
    assert not shown.exception
    schedules, hooks, log = (shown.dataframe[i].value for i in range(3))
    assert list(schedules["when"]) == ["cron '0 2 * * *'"]
    assert list(hooks["url"]) == ["http://127.0.0.1:9/hook"]
    assert list(log["event"]) == ["webhook.test"] and list(log["status"]) == ["failed"]
    (warning,) = shown.warning
    assert warning.value.startswith("1 of the last 1 deliveries failed for good (latest: no answer")
