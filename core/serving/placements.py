"""The project's candidate mode: how the ``acceptance`` model runs beside production on every
service that follows the project — in the shadow, as a canary answering a share of the keys, or
not at all.

``loopline candidate PROJECT --shadow | --canary PERCENT | --off`` sets it in the workspace (or
through the team server); ``loopline serve`` without ``--shadow``/``--canary`` and every serving
host attached to the server read it at each poll of the aliases, so one command on the hub starts
or stops a canary on every host. The candidate itself stays the ``acceptance`` alias: a canary
rolled back (acceptance moved back to production's model) or promoted (production moved to it)
leaves nothing beside production, whatever the mode says.

The mode is a small file beside the promotion policy, ``serving/<project>.json`` in the
workspace, so a poll never opens the database. It is written whole under a temporary name and
renamed inside the transaction that writes its audit row (``candidate.mode``, the ``promote``
permission): a refused or failed change leaves the previous mode in place.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.accounts.audit import record
from core.actor import Actor
from core.errors import CoreError, InvalidInput, expected_one_of
from core.projects.service import get_project
from core.serving.service import Placement
from core.store import Workspace, utcnow

log = logging.getLogger("loopline.serving")
MODE_DIR = "serving"
OFF = "off"
CHOICES = ("shadow", "canary", OFF)


@dataclass(frozen=True)
class CandidateMode:
    """How the acceptance model runs beside production on the services that follow the
    project: ``shadow``, or ``canary`` answering ``share`` percent of the keys."""

    project: str
    mode: str
    share: float | None
    updated_at: datetime
    updated_by: str

    @property
    def placement(self) -> Placement:
        return Placement(self.mode, self.share or 0.0)

    def text(self) -> str:
        if self.mode == "shadow":
            return "in the shadow (scored on every request, never answering)"
        return f"as a canary answering {self.share:g}% of the keys"

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "mode": self.mode,
            "share": self.share,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


def mode_path(ws: Workspace | Path, project: str) -> Path:
    root = ws.root if isinstance(ws, Workspace) else Path(ws)
    return root / MODE_DIR / f"{project}.json"


def read_mode(ws: Workspace | Path, project: str) -> CandidateMode | None:
    """The project's candidate mode; None when none is set (or it was turned off)."""
    path = mode_path(ws, project)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CoreError(f"Cannot read the candidate mode in {path}: {error.strerror}.") from None
    try:
        found = json.loads(text)
        mode = CandidateMode(
            project=project,
            mode=str(found["mode"]),
            share=None if found.get("share") is None else float(found["share"]),
            updated_at=datetime.fromisoformat(str(found["updated_at"])),
            updated_by=str(found["updated_by"]),
        )
        Placement(mode.mode, mode.share or 0.0)  # a mode no service could run is refused
    except (ValueError, KeyError, TypeError, InvalidInput) as error:
        raise CoreError(
            f"The candidate mode in {path} cannot be read ({type(error).__name__}: {error}).",
            hint=f"set it again: `loopline candidate {project} --shadow | --canary PERCENT | --off`",
        ) from None
    return mode


def set_mode(
    ws: Workspace, project: str, actor: Actor, mode: str, share: float | None = None
) -> CandidateMode | None:
    """Run the acceptance model ``mode`` (``shadow``, ``canary`` with ``share`` percent, or
    ``off``) on every service that follows the project; audited as ``candidate.mode``."""
    checked = _checked(mode, share)
    get_project(ws, project)  # an unknown project says so
    previous = read_or_none(ws, project)  # a damaged file is replaced
    new = (
        None
        if checked is None
        else CandidateMode(project, checked.mode, _share(checked), utcnow(), actor.name)
    )
    path = mode_path(ws, project)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    moved = False
    try:
        if new is not None:
            _write(temporary, new)
        with ws.store.transaction() as tx:
            record(
                tx,
                actor,
                "candidate.mode",
                project=project,
                target=f"candidate of {project}",
                details={
                    "mode": new.mode if new else OFF,
                    "share": new.share if new else None,
                    "previous": _said(previous),
                },
            )
            moved = True  # the last step before the commit: the mode changes with its audit row
            if new is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        if moved:  # the commit failed after the file changed: the previous mode again
            _restore(path, previous)
        raise
    return new


def read_or_none(ws: Workspace, project: str) -> CandidateMode | None:
    """The mode, or None when none is set or its file cannot be read (said in the log)."""
    try:
        return read_mode(ws, project)
    except CoreError as error:
        log.warning("%s: no candidate runs: %s", project, error.message)
        return None


def _checked(mode: str, share: float | None) -> Placement | None:
    if mode not in CHOICES:
        raise InvalidInput(expected_one_of("candidate mode", mode, CHOICES))
    if mode == "canary":
        if share is None:
            raise InvalidInput(
                "A canary needs the share of keys it answers.",
                hint="e.g. `loopline candidate PROJECT --canary 10` answers one key in ten",
            )
        return Placement("canary", float(share))
    if share is not None:
        raise InvalidInput(
            f"A share is for a canary only; the {mode} mode takes none (got {share:g}).",
            hint="pass --canary PERCENT for a canary",
        )
    return None if mode == OFF else Placement(mode)


def _share(placement: Placement) -> float | None:
    return placement.share if placement.mode == "canary" else None


def _said(mode: CandidateMode | None) -> str:
    if mode is None:
        return OFF
    return mode.mode if mode.mode == "shadow" else f"canary {mode.share:g}%"


def _restore(path: Path, previous: CandidateMode | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    _write(temporary, previous)
    os.replace(temporary, path)


def _write(target: Path, mode: CandidateMode) -> None:
    with open(target, "w", encoding="utf-8") as out:
        json.dump(mode.as_dict(), out)
        out.flush()
        os.fsync(out.fileno())
