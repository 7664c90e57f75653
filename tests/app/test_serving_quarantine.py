"""The Monitoring page's line on quarantined log records (issue 12): nothing while the quarantine
is empty, a warning with the count and the folder once the service set records aside."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.serving.log import quarantine_folder, write_quarantine


def note(root: str) -> None:
    from app.components.monitoring_panels import quarantine_note
    from core.api import SYSTEM, Client

    quarantine_note(Client(root, SYSTEM), "hw-triage")


def test_the_quarantine_is_counted_on_the_monitoring_page(tmp_path: Path) -> None:
    empty = AppTest.from_function(note, args=(str(tmp_path),), default_timeout=60).run()
    assert not empty.exception and not empty.warning
    folder = quarantine_folder(tmp_path, "hw-triage")
    write_quarantine(folder, "predictions", [({"request_id": "r-1"}, "OverflowError: too big")])
    write_quarantine(folder, "feedback", [({"request_id": "r-2"}, "shutdown")])
    shown = AppTest.from_function(note, args=(str(tmp_path),), default_timeout=60).run()
    assert not shown.exception
    (warning,) = shown.warning
    assert warning.value == (
        "2 log records could not be written to the prediction log and were quarantined: the "
        "figures here do not include them. Each is kept with its reason in "
        "`logs/hw-triage/quarantine/`."
    )
