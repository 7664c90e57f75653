"""The client of Loopline's public API: a workspace location and the user acting on it.

Use cases are grouped by area (``client.projects``, ``client.data``, ``client.labeling``, …).
Every method takes plain arguments (text, numbers, paths, datetimes, small dataclasses) and
returns core dataclasses (or a DataFrame, sent as JSON records by a remote transport), so that an
HTTP server can expose each method one to one and a remote client can implement the same
interface.

Who is checked: a change is made as the client's ``actor`` (core checks its role, as for the CLI);
the reads of accounts (users, tokens, the audit log) are checked against the client's ``actor``
too; other reads are checked where core checks them today, against the session user
(``in_session``: the app sets it around each page, a server sets it per request), and are
unchecked without one (a trusted in-process caller, like the CLI).

The areas are listed once, in ``AREAS``; each is imported when a client first uses it, so a
process pays only for the areas it calls (``loopline users whoami`` never loads pandas).

Besides the areas, the client creates the workspace (``init``) or the demo (``build_demo``);
``serving.serve`` runs the prediction service in the calling process until it is stopped.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, overload

from core.accounts.access import authorize
from core.accounts.audit import record
from core.actor import Actor
from core.api.area import Area, Progress
from core.artifacts.models import VerifyReport
from core.artifacts.verify import verify_workspace
from core.errors import InvalidInput
from core.store import Workspace, resolve_path
from core.store.backup import Backup, Restored, read_backup, restore_backup, take_backup

if TYPE_CHECKING:  # at run time each area is imported on first use (AreaSlot)
    from core.api.accounts import Accounts
    from core.api.artifacts import Artifacts
    from core.api.automation import Automation
    from core.api.behave import Behave
    from core.api.builds import Builds
    from core.api.data import Data
    from core.api.labeling import Labeling
    from core.api.models import Models
    from core.api.monitoring import Monitoring
    from core.api.projects import Projects
    from core.api.requirements import Requirements
    from core.api.runs import Runs
    from core.api.serving import Serving

# The client's areas, by attribute name: the module and class of each. The one list of them:
# Client and core.remote.RemoteClient declare a slot for each, and the HTTP server serves the
# methods of each. An area is imported when a client first uses it, so a command pays only for
# the areas it calls (importing them all costs most of a second: pandas, pydantic, …).
AREAS: dict[str, tuple[str, str]] = {
    "projects": ("core.api.projects", "Projects"),
    "artifacts": ("core.api.artifacts", "Artifacts"),
    "data": ("core.api.data", "Data"),
    "labeling": ("core.api.labeling", "Labeling"),
    "runs": ("core.api.runs", "Runs"),
    "builds": ("core.api.builds", "Builds"),
    "models": ("core.api.models", "Models"),
    "requirements": ("core.api.requirements", "Requirements"),
    "monitoring": ("core.api.monitoring", "Monitoring"),
    "accounts": ("core.api.accounts", "Accounts"),
    "serving": ("core.api.serving", "Serving"),
    "automation": ("core.api.automation", "Automation"),
    "behave": ("core.api.behave", "Behave"),
}


def area_type(name: str) -> type[Area]:
    """The class of the area ``name`` (its module imported now, if it was not yet)."""
    module, cls = AREAS[name]
    found = getattr(importlib.import_module(module), cls)
    if not (isinstance(found, type) and issubclass(found, Area)):
        raise TypeError(f"AREAS[{name!r}]: {module}.{cls} is not an Area")
    return found


def area_types() -> dict[str, type[Area]]:
    """Every area's class by attribute name, in ``AREAS`` order (imports them all)."""
    return {name: area_type(name) for name in AREAS}


A = TypeVar("A")


class MakesAreas(Protocol):
    """A client with area slots: it makes the area ``name`` when the slot is first read."""

    def _make_area(self, name: str) -> Any: ...


class AreaSlot(Generic[A]):
    """A client's area, made by the client on first access and then kept on the instance (a
    non-data descriptor: the instance's own attribute wins from the second access on)."""

    name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if name not in AREAS:
            raise TypeError(f"{owner.__name__}.{name}: no area {name!r} in core.api.client.AREAS")
        self.name = name

    @overload
    def __get__(self, client: None, owner: type | None = None) -> AreaSlot[A]: ...
    @overload
    def __get__(self, client: MakesAreas, owner: type | None = None) -> A: ...
    def __get__(self, client: MakesAreas | None, owner: type | None = None) -> AreaSlot[A] | A:
        if client is None:
            return self
        made = cast("A", client._make_area(self.name))
        vars(client)[self.name] = made
        return made


class Areas:
    """The areas of a client, one slot per entry of AREAS, each made on first use by the
    client's ``_make_area`` (Client here, core.remote.RemoteClient over HTTP)."""

    projects: AreaSlot[Projects] = AreaSlot()
    artifacts: AreaSlot[Artifacts] = AreaSlot()
    data: AreaSlot[Data] = AreaSlot()
    labeling: AreaSlot[Labeling] = AreaSlot()
    runs: AreaSlot[Runs] = AreaSlot()
    builds: AreaSlot[Builds] = AreaSlot()
    models: AreaSlot[Models] = AreaSlot()
    requirements: AreaSlot[Requirements] = AreaSlot()
    monitoring: AreaSlot[Monitoring] = AreaSlot()
    accounts: AreaSlot[Accounts] = AreaSlot()
    serving: AreaSlot[Serving] = AreaSlot()
    automation: AreaSlot[Automation] = AreaSlot()
    behave: AreaSlot[Behave] = AreaSlot()

    def _make_area(self, name: str) -> Any:
        raise NotImplementedError


