"""`loopline labels import PROJECT EXPORT.json --config XML --mapping YAML` and back out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run
from tests.core.label_studio_tool import (
    CONFIG,
    MAPPING,
    MULTI_CONFIG,
    MULTI_PROJECT_YAML,
    PROJECT_YAML,
    convert,
    studio_export,
    studio_export_multi,
)


def test_a_label_studio_project_in_and_out(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    (tmp_path / "routing.yaml").write_text(PROJECT_YAML)
    (tmp_path / "label_config.xml").write_text(CONFIG)
    (tmp_path / "names.yaml").write_text(MAPPING)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(studio_export(11, 9, user_objects=True)))
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(tmp_path / "routing.yaml"))
    config = ["--config", str(tmp_path / "label_config.xml")]

    refused = run("-w", ws, "labels", "import", "routing", str(export), *config)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: The Label Studio file has 2 problem(s); nothing")
    assert "--mapping" in refused.stderr

    mapping = ["--mapping", str(tmp_path / "names.yaml")]
    done = run("-w", ws, "labels", "import", "routing", str(export), *config, *mapping)
    assert done.returncode == 0, done.stderr
    assert "into task #1" in done.stdout
    assert run("-w", ws, "freeze", "routing", "--task", "1").returncode == 0
    back = tmp_path / "back.json"
    out = ["--format", "label-studio", "--out", str(back)]
    assert run("-w", ws, "labels", "export", "label_set:routing@1", *out).returncode == 0
    before = convert(tmp_path / "label_config.xml", export)
    assert before["json_min"] == convert(tmp_path / "label_config.xml", back)["json_min"]


def test_controls_not_imported_are_listed(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    (tmp_path / "routing.yaml").write_text(MULTI_PROJECT_YAML)
    (tmp_path / "label_config.xml").write_text(MULTI_CONFIG)
    (tmp_path / "names.yaml").write_text(MAPPING)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(studio_export_multi(2, 5)))
    run("-w", ws, "init")
    run("-w", ws, "project", "create", str(tmp_path / "routing.yaml"))
    done = run(
        "-w", ws, "labels", "import", "routing", str(export),
        "--config", str(tmp_path / "label_config.xml"), "--mapping", str(tmp_path / "names.yaml"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "  control 'subject_tags' is not imported: it marks spans in $subject, not in the "
        "project's span field 'text'",
        "  control 'urgency' is not imported: the class comes from <Choices name='intent'>",
        "  control 'comment' is not imported: Loopline has no counterpart for <TextArea>",
        "  control 'confidence' is not imported: Loopline has no counterpart for <Rating>",
    ]
