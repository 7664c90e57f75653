"""Label Studio in the tests: exports shaped as Label Studio writes them, and its own converter
(label_studio_sdk.converter) run in a test-only venv.

label-studio-sdk pins numpy below Loopline's, so it lives in ``tests/peers/.venv-label-studio``
(built from ``tests/peers/requirements-label-studio.txt`` by ``bench.harness.tool_python`` with
uv on first use, under a lock so pytest-xdist workers build it once), never in Loopline's
environment.
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import tool_python

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "tests" / "peers"
VENV = PEERS / ".venv-label-studio"
REQUIREMENTS = PEERS / "requirements-label-studio.txt"

# The project the tests import into: ticket routing with product and date spans in the text.
PROJECT_YAML = """
name: routing
title: Ticket routing with spans
kind: text_classification
data:
  id: ticket_id
  columns:
    - {name: ticket_id, type: string, required: true}
    - {name: channel, type: category, values: [mail, chat], required: true}
    - {name: text, type: text, required: true}
  text: [text]
labels:
  classes: [billing, bug, sales]
  spans: {field: text, types: [PRODUCT, DATE]}
split: {method: hash, key: ticket_id, test_fraction: 0.3, seed: 1}
"""

# The Label Studio project's own names: other control names, capitalised values.
CONFIG = """<View>
  <Header value="Route the ticket"/>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="Product" background="#1f77b4"/>
    <Label value="Date" background="#ff7f0e"/>
  </Labels>
  <Choices name="intent" toName="text" choice="single" showInLine="true">
    <Choice value="Billing"/>
    <Choice value="Bug"/>
    <Choice value="Sales"/>
  </Choices>
