"""What the ReqIF tests share (test_reqif_tools, test_reqif_roundtrip, test_reqif_schema,
test_reqif_spec_types):
a workspace with the tickets project, StrictDoc and the `reqif` library run in their own venv
(tests/tools/.venv-reqif, built once from tests/tools/requirements-reqif.txt), and reading a
set back by id."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.harness import tool_python
from core.actor import Actor
from core.api import Client
from tests.conftest import ROOT

TOOLS = ROOT / "tests" / "tools"
VENV = TOOLS / ".venv-reqif"
REQUIREMENTS = TOOLS / "requirements-reqif.txt"
ADMIN = Actor("admin", "test")
PROJECT = "tickets"


def new_client(folder: Path) -> Client:
    """A new workspace at ``folder`` with the tickets project, as the admin."""
    api = Client(folder, ADMIN)
    api.init()
    api.projects.create(ROOT / "tests" / "fixtures" / "tickets.yaml")
    return api


def reqif_python() -> Path:
    """StrictDoc's and the reqif library's Python (bench/harness.tool_python builds its venv once)."""
    return tool_python(VENV, REQUIREMENTS)


def _json_of(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(reqif_python()), str(TOOLS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_tool(*args: str) -> dict[str, Any]:
    """tests/tools/reqif_tool.py (a DOORS-shaped file, reading, validating, StrictDoc's reader)."""
    return _json_of("reqif_tool.py", *args)


def schema_tool(*args: str) -> dict[str, Any]:
    """tests/tools/reqif_schema_tool.py (a Polarion-shaped file, every definition read back)."""
    return _json_of("reqif_schema_tool.py", *args)


def spec_tool(*args: str) -> dict[str, Any]:
    """tests/tools/reqif_spec_tool.py (specification types, default values, derivation types)."""
    return _json_of("reqif_spec_tool.py", *args)


def export_valid(client: Client, path: Path, trace: bool = False) -> Path:
    """The project's set exported (``trace``: trace-exported) as ReqIF to ``path``, checked
    against the ReqIF schema."""
    text = (
        client.requirements.trace_export(PROJECT, "reqif")
        if trace
        else client.requirements.export(PROJECT, "reqif")
    )
    path.write_text(text, encoding="utf-8")
    assert run_tool("validate", str(path))["errors"] == []
    return path


def strictdoc(*args: str) -> None:
    done = subprocess.run(
        [str(reqif_python().parent / "strictdoc"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "error:" not in done.stdout, (done.stdout + done.stderr)[-3000:]


def strictdoc_export(folder: Path, sdoc: str, fmt: str = "reqif") -> dict[str, Path]:
    """``sdoc`` written as docs/routing.sdoc under ``folder`` and exported by StrictDoc as
    ``fmt`` (reqif or reqifz): the .sdoc file and the export."""
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    source = folder / "docs" / "routing.sdoc"
    source.write_text(sdoc, encoding="utf-8")
    out = folder / f"{fmt}-sdoc"
    strictdoc("export", "--formats", f"{fmt}-sdoc", "--output-dir", str(out), str(folder / "docs"))
    return {"sdoc": source, fmt: next(out.rglob(f"*.{fmt}"))}


def by_id(client: Client) -> dict[str, Any]:
    return {r.requirement_id: r for r in client.requirements.list(PROJECT)}


def attributes(item: Any) -> dict[str, tuple[str, Any]]:
    """A requirement's tool attributes: name → (ReqIF type, value)."""
    return {name: (v["type"], v["value"]) for name, v in (item.attributes or {}).items()}
