"""`simulate --truth FILE` with the file's own columns (--truth-id-col, --truth-label-col)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import InvalidInput
from core.projects.service import load_spec_text
from core.serving.replay import truth_labels

SPEC = load_spec_text((Path(__file__).parents[1] / "fixtures" / "tickets.yaml").read_text())


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "verdicts.csv"
    path.write_text("case,verdict,note\nT-1,bug,x\nT-2,sales,y\n", encoding="utf-8")
    return path


def test_a_truth_file_in_its_own_columns(tmp_path: Path) -> None:
    labels = truth_labels(pd.DataFrame(), SPEC, _file(tmp_path), {"id": "case", "label": "verdict"})
    assert labels == {"T-1": "bug", "T-2": "sales"}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            None,
            "verdicts.csv has no column 'ticket_id'; it has: case, verdict, note.",
        ),
        (
            {"id": "case", "label": "outcome"},
            "verdicts.csv has no column 'outcome' (given as the label column); it has: case, "
            "verdict, note.",
        ),
        (
            {"item": "case"},
            "Unknown truth column key 'item'. Expected one of: id, label.",
        ),
    ],
)
def test_a_truth_file_whose_columns_do_not_match(
    tmp_path: Path, columns: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        truth_labels(pd.DataFrame(), SPEC, _file(tmp_path), columns)
    assert str(refused.value) == message