</View>
"""
MAPPING = """classes: {Billing: billing, Bug: bug, Sales: sales}
span_types: {Product: PRODUCT, Date: DATE}
"""
CLASSES = ("Billing", "Bug", "Sales")
PRODUCTS = ("Loopline Pro", "the invoice portal", "Zebra-7 scanner", "API key", "Grüße-App")
DATES = ("2026-03-01", "1 April", "next Monday", "31.12.2026")
TEMPLATES = (
    "My {p} charged me twice on {d}.",
    "Since {d} the {p} crashes at start.",
    "Do you sell {p} licences for teams? Need it by {d}.",
    "Hi, {p} — refund please (ordered {d}) & thanks <3",
)
USERS = (
    {"id": 1, "email": "ana@example.com", "first_name": "Ana", "last_name": "Lima"},
    {"id": 2, "email": "bo@example.com", "first_name": "Bo", "last_name": ""},
    {"id": 7, "email": "chen@example.com", "first_name": "Chen", "last_name": "Wu"},
)


def _region_id(rng: random.Random) -> str:
    return "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-") for _ in range(10)
    )


def _text(rng: random.Random) -> tuple[str, list[tuple[int, int, str, str]]]:
    product, date = rng.choice(PRODUCTS), rng.choice(DATES)
    template = rng.choice(TEMPLATES)
    text = template.format(p=product, d=date)
    spans = []
    for value, label in ((product, "Product"), (date, "Date")):
        start = text.index(value)
        spans.append((start, start + len(value), value, label))
    return text, spans


def _result(
    rng: random.Random, choice: str, spans: list[tuple[int, int, str, str]]
) -> list[dict[str, Any]]:
    """Results in the order a person makes them: the spans they mark, then the choice."""
    out = [
        {
            "value": {"start": s, "end": e, "text": t, "labels": [label]},
            "id": _region_id(rng),
            "from_name": "ner",
            "to_name": "text",
            "type": "labels",
            "origin": "manual",
        }
        for s, e, t, label in spans
    ]
    out.append(
        {
            "value": {"choices": [choice]},
            "id": _region_id(rng),
            "from_name": "intent",
            "to_name": "text",
            "type": "choices",
            "origin": "manual",
        }
    )
    return out


def studio_export(
    seed: int, tasks: int = 12, *, user_objects: bool = False, id_in_data: bool = True
) -> list[dict[str, Any]]:
    """A Label Studio JSON export ("JSON" in its Export dialog) of a routing project: task ids
    from 101, several annotators per task (some disagreeing on the class or the spans), cancelled
    (skipped) annotations, a ground truth, predictions, and tasks nobody annotated.
    ``user_objects``: ``completed_by`` as the user object older versions write, else the id."""
    rng = random.Random(seed)
    clock = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    out = []
    annotation_id = 5000 + seed
    for number in range(tasks):
        task_id = 101 + number
        text, spans = _text(rng)
        data: dict[str, Any] = {"channel": rng.choice(["mail", "chat"]), "text": text}
        if id_in_data:
            data = {"ticket_id": f"TK-{task_id}", **data}
        choice = rng.choice(CLASSES)
        annotations = []
        people = rng.sample(USERS, k=1 if number == 1 else rng.choice([0, 1, 2, 2, 3]))
        people = people if number else []  # the first task: nobody annotated it
        for index, user in enumerate(people):
            clock += timedelta(minutes=rng.randint(1, 50), microseconds=rng.randint(0, 999999))
            cancelled = number == 1 or (index > 0 and rng.random() < 0.15)  # task 102: skipped
            given = choice if rng.random() < 0.75 else rng.choice(CLASSES)
            marked = [s for s in spans if rng.random() < 0.8]
            annotation_id += 1
            annotations.append(
                {
                    "id": annotation_id,
                    "completed_by": dict(user) if user_objects else user["id"],
                    "result": [] if cancelled else _result(rng, given, marked),
                    "was_cancelled": cancelled,
                    "ground_truth": False,
                    "created_at": clock.isoformat().replace("+00:00", "Z"),
                    "updated_at": (clock + timedelta(seconds=3)).isoformat().replace("+00:00", "Z"),
                    "draft_created_at": None,
                    "lead_time": round(rng.uniform(2, 90), 3),
                    "prediction": {},
                    "result_count": 0,
                    "unique_id": f"{seed:04d}-{annotation_id}",
                    "import_id": None,
                    "last_action": None,
                    "bulk_created": False,
                    "task": task_id,
                    "project": 3,
                    "updated_by": user["id"],
                    "parent_prediction": None,
                    "parent_annotation": None,
                    "last_created_by": None,
                }
            )
        kept = [a for a in annotations if not a["was_cancelled"]]
        if len(kept) > 1 and rng.random() < 0.5:
            kept[-1]["ground_truth"] = True
        out.append(
            {
                "id": task_id,
                "annotations": annotations,
                "file_upload": "tickets.json",
                "drafts": [],
                "predictions": [
                    {
                        "id": 900 + number,
                        "model_version": "router-v2",
                        "created_ago": "2 weeks",
                        "result": _result(rng, choice, spans[:1]),
                        "score": round(rng.random(), 4),
                        "cluster": None,
                        "neighbors": None,
                        "mislabeling": 0.0,
                        "created_at": "2026-02-20T08:00:00.000000Z",
                        "updated_at": "2026-02-20T08:00:00.000000Z",
                        "model": None,
                        "model_run": None,
                        "task": task_id,
                        "project": 3,
                    }
                ],
                "data": data,
                "meta": {},
                "created_at": "2026-02-20T07:59:00.000000Z",
                "updated_at": clock.isoformat().replace("+00:00", "Z"),
                "inner_id": number + 1,
                "total_annotations": len(kept),
                "cancelled_annotations": len(annotations) - len(kept),
                "total_predictions": 1,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 3,
                "updated_by": None,
                "comment_authors": [],
            }
        )
    return out


# --- the converter -------------------------------------------------------------------------------


def converter_python() -> Path:
    """label-studio-sdk's Python (bench/harness.tool_python builds its venv once)."""
    return tool_python(VENV, REQUIREMENTS)


