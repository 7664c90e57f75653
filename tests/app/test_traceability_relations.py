"""Traceability page, the Evidence tab (issue 16): a requirement's relations from the
requirements tool that are not derivations ("see also", "conflicts with") show both ways, with
the relation type, its direction and the other requirement."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.traceability_support import imported_doors, open_tab


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (no accounts) whose tickets project imported a DOORS-shaped export with an
    ML requirement refining another, "see also" and "conflicts with" relations."""
    return imported_doors(tmp_path, monkeypatch, "{}", "refined")


def _related(at: AppTest, requirement: str) -> list[tuple[str, str, str]]:
    at.selectbox(key="traceability.requirement").set_value(requirement).run()
    assert not at.exception, at.exception
    tables = [t.value for t in at.dataframe if "relation" in t.value.columns]
    return [tuple(row) for row in tables[0].itertuples(index=False)] if tables else []


def test_the_evidence_tab_shows_other_relations_both_ways(imported: Path) -> None:
    at = open_tab("Evidence")
    assert _related(at, "STK-102") == [
        ("see also", "STK-102 → STK-101", "STK-101 · Replies are sorted"),
        ("conflicts with", "MLR-202 → STK-102", "MLR-202 · Precision on German replies"),
    ]
    assert "**Other relations**" in [m.value for m in at.markdown]
    assert _related(at, "MLR-202") == [
        ("conflicts with", "MLR-202 → STK-102", "STK-102 · Sequences resume on time"),
    ]
    assert _related(at, "MLR-201") == []  # only derivations: no table
    assert "**Other relations**" not in [m.value for m in at.markdown]
