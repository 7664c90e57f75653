"""A project-supplied extractor for the reproduce test: it changes with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

from core.data.extract import extract_table
from core.data.validate import Validation
from core.projects.spec import ProjectSpec


def extract(
    path: Path, spec: ProjectSpec, *, fmt: str, name: str, encoding: str = "utf-8"
) -> Validation:
    checked = extract_table(path, spec, fmt=fmt, name=name, encoding=encoding)
    if os.environ.get("LOOPLINE_TEST_SHOUT") and checked.ok:
        checked.frame["text"] = checked.frame["text"].str.upper()
    return checked