def convert(config: Path, export: Path) -> dict[str, Any]:
    """Label Studio's converter on ``export``: its JSON_MIN rows, CSV rows and CONLL text."""
    done = subprocess.run(
        [
            str(converter_python()),
            str(PEERS / "label_studio_convert.py"),
            json.dumps({"config": str(config), "export": str(export)}),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the converter failed:\n{done.stdout}\n{done.stderr}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- a config with several controls --------------------------------------------------------------

# The routing project with the ticket's subject line as a second text column.
MULTI_PROJECT_YAML = PROJECT_YAML.replace(
    "    - {name: text, type: text, required: true}\n",
    "    - {name: subject, type: text, required: true}\n"
    "    - {name: text, type: text, required: true}\n",
)

# Nested views, two objects, controls pointing at either: the class (intent) labels the subject,
# a second <Choices> (urgency, several values at once), spans on the subject too (subject_tags,
# sharing the value "Product" with ner), a free-text comment and a rating.
MULTI_CONFIG = """<View>
  <View style="display: flex">
    <Header value="Subject"/>
    <Text name="subject" value="$subject"/>
    <Labels name="subject_tags" toName="subject">
      <Label value="Urgent"/><Label value="Product"/>
    </Labels>
  </View>
  <View>
    <Text name="text" value="$text"/>
    <Labels name="ner" toName="text">
      <Label value="Product"/><Label value="Date"/>
    </Labels>
  </View>
  <View>
    <Choices name="urgency" toName="text" choice="multiple">
      <Choice value="Low"/><Choice value="High"/><Choice value="Legal"/>
    </Choices>
    <Choices name="intent" toName="subject" choice="single">
      <Choice value="Billing"/><Choice value="Bug"/><Choice value="Sales"/>
    </Choices>
    <TextArea name="comment" toName="text" editable="true"/>
    <Rating name="confidence" toName="text" maxRating="5"/>
  </View>
</View>
"""
SUBJECTS = ("URGENT: {p} problem", "Question about {p}", "{p} - refund", "Re: {p}")


# The same controls on one text object (no subject): Label Studio then offers CoNLL too.
ONE_OBJECT_CONFIG = """<View>
  <View>
    <Text name="text" value="$text"/>
    <Labels name="ner" toName="text">
      <Label value="Product"/><Label value="Date"/>
    </Labels>
  </View>
  <View>
    <Choices name="urgency" toName="text" choice="multiple">
      <Choice value="Low"/><Choice value="High"/><Choice value="Legal"/>
    </Choices>
    <Choices name="intent" toName="text" choice="single">
      <Choice value="Billing"/><Choice value="Bug"/><Choice value="Sales"/>
    </Choices>
    <TextArea name="comment" toName="text" editable="true"/>
    <Rating name="confidence" toName="text" maxRating="5"/>
  </View>
</View>
"""


def studio_export_multi(
    seed: int, tasks: int = 12, *, subject: bool = True
) -> list[dict[str, Any]]:
    """``studio_export`` for ``MULTI_CONFIG``: each task gets a subject; each kept annotation's
    class points at it, and it gets (at random) subject spans, urgency choices, a comment and a
    rating, placed among its results as a person would make them. ``subject=False``: for
    ``ONE_OBJECT_CONFIG`` (no subject, the class on the text)."""
    rng = random.Random(seed * 7919)
    out = studio_export(seed, tasks)
    for task in out:
        product = next((p for p in PRODUCTS if p in task["data"]["text"]), PRODUCTS[0])
        line = rng.choice(SUBJECTS).format(p=product)
        if subject:
            task["data"] = {**task["data"], "subject": line}
        for annotation in task["annotations"]:
            if annotation["was_cancelled"]:
                continue
            for result in annotation["result"]:
                if result["from_name"] == "intent" and subject:
                    result["to_name"] = "subject"
            for extra in _extras(rng, line, product, subject):
                annotation["result"].insert(rng.randint(0, len(annotation["result"])), extra)
    return out


def _extras(
    rng: random.Random, subject: str, product: str, on_subject: bool = True
) -> list[dict[str, Any]]:
    extras: list[dict[str, Any]] = []

    def add(from_name: str, kind: str, value: dict[str, Any], to_name: str = "text") -> None:
        extras.append(
            {
                "value": value,
                "id": _region_id(rng),
                "from_name": from_name,
                "to_name": to_name,
                "type": kind,
                "origin": "manual",
            }
        )

    if rng.random() < 0.6 and on_subject:
        start = subject.index(product)
        add(
            "subject_tags",
            "labels",
            {"start": start, "end": start + len(product), "text": product, "labels": ["Product"]},
            "subject",
        )
    if subject.startswith("URGENT") and rng.random() < 0.8 and on_subject:
        add(
            "subject_tags",
            "labels",
            {"start": 0, "end": 6, "text": "URGENT", "labels": ["Urgent"]},
            "subject",
        )
    if rng.random() < 0.7:
        add(
            "urgency",
            "choices",
            {"choices": rng.sample(["Low", "High", "Legal"], k=rng.choice([1, 2]))},
        )
    if rng.random() < 0.5:
        add(
            "comment",
            "textarea",
            {"text": [rng.choice(["check refund policy", "dup of #88", "Grüße, ops"])]},
        )
    if rng.random() < 0.5:
        add("confidence", "rating", {"rating": rng.randint(1, 5)})
    return extras
