"""Small things a new user hits on the command line: a mistyped command, `lineage --depth`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.actor import Actor
from core.artifacts.models import NewArtifact
from core.artifacts.service import register
from core.cli import main
from core.store import Workspace


def test_a_mistyped_command_names_the_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lineag", "3"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "loopline: error: Unknown command 'lineag'. Did you mean `loopline lineage`?"
    )


def test_a_mistyped_subcommand_after_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", "/nowhere", "labels", "improt", "x.csv"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "loopline: error: Unknown command 'labels improt'. Did you mean `loopline labels import`?"
    )


def test_a_word_close_to_nothing_gets_the_usual_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["zzzz"])
    assert done.value.code == 2
    assert "invalid choice: 'zzzz' (choose from 'init'" in capsys.readouterr().err


def _chain(root: Path) -> dict[str, int]:
    """source → dataset → label set → model, model also trained on the dataset."""
    ws, actor = Workspace.init(root), Actor("tester", "test")
    source = register(ws, NewArtifact("data_source", "raw"), actor).artifact_id
    dataset = register(
        ws, NewArtifact("dataset", "d", inputs=[("derived_from", source)]), actor
    ).artifact_id
    labels = register(
        ws, NewArtifact("label_set", "d", inputs=[("annotates", dataset)]), actor
    ).artifact_id
    model = register(
        ws,
        NewArtifact("model", "m", inputs=[("labeled_with", labels), ("trained_on", dataset)]),
        actor,
    ).artifact_id
    return {"source": source, "dataset": dataset, "labels": labels, "model": model}


def test_lineage_depth_limits_the_printed_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _chain(tmp_path / "ws")
    workspace = ["--workspace", str(tmp_path / "ws")]
    assert main([*workspace, "lineage", str(ids["model"]), "--depth", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Made from (upstream):",
        f"#{ids['model']} model:m@1",
        f"    trained_on → #{ids['dataset']} dataset:d@1",
        f"    labeled_with → #{ids['labels']} label_set:d@1",
    ]  # what the dataset and the label set were made from is two steps away: not shown
    assert main([*workspace, "lineage", str(ids["model"]), "--depth", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [f"#{ids['model']} model:m@1"]
    assert main([*workspace, "lineage", str(ids["model"])]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6  # whole: source under both paths


def test_lineage_refuses_a_negative_depth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _chain(tmp_path / "ws")
    assert main(["-w", str(tmp_path / "ws"), "lineage", str(ids["model"]), "--depth", "-1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: A lineage depth must be 0 or more, got -1.",
        "hint: give --depth 1 for the direct inputs (or outputs) only",
    ]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_report_files_follow_the_users_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """A report written with --out is the user's file, as `>` would make it (not mkstemp's 0600)."""
    from core.cli.common import write_out

    before = os.umask(umask)
    try:
        write_out("a report\n", str(tmp_path / "report.csv"))
    finally:
        os.umask(before)
    assert (tmp_path / "report.csv").read_text() == "a report\n"
    assert (tmp_path / "report.csv").stat().st_mode & 0o777 == mode
