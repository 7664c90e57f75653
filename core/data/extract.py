"""Extraction code: the entry point that turns a data source into rows, and its code reference.

A dataset records the code that extracted it (git commit, dirty flag, entry point, the module's
hash), so `loopline reproduce` can run the same extraction again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import __version__
from core.artifacts.models import NewArtifact
from core.artifacts.service import canonical_json
from core.data.formats import read_table
from core.data.validate import Validation, validate_table
from core.errors import InvalidInput
from core.projects.spec import ProjectSpec

Extractor = Callable[..., Validation]


def extract_table(
    path: Path, spec: ProjectSpec, *, fmt: str, name: str, encoding: str = "utf-8"
) -> Validation:
    """The built-in extraction: read the file and check it against the project's schema."""
    raw = read_table(path, fmt, name=name, encoding=encoding)
    return validate_table(raw, spec, row_offset=2 if fmt == "csv" else 1)


def load_entry_point(entry_point: str) -> Extractor:
    module_name, _, attribute = entry_point.partition(":")
    if not module_name or not attribute:
        raise InvalidInput(f"Extractor {entry_point!r} is not of the form 'module:function'.")
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"Extractor {entry_point!r} cannot be loaded ({exc}).",
            hint="install the package that provides it, or fix `extractor:` in the project file",
        ) from exc
    return function  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=64)
def _git(directory: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", directory, *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_info(function: Any, entry_point: str) -> dict[str, Any]:
    """Git commit and dirty flag of the repository holding the function, plus its module's hash."""
    source = Path(inspect.getfile(function)).resolve()
    directory = str(source.parent)
    commit = _git(directory, "rev-parse", "HEAD")
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {
        "entry_point": entry_point,
        "commit": commit or "unknown",
        "dirty": bool(status) if status is not None else None,
        "module_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "loopline_version": __version__,
    }


def code_artifact(entry_point: str, function: Any | None = None) -> NewArtifact:
    info = code_info(function or load_entry_point(entry_point), entry_point)
    identity = {k: info[k] for k in ("entry_point", "commit", "dirty", "module_sha256")}
    return NewArtifact(
        kind="code",
        name=entry_point.replace(":", ".").replace("/", "."),
        metadata=info,
        content_hash=hashlib.sha256(canonical_json(identity).encode()).hexdigest(),
    )
