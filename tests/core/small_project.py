"""A small labeled project for build tests: the made-up ``tickets`` project (tests/fixtures/
tickets.yaml) with 160 tickets whose words say their team, labeled by one operator and frozen.
Seconds to make, unlike the demo."""

from __future__ import annotations

import random
from pathlib import Path

from core.api import Client

PROJECT = "tickets"
WORDS = {
    "billing": ["invoice", "refund", "charged", "payment", "receipt", "price"],
    "bug": ["crash", "error", "broken", "freezes", "bug", "fails"],
    "sales": ["buy", "quote", "licence", "upgrade", "demo", "discount"],
}
CHANNELS = ("mail", "chat", "phone")


def tickets_csv(path: Path, count: int = 160, seed: int = 7) -> Path:
    """``count`` tickets (ids T-1000…) whose text leans to their team, with some noise."""
    rng = random.Random(seed)
    lines = ["ticket_id,opened_at,channel,text,priority,amount,vip"]
    for i in range(count):
        team = list(WORDS)[i % 3]
        other = list(WORDS)[(i + 1) % 3]
        words = rng.sample(WORDS[team], 3) + rng.sample(WORDS[other], 1 if i % 7 else 3)
        rng.shuffle(words)
        month = 3 + i % 2
        lines.append(
            f"T-{1000 + i},2026-0{month}-{1 + i % 27:02d}T10:00:00Z,{CHANNELS[i % 3]},"
            f"please help {' '.join(words)},{1 + i % 5},{i % 50}.5,{str(i % 2 == 0).lower()}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def label_tickets(client: Client, folder: Path, count: int = 160) -> int:
    """Ingest the tickets into the (created) project, import one operator's labels, freeze them;
    the label set's id."""
    client.data.ingest(PROJECT, tickets_csv(folder / "tickets.csv", count))
    rows = ["item_id,annotator,label"] + [
        f"T-{1000 + i},ops1,{list(WORDS)[i % 3]}" for i in range(count)
    ]
    imported = client.labeling.import_labels(
        PROJECT, ("\n".join(rows) + "\n").encode(), "labels.csv", task_name="Operator labels"
    )
    return client.labeling.freeze(PROJECT, [imported.task_id]).artifact.artifact_id
