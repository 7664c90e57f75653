"""`verify --prune` removes what a cut-off upload to a server left behind (issue 14)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from core.api import Actor, Client


def test_prune_removes_cut_off_and_unused_uploads_but_not_fresh_ones(tmp_path: Path) -> None:
    client = Client(tmp_path / "ws", Actor("tester", "cli"))
    client.init()
    uploads = client.location / "tmp" / "uploads"
    uploads.mkdir(parents=True)
    cut = uploads / "u1.part"
    cut.write_bytes(b"half a file")
    unused = uploads / "u2"
    unused.mkdir()
    (unused / "data.csv").write_text("id\n1\n")
    fresh = uploads / "u3.part"
    fresh.write_bytes(b"arriving now")
    two_days_ago = time.time() - 2 * 86_400
    for path in (cut, unused):
        os.utime(path, (two_days_ago, two_days_ago))

    client.artifacts.prune(dry_run=True)
    assert cut.exists() and unused.exists()  # a dry run removes nothing
    client.artifacts.prune(older_than=timedelta(hours=1))

    assert not cut.exists() and not unused.exists()
    assert fresh.exists()  # an upload under way is left alone