_OPEN: dict[Path, Workspace] = {}  # one handle per workspace folder for the whole process
_LOCK = threading.Lock()


def open_workspace(location: str | Path) -> Workspace:
    """The process's handle on the workspace at ``location``, opened on first use (a missing
    workspace raises CoreError and is not remembered)."""
    root = resolve_path(location)
    with _LOCK:
        found = _OPEN.get(root)
        if found is None:
            found = _OPEN[root] = Workspace.open(root)
    return found


@dataclass(frozen=True)
class BackupReport:
    backup: Backup
    verified: VerifyReport


@dataclass(frozen=True)
class RestoreReport:
    restored: Restored
    verified: VerifyReport


class Client(Areas):
    """Loopline's use cases on the workspace at ``workspace``, acting as ``actor``."""

    def __init__(self, workspace: str | os.PathLike[str] | None, actor: Actor) -> None:
        """``workspace`` None: ``$LOOPLINE_WORKSPACE``, else ``./.loopline``."""
        self.location = resolve_path(workspace)
        self._actor = actor

    def _make_area(self, name: str) -> Area:
        return area_type(name)(self)

    @property
    def actor(self) -> Actor:
        return self._actor

    @property
    def workspace(self) -> Workspace:
        """The workspace handle (opened lazily, shared by every client of the same folder)."""
        return open_workspace(self.location)

    # the workspace itself
    def exists(self) -> bool:
        """Whether a workspace is at ``location``."""
        return Workspace.exists(self.location)

    def init(self) -> Path:
        """Create an empty workspace at ``location`` (an existing one is opened as it is); its
        folder."""
        return Workspace.init(self.location).root

    def build_demo(self, *, force: bool = False, progress: Progress | None = None) -> Path:
        """Build the demo workspace (both sample projects) at ``location``; ``force`` replaces an
        existing workspace. Its folder."""
        from core.demo import build_demo  # the demo imports the web stack: only when asked

        with _LOCK:
            _OPEN.pop(self.location, None)  # a replaced workspace is opened afresh
        return build_demo(self.location, force=force, progress=progress).root

    def backup(self, dest: Path, *, progress: Progress | None = None) -> BackupReport:
        """A consistent copy of the workspace (store, objects, prediction logs) in the new folder
        ``dest``, taken while servers and users go on working, then verified: every object the
        copy names re-hashed, every hash chain walked. Runs where the workspace folder is."""
        ws = self.workspace
        authorize(ws, self._actor, "backup")
        say = progress or (lambda stage, fraction: None)
        backup = take_backup(
            self.location, ws.store.snapshot, dest, lambda stage, f: say(stage, 0.8 * f)
        )
        say("verifying the copy", 0.85)
        report = BackupReport(backup, verify_workspace(Workspace.open(backup.path)))
        with ws.store.transaction() as tx:
            record(
                tx, self._actor, "workspace.backup", target=str(backup.path), details=_facts(report)
            )
        say("done", 1.0)
        return report

    def restore(self, source: Path, *, replace: bool = False) -> RestoreReport:
        """Put the backup at ``source`` in place of the workspace at ``location`` (stop the
        server first). The backup is verified before anything is moved; with ``replace`` an
        existing workspace is moved aside, renamed, never deleted."""
        backup = read_backup(source)
        if self.exists():
            authorize(self.workspace, self._actor, "backup")
        checked = verify_workspace(Workspace.open(backup.path))
        if not checked.ok:
            raise InvalidInput(
                f"The backup {backup.path} does not verify: "
                + "; ".join(
                    f"{p.what}: {p.detail}" for p in checked.problems if p.severity == "error"
                ),
                hint="restore from another backup",
            )
        with _LOCK:
            _OPEN.pop(self.location, None)  # the restored workspace is opened afresh
        restored = restore_backup(backup, self.location, replace=replace)
        report = RestoreReport(restored, verify_workspace(Workspace.open(self.location)))
        with self.workspace.store.transaction() as tx:
            record(
                tx,
                self._actor,
                "workspace.restore",
                target=str(backup.path),
                details={
                    "taken_at": backup.taken_at.isoformat(),
                    "moved_aside": str(restored.moved_aside) if restored.moved_aside else None,
                },
            )
        return report

    def acting_as(self, actor: Actor) -> Client:
        """The same workspace, another acting user."""
        return Client(self.location, actor)

    def __repr__(self) -> str:
        return f"Client({str(self.location)!r}, {self._actor!r})"


def _facts(report: BackupReport) -> dict[str, object]:
    backup = report.backup
    return {
        "objects": backup.objects,
        "bytes": backup.database_bytes + backup.object_bytes,
        "seconds": backup.seconds,
        "verified": report.verified.ok,
    }
