"""A `loopline` process imports only what its command needs: ``import core.api`` loads no pandas,
NumPy or model library (each area of the client is imported on first use), so `loopline --help`
and `loopline users whoami` start in a fraction of the ~1 s that importing every area costs.
The test suite runs hundreds of CLI processes; this keeps them quick.

The areas are listed once, in ``core.api.client.AREAS``: the local client, the remote client and
the HTTP server all take them from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.api import SYSTEM, Client
from core.api.area import Area
from core.api.client import AREAS, AreaSlot, area_types
from core.remote import RemoteClient
from tests.conftest import ROOT

HEAVY = ("pandas", "numpy", "pyarrow", "sklearn", "xgboost", "scipy", "pydantic", "fastapi")
AREA_MODULES = sorted(module for module, _ in AREAS.values())

# Runs `loopline ARGS` in a fresh interpreter, then reports (on stderr) what it had imported.
RUN_CLI = """
import json, sys
import core.cli
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    code = core.cli.main(args)
except SystemExit as done:
    code = done.code
print("IMPORTED " + json.dumps(sorted(m for m in watched if m in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


@dataclass(frozen=True)
class Ran:
    """A `loopline` process: how it ended, and the heavy libraries and API areas it imported."""

    done: subprocess.CompletedProcess[str]
    heavy: list[str]
    areas: list[str]


def loaded_by(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running ``code``."""
    script = (
        f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def cli(workspace: Path, *args: str) -> Ran:
    """`loopline ARGS` on ``workspace`` (never a server, whatever the environment says)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOOPLINE_URL", "LOOPLINE_TOKEN")}
    env["LOOPLINE_WORKSPACE"] = str(workspace)
    watched = json.dumps([*HEAVY, *AREA_MODULES])
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, json.dumps(args), watched],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    line = next(s for s in done.stderr.splitlines() if s.startswith("IMPORTED "))
    imported = json.loads(line.split(" ", 1)[1])
    return Ran(
        done, [m for m in imported if m in HEAVY], [m for m in imported if m in AREA_MODULES]
    )


def test_importing_the_public_api_and_the_remote_client_loads_no_heavy_library() -> None:
    assert loaded_by("import core.api, core.remote, core.cli\ncore.cli.build_parser()") == []


def test_making_a_client_imports_no_area_until_one_is_used() -> None:
    code = (
        "from core.api import SYSTEM, Client\n"
        "from core.remote import RemoteClient\n"
        "client = Client('/nonexistent', SYSTEM)\n"
        "remote = RemoteClient('http://127.0.0.1:9', 'llt.ada.secret')\n"
        f"assert not set({AREA_MODULES!r}) & set(sys.modules), 'an area was imported'\n"
        "client.accounts, remote.accounts"
    )
    assert loaded_by(code) == []


def test_help_imports_no_heavy_library_and_no_area(tmp_path: Path) -> None:
    ran = cli(tmp_path / "none", "--help")
    assert ran.done.returncode == 0, ran.done.stderr
    assert ran.done.stdout.startswith("usage: loopline")
    assert (ran.heavy, ran.areas) == ([], [])


def test_whoami_imports_only_the_accounts_area(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    Client(workspace, SYSTEM).init()
    ran = cli(workspace, "users", "whoami")
    assert ran.done.returncode == 0, ran.done.stderr
    assert (ran.heavy, ran.areas) == ([], ["core.api.accounts"])


@pytest.mark.parametrize(
    ("args", "area"),
    [(["projects"], "core.api.projects"), (["artifacts", "--json"], "core.api.artifacts")],
)
def test_listing_projects_or_artifacts_imports_no_heavy_library(
    tmp_path: Path, args: list[str], area: str
) -> None:
    """An area's heavy types are named through ``OnUse`` and its heavy functions imported by
    the methods that call them: listing pays for neither."""
    workspace = tmp_path / "ws"
    Client(workspace, SYSTEM).init()
    ran = cli(workspace, *args)
    assert ran.done.returncode == 0, ran.done.stderr
    assert (ran.heavy, ran.areas) == ([], [area])


def test_a_type_named_through_on_use_resolves_to_the_real_class_when_asked_for() -> None:
    """The server and the remote client resolve a method's annotations at run time: a module
    behind ``OnUse`` is imported then, not before."""
    code = (
        "import typing\n"
        "from core.api.projects import Projects\n"
        "assert 'core.overview' not in sys.modules\n"
        "hints = typing.get_type_hints(Projects.overview)\n"
        "from core.overview import ProjectOverview\n"
        "assert hints == {'return': list[ProjectOverview]}, hints\n"
    )
    assert "pandas" in loaded_by(code)  # the overview, asked for, brought its imports


def test_a_client_makes_each_area_once_on_first_use(tmp_path: Path) -> None:
    client = Client(tmp_path / "none", SYSTEM)
    assert not set(vars(client)) & set(AREAS)
    runs = client.runs
    assert type(runs).__name__ == "Runs" and client.runs is runs
    assert client.acting_as(SYSTEM).runs is not runs  # another client, its own areas


def test_the_clients_have_one_slot_per_registered_area() -> None:
    """``AREAS`` is the one list: both clients declare exactly its areas, each an Area."""
    for cls in (Client, RemoteClient):
        slots = [n for k in cls.__mro__ for n, v in vars(k).items() if isinstance(v, AreaSlot)]
        assert sorted(slots) == sorted(AREAS), cls.__name__
    found = area_types()
    assert list(found) == list(AREAS)
    assert all(issubclass(t, Area) and t.__name__ == AREAS[n][1] for n, t in found.items())


def test_a_slot_for_an_unregistered_area_is_refused() -> None:
    with pytest.raises(RuntimeError) as refused:

        class Odd:
            nonesuch: AreaSlot[Area] = AreaSlot()

    assert (
        str(refused.value.__cause__) == "Odd.nonesuch: no area 'nonesuch' in core.api.client.AREAS"
    )


def test_the_lazy_names_of_core_api_are_the_real_ones() -> None:
    import core.api as api
    from core.api.monitoring import Monitoring
    from core.data.service import IngestRefused

    assert api.Monitoring is Monitoring
    assert api.IngestRefused is IngestRefused
    with pytest.raises(AttributeError, match="has no attribute 'Nonesuch'"):
        _ = api.Nonesuch
